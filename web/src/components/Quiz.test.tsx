import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import { coffee, dueQuiz, engagementOf, rankOf, travel } from "../test/fixtures";
import { renderSignedIn } from "../test/render";

describe("monthly quiz", () => {
  it("is not shown when it isn't due", async () => {
    renderSignedIn({ "POST /rank": [200, rankOf([coffee])] });
    await screen.findByTestId("engagement");
    expect(screen.queryByTestId("quiz")).toBeNull();
  });

  it("posts the chosen answers with their JSON types, then refreshes offers and progress", async () => {
    let answered = false;
    const { user, server } = renderSignedIn({
      "POST /rank": () => [200, answered ? rankOf([travel, coffee], { request_id: "req-2" }) : rankOf([coffee, travel])],
      "POST /engagement": () => [200, engagementOf({ quiz: answered ? { ...dueQuiz, due: false } : dueQuiz })],
      "POST /quiz": (call) => {
        answered = true;
        return [200, { event_id: call.body.event_id, stored: "x" }];
      },
    });
    const form = await screen.findByTestId("quiz");
    expect(within(form).getByRole("heading", { name: "Your monthly quiz" })).toBeTruthy();
    const send = within(form).getByRole("button", { name: "Send answers" }) as HTMLButtonElement;
    expect(send.disabled).toBe(true);

    const trip = within(form).getByRole("group", { name: "Are you planning a trip in the next three months?" });
    await user.click(within(form).getByRole("radio", { name: "Travel" }));
    expect(send.disabled).toBe(true);
    await user.click(within(trip).getByRole("radio", { name: "Yes" }));
    expect(send.disabled).toBe(false);
    await user.click(send);

    expect(await screen.findByText("Thanks! Your offers now reflect your answers.")).toBeTruthy();
    const [posted] = server.to("POST", "/quiz");
    expect(posted.body).toMatchObject({ customer_id: "CUST-0000001", favourite_category: "travel", planning_travel: true });
    expect(posted.body.event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof posted.body.answered_at).toBe("string");
    expect(typeof posted.body.timezone).toBe("string");

    await waitFor(() => expect(screen.getAllByTestId("offer").map((li) => li.dataset.offerId)).toEqual(["OFF-002", "OFF-001"]));
    expect(server.to("POST", "/rank")).toHaveLength(2);
    expect(server.to("POST", "/engagement")).toHaveLength(2);
    await waitFor(() => expect(screen.queryByTestId("quiz")).toBeNull());
  });

  it("keeps a boolean false as false", async () => {
    const { user, server } = renderSignedIn({
      "POST /rank": [200, rankOf([coffee])],
      "POST /engagement": [200, engagementOf({ quiz: dueQuiz })],
      "POST /quiz": [200, { event_id: "e", stored: "x" }],
    });
    const form = await screen.findByTestId("quiz");
    await user.click(within(form).getByRole("radio", { name: "Eating out" }));
    await user.click(within(form).getByRole("radio", { name: "No" }));
    await user.click(within(form).getByRole("button", { name: "Send answers" }));
    await waitFor(() => expect(server.to("POST", "/quiz")).toHaveLength(1));
    expect(server.to("POST", "/quiz")[0].body).toMatchObject({ favourite_category: "dining", planning_travel: false });
  });
});
