/**
 * One offer with its terms, why it was picked, and the customer's responses.
 * A response that fails to send keeps its event: sending it again reuses the
 * same event_id, so the backend can tell a resend from a second response.
 */
import { useId, useRef, useState } from "react";
import { ApiError, describeError, type Api, type Explanation, type FeedbackEvent } from "../api";
import { actionEvent, ratingEvent, type ServedOffer } from "../events";
import { minSpend, validity } from "../format";
import { Stars } from "./Stars";

interface Props {
  api: Api;
  served: ServedOffer;
  onRemoved: (offerId: string, headline: string) => void;
  onFeedbackSent: () => void;
}

/** Which response an event is; a retry of the same response resends the same event. */
type ResponseKey = "click" | "skip" | "redeem" | `rating:${number}`;

function failureText(err: unknown): string {
  if (err instanceof ApiError && err.status > 0 && err.status < 500) {
    return err.status === 403 ? describeError(err).message : `Couldn't send: ${err.message}`;
  }
  return "Couldn't send, try again";
}

export function OfferCard({ api, served, onRemoved, onFeedbackSent }: Props) {
  const { offer_id, offer, reasons, explanation } = served.offer;
  const titleId = useId();
  const [saved, setSaved] = useState(false);
  const [redeemed, setRedeemed] = useState(false);
  const [rating, setRating] = useState<number | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const pending = useRef<{ key: ResponseKey; event: FeedbackEvent } | null>(null);
  // One response at a time: a ref, because a double click lands before the busy state re-renders.
  const inFlight = useRef(false);

  /** Posts one response; true once the backend has stored it. */
  const send = async (key: ResponseKey, make: () => FeedbackEvent): Promise<boolean> => {
    if (inFlight.current) return false;
    inFlight.current = true;
    const event = pending.current?.key === key ? pending.current.event : make();
    pending.current = { key, event };
    setBusy(true);
    setFailure(null);
    try {
      await api.feedback(event);
      pending.current = null;
      onFeedbackSent();
      return true;
    } catch (err) {
      // A 401 has already sent the customer back to sign-in.
      if (!(err instanceof ApiError && err.status === 401)) setFailure(failureText(err));
      return false;
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };

  const interested = async () => {
    if (await send("click", () => actionEvent(served, "click"))) setSaved(true);
  };
  const notForMe = async () => {
    if (await send("skip", () => actionEvent(served, "skip"))) onRemoved(offer_id, offer.headline);
  };
  const redeem = async () => {
    if (await send("redeem", () => actionEvent(served, "redeem"))) setRedeemed(true);
  };
  const rate = async (shown: Explanation, stars: number) => {
    if (await send(`rating:${stars}`, () => ratingEvent(served, shown, stars))) setRating(stars);
  };

  const done = [saved && "Saved", redeemed && "Redeemed", rating !== null && "Thanks for rating"].filter(Boolean);

  return (
    <li data-testid="offer" data-offer-id={offer_id} className="card offer" aria-busy={busy}>
      <p className="offer-kind">
        <span className="chip chip-accent">{offer.category}</span>
        <span className="muted">{offer.offer_type}</span>
      </p>
      <h3 id={titleId}>{offer.headline}</h3>
      {offer.value !== null && (
        <p className="offer-value" data-testid="offer-value">
          {offer.value}
        </p>
      )}
      <p className="offer-terms">
        <span data-testid="offer-validity">{validity(offer.valid_to)}</span>
        {offer.min_spend !== null && <span data-testid="offer-min-spend">{minSpend(offer.min_spend)}</span>}
      </p>
      {explanation && (
        <p className="explanation" data-testid="explanation">
          {explanation.text}
        </p>
      )}
      {reasons.length > 0 && (
        <ul className="chips" aria-label="Why you're seeing this">
          {reasons.map((r) => (
            <li key={r.feature} className="chip" data-testid="reason-chip">
              {r.label}
            </li>
          ))}
        </ul>
      )}
      {explanation && <Stars value={rating} disabled={rating !== null} onRate={(stars) => rate(explanation, stars)} />}
      <div className="actions" role="group" aria-labelledby={titleId}>
        <button type="button" className="btn" onClick={interested} disabled={saved}>
          Interested
        </button>
        <button type="button" className="btn btn-quiet" onClick={notForMe}>
          Not for me
        </button>
        <button type="button" className="btn btn-primary" onClick={redeem} disabled={redeemed}>
          Redeem
        </button>
      </div>
      <p role="status" className="offer-status">
        {done.join(" · ")}
        {failure && <span className="inline-error"> {failure}</span>}
      </p>
    </li>
  );
}
