/** Sample API answers shaped like the backend's. */
import type { AppConfig, Engagement, RankedOffer, RankResponse } from "../api";

export const config: AppConfig = { sign_in: "local", customer_claim: "sub", as_of: null, channel: "web" };

export const coffee: RankedOffer = {
  offer_id: "OFF-001",
  rank: 1,
  score: 0.42,
  offer: {
    headline: "3x points at coffee shops",
    category: "coffee shops",
    offer_type: "points offer",
    value: "3x points",
    min_spend: 25.0,
    valid_to: "2026-06-30T00:00:00Z",
  },
  reasons: [
    { feature: "spend_coffee_shops_90d", label: "spend at coffee shops in the last 90 days", contribution: 0.31, value: 120.5 },
    { feature: "tenure_months", label: "months as a card member", contribution: 0.05, value: 14 },
  ],
  explanation: {
    text: "You often buy coffee, so these points add up fast.",
    source: "template",
    template_id: "habit/1",
    model: null,
    feature_version: "2026-06-29T00:00:00Z",
    fallback_reason: "no llm configured",
  },
};

export const travel: RankedOffer = {
  offer_id: "OFF-002",
  rank: 2,
  score: 0.3,
  offer: {
    headline: "5% off flights",
    category: "travel",
    offer_type: "discount",
    value: "5% off",
    min_spend: null,
    valid_to: null,
  },
  reasons: [],
  explanation: null,
};

export function rankOf(offers: RankedOffer[], extra: Partial<RankResponse> = {}): RankResponse {
  return {
    request_id: "req-1",
    customer_id: "CUST-0000001",
    tier: "model",
    model: { name: "offer-ranker", version: "3" },
    offers,
    ...extra,
  };
}

export function engagementOf(extra: Partial<Engagement> = {}): Engagement {
  return {
    customer_id: "CUST-0000001",
    rules_version: 1,
    streak: { current_weeks: 2, longest_weeks: 3, last_week: "2026-W26", weeks_since_last: 0 },
    badges: [{ id: "first_redemption", title: "First redemption", earned_at: "2026-06-01T10:00:00Z" }],
    next_badges: [
      { id: "explorer", title: "Explorer", description: "Redeem offers in 3 categories", value: 1, target: 3, progress: 0.33 },
    ],
    withheld_spending: 0,
    quiz: { due: false, last_answered_at: null, version: 1, questions: [] },
    ...extra,
  };
}

export const dueQuiz: Engagement["quiz"] = {
  due: true,
  last_answered_at: null,
  version: 1,
  questions: [
    {
      id: "favourite_category",
      text: "Which kind of spending would you most like offers for?",
      options: [
        { value: "dining", label: "Eating out" },
        { value: "travel", label: "Travel" },
      ],
    },
    {
      id: "planning_travel",
      text: "Are you planning a trip in the next three months?",
      options: [
        { value: true, label: "Yes" },
        { value: false, label: "No" },
      ],
    },
  ],
};

export const session = { token: "tok-1", customer_id: "CUST-0000001" };
