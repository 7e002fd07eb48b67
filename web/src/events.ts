/** Builders for the events the app posts; each carries its own id so a resend is recognised as the same event. */
import type { ActionKind, ActionEvent, Explanation, QuizAnswers, QuizValue, RankedOffer, RatingEvent } from "./api";
import { nowIso, timeZone } from "./clock";

/** crypto.randomUUID exists only in secure contexts; plain-http deployments get the same v4 layout by hand. */
function newEventId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Which ranking answer an offer came from: ties every event back to the served list. */
export interface ServedOffer {
  customerId: string;
  requestId: string;
  channel: string;
  offer: RankedOffer;
}

function base(served: ServedOffer) {
  return {
    event_id: newEventId(),
    customer_id: served.customerId,
    offer_id: served.offer.offer_id,
    occurred_at: nowIso(),
    request_id: served.requestId,
    channel: served.channel,
    position: served.offer.rank,
    timezone: timeZone(),
  };
}

export function actionEvent(served: ServedOffer, kind: ActionKind): ActionEvent {
  return { ...base(served), kind };
}

/** A rating is about the explanation, so it names exactly which explanation was shown. */
export function ratingEvent(served: ServedOffer, explanation: Explanation, rating: number): RatingEvent {
  return {
    ...base(served),
    kind: "rating",
    rating,
    feature_version: explanation.feature_version,
    source: explanation.source,
    template_id: explanation.template_id,
    model: explanation.model,
  };
}

export function quizAnswers(customerId: string, answers: Record<string, QuizValue>): QuizAnswers {
  return { ...answers, event_id: newEventId(), customer_id: customerId, answered_at: nowIso(), timezone: timeZone() };
}
