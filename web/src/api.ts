/**
 * Typed client for the Smart Stack API (same origin, JSON in and out).
 *
 * Every failure surfaces as an ApiError carrying the HTTP status (0 for a
 * network failure), so views can decide between "sign in again", "not
 * allowed" and "try again" without parsing messages.
 */

export type SignInMode = "local" | "external";

export interface AppConfig {
  sign_in: SignInMode;
  /** The token claim that names the customer (the identity provider's choice). */
  customer_claim: string;
  as_of: string | null;
  channel: string;
}

export interface Session {
  token: string;
  customer_id: string;
}

export interface SampleCustomer {
  customer_id: string;
  card_product: string;
  description?: string;
}

export interface TokenResponse {
  token: string;
  customer_id: string;
  expires_at: string;
}

export type Tier = "model" | "smartscore" | "last_served" | "cold_start_quiz" | "popularity";

export interface Offer {
  headline: string;
  category: string;
  offer_type: string;
  /** As stated ("3x points", "$5"); null for an offer that carries no reward (an announcement). */
  value: string | null;
  min_spend: number | null;
  valid_to: string | null;
}

export interface Reason {
  feature: string;
  label: string;
  contribution: number;
  value: number | null;
}

export interface Explanation {
  text: string;
  source: string;
  template_id: string | null;
  model: string | null;
  feature_version: string;
  fallback_reason: string | null;
}

export interface RankedOffer {
  offer_id: string;
  rank: number;
  score: number;
  offer: Offer;
  reasons: Reason[];
  explanation: Explanation | null;
}

export interface RankResponse {
  request_id: string;
  customer_id: string;
  tier: Tier;
  model: { name: string; version: string | null };
  offers: RankedOffer[];
}

export type ActionKind = "click" | "skip" | "redeem";

interface EventBase {
  event_id: string;
  customer_id: string;
  offer_id: string;
  occurred_at: string;
  request_id: string;
  channel: string;
  position: number;
  timezone: string;
}

export interface ActionEvent extends EventBase {
  kind: ActionKind;
}

export interface RatingEvent extends EventBase {
  kind: "rating";
  rating: number;
  feature_version: string;
  source: string;
  template_id: string | null;
  model: string | null;
}

export type FeedbackEvent = ActionEvent | RatingEvent;

export interface StoredAnswer {
  event_id: string;
  stored: string;
}

export interface Badge {
  id: string;
  title: string;
  earned_at: string;
}

export interface NextBadge {
  id: string;
  title: string;
  description: string;
  value: number;
  target: number;
  progress: number;
}

/** Option values keep their JSON type: the backend tells `true` from `"true"`. */
export type QuizValue = string | number | boolean;

export interface QuizQuestion {
  id: string;
  text: string;
  options: { value: QuizValue; label: string }[];
}

export interface Engagement {
  customer_id: string;
  rules_version: number;
  streak: { current_weeks: number; longest_weeks: number; last_week: string | null; weeks_since_last: number | null };
  badges: Badge[];
  next_badges: NextBadge[];
  withheld_spending: number;
  quiz: { due: boolean; last_answered_at: string | null; version: number; questions: QuizQuestion[] };
}

export interface QuizAnswers {
  event_id: string;
  customer_id: string;
  answered_at: string;
  timezone: string;
  [questionId: string]: QuizValue;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

async function request<T>(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  if (init.token) headers.Authorization = `Bearer ${init.token}`;
  let response: Response;
  try {
    response = await fetch(path, {
      method: init.method ?? "GET",
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch (err) {
    throw new ApiError(0, err instanceof Error ? err.message : "network error");
  }
  const payload: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const message =
      payload && typeof payload === "object" && "error" in payload && typeof payload.error === "string"
        ? payload.error
        : `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return payload as T;
}

export const getConfig = () => request<AppConfig>("/app/config.json");

export const listCustomers = () =>
  request<{ customers: SampleCustomer[] }>("/auth/customers").then((r) => r.customers);

export const issueToken = (customer_id: string) =>
  request<TokenResponse>("/auth/token", { method: "POST", body: { customer_id } });

export type Api = ReturnType<typeof createApi>;

/**
 * The signed-in calls. A 401 from any of them means the token is no longer
 * good, so `onUnauthorized` runs (the app drops the session) before the
 * error reaches the caller.
 */
export function createApi(session: Session, onUnauthorized: () => void) {
  const call = async <T>(path: string, body: unknown): Promise<T> => {
    try {
      return await request<T>(path, { method: "POST", body, token: session.token });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) onUnauthorized();
      throw err;
    }
  };
  return {
    customerId: session.customer_id,
    rank: (timestamp: string, channel: string) =>
      call<RankResponse>("/rank", { customer_id: session.customer_id, context: { channel, timestamp }, k: 6 }),
    engagement: (timestamp: string) =>
      call<Engagement>("/engagement", { customer_id: session.customer_id, timestamp }),
    feedback: (event: FeedbackEvent) => call<StoredAnswer>("/feedback", event),
    quiz: (answers: QuizAnswers) => call<StoredAnswer>("/quiz", answers),
  };
}

/** What to tell the customer about a failed call, and whether retrying can help. */
export function describeError(err: unknown): { message: string; retryable: boolean } {
  const status = err instanceof ApiError ? err.status : 0;
  if (status === 403) return { message: "This account can't see that customer.", retryable: false };
  if (status === 0 || status >= 500) {
    return { message: "We can't reach Smart Stack right now. Please try again in a moment.", retryable: true };
  }
  return { message: `Something went wrong: ${(err as Error).message}`, retryable: true };
}
