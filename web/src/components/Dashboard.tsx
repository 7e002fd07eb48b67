/**
 * The signed-in view: ranked offers, progress and the monthly quiz. It owns
 * the fetched data so that anything the customer does (feedback, quiz) can
 * refresh the parts it changes.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, describeError, type Api, type Engagement as EngagementData, type RankResponse } from "../api";
import { nowIso } from "../clock";
import { Offers } from "./Offers";
import { Engagement } from "./Engagement";
import { Quiz } from "./Quiz";
import { ErrorState } from "./ErrorState";

type RankState =
  | { status: "loading" }
  | { status: "error"; message: string; retryable: boolean }
  | { status: "ready"; data: RankResponse };

export function Dashboard({ api, channel }: { api: Api; channel: string }) {
  const [rank, setRank] = useState<RankState>({ status: "loading" });
  const [engagement, setEngagement] = useState<EngagementData | null>(null);
  const [announcement, setAnnouncement] = useState("");
  // Only the latest request may update the view; an older answer arriving late is dropped.
  const rankSeq = useRef(0);
  const engagementSeq = useRef(0);

  /** Keeps the current list on screen while a refresh is on its way; shows loading only when there is nothing yet. */
  const loadOffers = useCallback(() => {
    const seq = ++rankSeq.current;
    setRank((prev) => (prev.status === "ready" ? prev : { status: "loading" }));
    api.rank(nowIso(), channel).then(
      (data) => seq === rankSeq.current && setRank({ status: "ready", data }),
      (err) => {
        if (seq !== rankSeq.current || (err instanceof ApiError && err.status === 401)) return;
        setRank({ status: "error", ...describeError(err) });
      },
    );
  }, [api, channel]);

  /** Progress is secondary: if it can't be loaded (e.g. 404 for an unknown customer) the panel is hidden. */
  const loadEngagement = useCallback(() => {
    const seq = ++engagementSeq.current;
    api.engagement(nowIso()).then(
      (data) => seq === engagementSeq.current && setEngagement(data),
      () => seq === engagementSeq.current && setEngagement(null),
    );
  }, [api]);

  useEffect(() => {
    loadOffers();
    loadEngagement();
  }, [loadOffers, loadEngagement]);

  const retry = () => {
    setRank({ status: "loading" });
    loadOffers();
  };

  const refresh = () => {
    loadOffers();
    loadEngagement();
  };

  const removeOffer = useCallback((offerId: string, headline: string) => {
    setRank((prev) =>
      prev.status === "ready"
        ? { status: "ready", data: { ...prev.data, offers: prev.data.offers.filter((o) => o.offer_id !== offerId) } }
        : prev,
    );
    setAnnouncement(`Removed “${headline}”.`);
  }, []);

  const quizAnswered = useCallback(() => {
    setAnnouncement("Thanks! Your offers now reflect your answers.");
    loadOffers();
    loadEngagement();
  }, [loadOffers, loadEngagement]);

  return (
    <>
      <h1>Your offers</h1>
      <p role="status" aria-live="polite" className="announcement">
        {announcement}
      </p>
      <div className="layout">
        <section className="offers-section" aria-labelledby="offers-title">
          <div className="section-head">
            <h2 id="offers-title">Picked for you</h2>
            <button type="button" className="btn btn-quiet" onClick={refresh}>
              Refresh
            </button>
          </div>
          {rank.status === "loading" && (
            <p data-testid="loading" role="status" className="state">
              Loading your offers…
            </p>
          )}
          {rank.status === "error" && <ErrorState message={rank.message} onRetry={rank.retryable ? retry : undefined} />}
          {rank.status === "ready" && (
            <Offers
              api={api}
              channel={channel}
              rank={rank.data}
              onRemoved={removeOffer}
              onFeedbackSent={loadEngagement}
            />
          )}
        </section>
        {engagement && (
          <div className="side">
            {engagement.quiz.due && (
              <Quiz api={api} questions={engagement.quiz.questions} onAnswered={quizAnswered} />
            )}
            <Engagement data={engagement} />
          </div>
        )}
      </div>
    </>
  );
}
