import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { getConfig, type AppConfig } from "./api";
import { setClock } from "./clock";
import "./styles.css";

function mount(initialConfig?: AppConfig) {
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <App initialConfig={initialConfig} />
    </StrictMode>,
  );
}

// The configuration decides the first view, so it is fetched before the first render rather
// than in an effect after it (index.html preloads it while this script loads): the first
// ranking request then leaves a render and a paint earlier. If it fails, the app asks again
// and shows the error with a retry.
getConfig().then(
  (config) => {
    setClock(config.as_of);
    mount(config);
  },
  () => mount(),
);
