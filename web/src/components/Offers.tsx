/** The ranked list, plus a note when the ranking came from a fallback rather than the model. */
import { useEffect } from "react";
import type { Api, RankResponse, Tier } from "../api";
import { OfferCard } from "./OfferCard";

const TIER_NOTES: Record<Tier, string | null> = {
  model: null,
  smartscore: "Offers picked from your recent spending",
  last_served: "Showing the offers you saw last time",
  cold_start_quiz: "Offers picked from your quiz answers",
  popularity: "Popular offers",
};

interface Props {
  api: Api;
  channel: string;
  rank: RankResponse;
  onRemoved: (offerId: string, headline: string) => void;
  onFeedbackSent: () => void;
}

export function Offers({ api, channel, rank, onRemoved, onFeedbackSent }: Props) {
  const hasOffers = rank.offers.length > 0;

  // Marks when the first offer reached the screen after page load; the
  // performance timeline is per page, so it doubles as the "only once" flag.
  useEffect(() => {
    if (hasOffers && performance.getEntriesByName("first-offer").length === 0) performance.mark("first-offer");
  }, [hasOffers]);

  const note = TIER_NOTES[rank.tier];
  return (
    <>
      {note && (
        <p className="tier-note" data-testid="tier-note">
          {note}
        </p>
      )}
      {hasOffers ? (
        <ul data-testid="offers" className="offers">
          {rank.offers.map((offer) => (
            <OfferCard
              // A new ranking is a new serving: cards start fresh and tie events to the new request.
              key={`${rank.request_id}:${offer.offer_id}`}
              api={api}
              served={{ customerId: api.customerId, requestId: rank.request_id, channel, offer }}
              onRemoved={onRemoved}
              onFeedbackSent={onFeedbackSent}
            />
          ))}
        </ul>
      ) : (
        <p data-testid="empty" className="state">
          No offers right now. Check back soon.
        </p>
      )}
    </>
  );
}
