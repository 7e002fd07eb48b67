import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import { coffee, engagementOf, rankOf, travel } from "../test/fixtures";
import { deferred } from "../test/mockServer";
import { renderSignedIn } from "../test/render";

const offerCard = (id: string) => screen.getAllByTestId("offer").find((li) => li.dataset.offerId === id)!;

describe("offers list", () => {
  it("renders each offer's headline, value, validity, min spend, explanation and reason chips", async () => {
    renderSignedIn({ "POST /rank": [200, rankOf([coffee, travel])] });
    const list = await screen.findByTestId("offers");
    expect(within(list).getAllByTestId("offer").map((li) => li.dataset.offerId)).toEqual(["OFF-001", "OFF-002"]);

    const first = offerCard("OFF-001");
    expect(within(first).getByRole("heading", { level: 3 }).textContent).toBe("3x points at coffee shops");
    expect(within(first).getByTestId("offer-value").textContent).toBe("3x points");
    expect(within(first).getByTestId("offer-validity").textContent).toBe("Valid until 30 Jun 2026");
    expect(first.textContent).toContain("Spend $25 or more");
    expect(within(first).getByTestId("explanation").textContent).toBe(coffee.explanation!.text);
    expect(within(first).getAllByTestId("reason-chip").map((c) => c.textContent)).toEqual([
      "spend at coffee shops in the last 90 days",
      "months as a card member",
    ]);
    expect(within(first).getByRole("button", { name: "5 stars" })).toBeTruthy();

    const second = offerCard("OFF-002");
    expect(within(second).getByTestId("offer-validity").textContent).toBe("No end date");
    expect(within(second).queryByTestId("explanation")).toBeNull();
    expect(within(second).queryAllByTestId("reason-chip")).toHaveLength(0);
    expect(within(second).queryByRole("group", { name: "Rate this explanation" })).toBeNull();
    expect(second.textContent).not.toContain("Spend");
    expect(screen.queryByTestId("tier-note")).toBeNull();
  });

  it("notes when the ranking is a fallback", async () => {
    renderSignedIn({ "POST /rank": [200, rankOf([coffee], { tier: "popularity" })] });
    expect((await screen.findByTestId("tier-note")).textContent).toBe("Popular offers");
  });

  it("shows a loading state while the offers are on their way", async () => {
    const held = deferred<[number, unknown]>();
    renderSignedIn({ "POST /rank": () => held.promise });
    expect((await screen.findByTestId("loading")).textContent).toBe("Loading your offers…");
    expect(screen.getByTestId("loading").getAttribute("role")).toBe("status");
    held.resolve([200, rankOf([coffee])]);
    expect(await screen.findByTestId("offers")).toBeTruthy();
    expect(screen.queryByTestId("loading")).toBeNull();
  });

  it("shows an empty state when there are no offers", async () => {
    renderSignedIn({ "POST /rank": [200, rankOf([])] });
    expect((await screen.findByTestId("empty")).textContent).toContain("No offers right now");
    expect(screen.queryByTestId("offers")).toBeNull();
  });

  it("shows an error with Retry when fetch rejects, and Retry fetches again", async () => {
    let attempts = 0;
    const { user, server } = renderSignedIn({
      "POST /rank": () => {
        attempts += 1;
        if (attempts === 1) throw new TypeError("Failed to fetch");
        return [200, rankOf([coffee])];
      },
    });
    const error = await screen.findByTestId("error");
    expect(error.getAttribute("role")).toBe("alert");
    expect(error.textContent).toContain("We can't reach Smart Stack right now.");
    await user.click(within(error).getByRole("button", { name: "Retry" }));
    expect(await screen.findByTestId("offers")).toBeTruthy();
    expect(server.to("POST", "/rank")).toHaveLength(2);
    expect(screen.queryByTestId("error")).toBeNull();
  });

  it("refreshes on demand, and shows the error in place of the list once the service is gone", async () => {
    let up = true;
    const { user, server } = renderSignedIn({
      "POST /rank": () => {
        if (!up) throw new TypeError("Failed to fetch");
        return [200, rankOf([coffee, travel])];
      },
      "POST /engagement": [200, engagementOf()],
    });
    expect(await screen.findByTestId("offers")).toBeTruthy();
    up = false;
    await user.click(screen.getByRole("button", { name: "Refresh" }));
    const error = await screen.findByTestId("error");
    expect(error.textContent).toContain("We can't reach Smart Stack right now.");
    expect(screen.queryByTestId("offers")).toBeNull();
    expect(server.to("POST", "/rank")).toHaveLength(2);
    await waitFor(() => expect(server.to("POST", "/engagement")).toHaveLength(2));
  });

  it("treats a 5xx as unreachable", async () => {
    renderSignedIn({ "POST /rank": [503, { error: "model unavailable" }] });
    const error = await screen.findByTestId("error");
    expect(error.textContent).toContain("We can't reach Smart Stack right now.");
    expect(within(error).getByRole("button", { name: "Retry" })).toBeTruthy();
  });

  it("tells a 403 apart: this account can't see the customer", async () => {
    renderSignedIn({ "POST /rank": [403, { error: "forbidden" }] });
    expect((await screen.findByTestId("error")).textContent).toContain("This account can't see that customer.");
  });

  it("hides the progress panel when engagement answers 404, and still shows offers", async () => {
    const { server } = renderSignedIn({
      "POST /rank": [200, rankOf([coffee])],
      "POST /engagement": [404, { error: "unknown customer" }],
    });
    expect(await screen.findByTestId("offers")).toBeTruthy();
    await waitFor(() => expect(server.to("POST", "/engagement")).toHaveLength(1));
    expect(screen.queryByTestId("engagement")).toBeNull();
  });

  it("shows the progress panel from /engagement", async () => {
    renderSignedIn({ "POST /rank": [200, rankOf([coffee])], "POST /engagement": [200, engagementOf()] });
    const panel = await screen.findByTestId("engagement");
    expect(within(panel).getByRole("heading", { name: "Your progress" })).toBeTruthy();
    expect(within(panel).getByTestId("streak").textContent).toContain("2-week streak");
    const badge = within(panel).getByTestId("badge");
    expect(badge.dataset.badgeId).toBe("first_redemption");
    expect(badge.textContent).toBe("First redemption");
    const next = within(panel).getByTestId("next-badge");
    const bar = within(next).getByRole("progressbar", { name: "Explorer" }) as HTMLProgressElement;
    expect([bar.value, bar.max]).toEqual([1, 3]);
    expect(next.textContent).toContain("1/3");
  });

  it("invites a first streak instead of showing a 0-week one", async () => {
    const none = { current_weeks: 0, longest_weeks: 0, last_week: null, weeks_since_last: null };
    renderSignedIn({
      "POST /rank": [200, rankOf([coffee])],
      "POST /engagement": [200, engagementOf({ streak: none })],
    });
    const streak = await screen.findByTestId("streak");
    expect(streak.textContent).toContain("No streak yet");
    expect(streak.textContent).not.toContain("0-week");
  });
});
