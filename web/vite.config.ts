import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

/** The API server serves the built app under /app/; in dev, API calls go to a local API server. */
const API = "http://127.0.0.1:3000";

export default defineConfig({
  base: "/app/",
  plugins: [react()],
  server: {
    proxy: {
      "/app/config.json": API,
      "/auth": API,
      "/rank": API,
      "/feedback": API,
      "/engagement": API,
      "/quiz": API,
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
  },
});
