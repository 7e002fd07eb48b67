import { describe, expect, it, vi } from "vitest";
import { act, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { App } from "./App";
import { config, coffee, engagementOf, rankOf, session } from "./test/fixtures";
import { mockServer } from "./test/mockServer";
import { renderSignedIn } from "./test/render";

const customers = {
  customers: [
    { customer_id: "CUST-0000001", card_product: "gold", description: "gold card, 14 months" },
    { customer_id: "CUST-0000002", card_product: "classic", description: "classic card, 3 months" },
  ],
};

/** A JWT-shaped token whose payload is `payload`; the signature is never checked client-side. */
function jwt(payload: object): string {
  const b64 = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${b64('{"alg":"RS256"}')}.${b64(JSON.stringify(payload))}.sig`;
}

describe("sign-in", () => {
  it("lists the sample customers and signing in stores the token and shows the offers", async () => {
    const server = mockServer({
      "GET /app/config.json": [200, config],
      "GET /auth/customers": [200, customers],
      "POST /auth/token": [200, { token: "tok-9", customer_id: "CUST-0000002", expires_at: "2026-07-01T00:00:00Z" }],
      "POST /rank": [200, rankOf([coffee])],
      "POST /engagement": [200, engagementOf()],
    });
    const user = userEvent.setup();
    render(<App />);

    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
    const buttons = await screen.findAllByTestId("sign-in-customer");
    expect(buttons.map((b) => b.dataset.customerId)).toEqual(["CUST-0000001", "CUST-0000002"]);
    expect(buttons[1].textContent).toContain("classic");

    await user.click(buttons[1]);

    expect(server.to("POST", "/auth/token")[0].body).toEqual({ customer_id: "CUST-0000002" });
    expect(JSON.parse(sessionStorage.getItem("smartstack.session")!)).toEqual({ token: "tok-9", customer_id: "CUST-0000002" });
    expect(await screen.findByTestId("offers")).toBeTruthy();
    expect(screen.getByRole("banner").textContent).toContain("CUST-0000002");
    expect(server.to("POST", "/rank")[0].headers.Authorization).toBe("Bearer tok-9");
    expect(server.to("GET", "/auth/customers")[0].headers.Authorization).toBeUndefined();
  });

  it("with an external identity provider shows no customer list", async () => {
    const server = mockServer({ "GET /app/config.json": [200, { ...config, sign_in: "external" }] });
    render(<App />);
    expect(await screen.findByText(/Sign in through your bank/)).toBeTruthy();
    expect(screen.queryAllByTestId("sign-in-customer")).toHaveLength(0);
    expect(server.to("GET", "/auth/customers")).toHaveLength(0);
  });

  it("takes a token from the URL fragment, stores it and clears the fragment", async () => {
    const token = jwt({ sub: "CUST-0000042", exp: 2000000000 });
    window.history.replaceState(null, "", `/app/#token=${token}`);
    const server = mockServer({
      "GET /app/config.json": [200, { ...config, sign_in: "external" }],
      "POST /rank": [200, rankOf([coffee], { customer_id: "CUST-0000042" })],
      "POST /engagement": [200, engagementOf()],
    });
    render(<App />);

    expect(await screen.findByTestId("offers")).toBeTruthy();
    expect(window.location.hash).toBe("");
    expect(JSON.parse(sessionStorage.getItem("smartstack.session")!)).toEqual({ token, customer_id: "CUST-0000042" });
    expect(server.to("POST", "/rank")[0].body.customer_id).toBe("CUST-0000042");
    expect(server.to("POST", "/rank")[0].headers.Authorization).toBe(`Bearer ${token}`);
  });

  it("reads the customer from the claim the configuration names", async () => {
    const token = jwt({ sub: "user-7f3a", customer: "CUST-0000043", exp: 2000000000 });
    window.history.replaceState(null, "", `/app/#token=${token}`);
    const server = mockServer({
      "POST /rank": [200, rankOf([coffee], { customer_id: "CUST-0000043" })],
      "POST /engagement": [200, engagementOf()],
    });
    render(<App initialConfig={{ ...config, sign_in: "external", customer_claim: "customer" }} />);

    expect(await screen.findByTestId("offers")).toBeTruthy();
    expect(server.to("POST", "/rank")[0].body.customer_id).toBe("CUST-0000043");
    expect(server.to("GET", "/app/config.json")).toHaveLength(0);
  });

  it("sign out drops the session and shows sign-in", async () => {
    const { user } = renderSignedIn({ "POST /rank": [200, rankOf([coffee])], "GET /auth/customers": [200, customers] });
    await screen.findByTestId("offers");
    await user.click(screen.getByRole("button", { name: "Sign out" }));
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
    expect(sessionStorage.getItem("smartstack.session")).toBeNull();
  });
});

describe("performance", () => {
  it("marks first-offer once per page load, even when the list is shown again", async () => {
    const mark = vi.spyOn(performance, "mark");
    const { user } = renderSignedIn({
      "POST /rank": [200, rankOf([coffee])],
      "GET /auth/customers": [200, customers],
      "POST /auth/token": [200, { token: "tok-1", customer_id: "CUST-0000001", expires_at: "2026-07-01T00:00:00Z" }],
    });
    await screen.findByTestId("offers");
    // The list can be on screen before React runs its effects (the answer arrived outside
    // act): let them run before looking at the marks.
    await act(async () => {});
    expect(mark).toHaveBeenCalledWith("first-offer");
    await user.click(screen.getByRole("button", { name: "Sign out" }));
    await user.click((await screen.findAllByTestId("sign-in-customer"))[0]);
    await screen.findByTestId("offers");
    await act(async () => {});
    expect(mark.mock.calls.filter(([name]) => name === "first-offer")).toHaveLength(1);
  });
});

describe("an ended session", () => {
  it("a 401 from /rank drops the token and returns to sign-in with a message", async () => {
    renderSignedIn({ "POST /rank": [401, { error: "token expired" }], "GET /auth/customers": [200, customers] });
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
    expect(screen.getByText("Your session has ended. Please sign in again.")).toBeTruthy();
    expect(sessionStorage.getItem("smartstack.session")).toBeNull();
    expect(screen.queryByRole("button", { name: "Sign out" })).toBeNull();
  });

  it("a 401 from /feedback does the same", async () => {
    const { user } = renderSignedIn({
      "POST /rank": [200, rankOf([coffee])],
      "POST /feedback": [401, { error: "token expired" }],
      "GET /auth/customers": [200, customers],
    });
    const offer = await screen.findByTestId("offer");
    await user.click(within(offer).getByRole("button", { name: "Interested" }));
    expect(await screen.findByText("Your session has ended. Please sign in again.")).toBeTruthy();
    expect(sessionStorage.getItem("smartstack.session")).toBeNull();
  });
});

describe("clock", () => {
  it("starts at config.as_of and sends that time to /rank and /engagement", async () => {
    sessionStorage.setItem("smartstack.session", JSON.stringify(session));
    const server = mockServer({
      "GET /app/config.json": [200, { ...config, as_of: "2026-06-29T12:00:00Z" }],
      "POST /rank": [200, rankOf([coffee])],
      "POST /engagement": [200, engagementOf()],
    });
    render(<App />);
    await screen.findByTestId("offers");
    const rank = server.to("POST", "/rank")[0].body;
    expect(rank.context.channel).toBe("web");
    expect(rank.k).toBe(6);
    const sent = Date.parse(rank.context.timestamp);
    expect(sent - Date.parse("2026-06-29T12:00:00Z")).toBeGreaterThanOrEqual(0);
    expect(sent - Date.parse("2026-06-29T12:00:00Z")).toBeLessThan(5000);
    expect(Date.parse(server.to("POST", "/engagement")[0].body.timestamp)).toBeLessThan(Date.parse("2026-06-29T12:00:05Z"));
  });
});
