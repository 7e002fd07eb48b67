import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import { coffee, engagementOf, rankOf, travel } from "../test/fixtures";
import { renderSignedIn } from "../test/render";

const stored: [number, unknown] = [200, { event_id: "e", stored: "2026-06-29T12:00:00Z" }];
const offerCard = (id: string) => screen.getAllByTestId("offer").find((li) => li.dataset.offerId === id)!;

describe("offer responses", () => {
  it("'Not for me' posts a skip for this serving and removes the offer", async () => {
    const { user, server } = renderSignedIn({ "POST /rank": [200, rankOf([coffee, travel], { request_id: "abc123" })], "POST /feedback": stored });
    await screen.findByTestId("offers");
    await user.click(within(offerCard("OFF-002")).getByRole("button", { name: "Not for me" }));

    await waitFor(() => expect(screen.getAllByTestId("offer").map((li) => li.dataset.offerId)).toEqual(["OFF-001"]));
    const [sent] = server.to("POST", "/feedback");
    expect(sent.headers.Authorization).toBe("Bearer tok-1");
    expect(sent.body).toMatchObject({
      kind: "skip",
      customer_id: "CUST-0000001",
      offer_id: "OFF-002",
      request_id: "abc123",
      channel: "web",
      position: 2,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    });
    expect(sent.body.event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(sent.body.occurred_at))).toBe(false);
  });

  it("keeps the offer when the skip can't be stored, and a retry resends the same event", async () => {
    let attempts = 0;
    const { user, server } = renderSignedIn({
      "POST /rank": [200, rankOf([coffee])],
      "POST /feedback": (call) => {
        attempts += 1;
        return attempts === 1 ? [503, { event_id: call.body.event_id, error: "store unavailable" }] : stored;
      },
    });
    await screen.findByTestId("offers");
    const button = within(offerCard("OFF-001")).getByRole("button", { name: "Not for me" });
    await user.click(button);
    expect(await within(offerCard("OFF-001")).findByText(/Couldn't send, try again/)).toBeTruthy();

    await user.click(button);
    await waitFor(() => expect(screen.queryAllByTestId("offer")).toHaveLength(0));
    const [first, second] = server.to("POST", "/feedback");
    expect(second.body.event_id).toBe(first.body.event_id);
  });

  it("'Interested' posts a click and shows Saved", async () => {
    const { user, server } = renderSignedIn({ "POST /rank": [200, rankOf([coffee])], "POST /feedback": stored });
    const card = await screen.findByTestId("offer");
    await user.click(within(card).getByRole("button", { name: "Interested" }));
    expect(await within(card).findByText("Saved")).toBeTruthy();
    expect(server.to("POST", "/feedback")[0].body).toMatchObject({ kind: "click", offer_id: "OFF-001", position: 1, request_id: "req-1" });
  });

  it("'Redeem' posts a redeem, shows Redeemed and disables the button", async () => {
    const { user, server } = renderSignedIn({ "POST /rank": [200, rankOf([coffee])], "POST /feedback": stored });
    const card = await screen.findByTestId("offer");
    const redeem = within(card).getByRole("button", { name: "Redeem" }) as HTMLButtonElement;
    await user.click(redeem);
    expect(await within(card).findByText("Redeemed")).toBeTruthy();
    expect(redeem.disabled).toBe(true);
    expect(server.to("POST", "/feedback")[0].body.kind).toBe("redeem");
  });

  it("a star rating posts the rating with the explanation it is about", async () => {
    const { user, server } = renderSignedIn({ "POST /rank": [200, rankOf([coffee])], "POST /feedback": stored });
    const card = await screen.findByTestId("offer");
    const group = within(card).getByRole("group", { name: "Rate this explanation" });
    expect(within(group).getAllByRole("button").map((b) => b.getAttribute("aria-label"))).toEqual([
      "1 star",
      "2 stars",
      "3 stars",
      "4 stars",
      "5 stars",
    ]);
    await user.click(within(group).getByRole("button", { name: "4 stars" }));
    expect(await within(card).findByText("Thanks for rating")).toBeTruthy();
    expect(server.to("POST", "/feedback")[0].body).toMatchObject({
      kind: "rating",
      rating: 4,
      offer_id: "OFF-001",
      request_id: "req-1",
      feature_version: "2026-06-29T00:00:00Z",
      source: "template",
      template_id: "habit/1",
      model: null,
    });
  });

  it("refreshes progress after a response is stored", async () => {
    let calls = 0;
    const { user } = renderSignedIn({
      "POST /rank": [200, rankOf([coffee])],
      "POST /feedback": stored,
      "POST /engagement": () => {
        calls += 1;
        return [200, engagementOf({ streak: { current_weeks: calls, longest_weeks: 3, last_week: "2026-W26", weeks_since_last: 0 } })];
      },
    });
    expect((await screen.findByTestId("streak")).textContent).toContain("1-week streak");
    await user.click(within(screen.getByTestId("offer")).getByRole("button", { name: "Redeem" }));
    await waitFor(() => expect(screen.getByTestId("streak").textContent).toContain("2-week streak"));
  });
});
