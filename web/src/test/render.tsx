/** Renders the whole app, already signed in, against a mocked backend. */
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { App } from "../App";
import { config, engagementOf, session } from "./fixtures";
import { mockServer, type Handler } from "./mockServer";

export function renderSignedIn(routes: Record<string, Handler | [number, unknown]>) {
  sessionStorage.setItem("smartstack.session", JSON.stringify(session));
  const server = mockServer({
    "GET /app/config.json": [200, config],
    "POST /engagement": [200, engagementOf()],
    ...routes,
  });
  const user = userEvent.setup();
  render(<App />);
  return { server, user, screen };
}
