// k6 scenarios for bench/chaos.py: open-loop load on /rank, /feedback and /explain at once.
//
// Each scenario is a constant-arrival-rate executor (requests start on schedule whether or not
// earlier ones answered: a stalled server shows up as latency and errors, not as fewer
// requests). Every response is one JSON line in the log (--log-output file, --log-format raw):
//   {"e": endpoint, "t": start (ms since the epoch), "ms": latency, "s": status,
//    "tier": the tier /rank named (null if none), "id": the feedback event id, "a": attempt}
// A /feedback answered 5xx or not at all is sent again with the same event id (the endpoint's
// contract: retry, duplicates are dropped by id), after its Retry-After, up to
// BENCH_FEEDBACK_ATTEMPTS times; every attempt is a line of its own.
//
// Environment: BENCH_URL, BENCH_SECONDS, BENCH_RANK_RATE, BENCH_FEEDBACK_RATE,
// BENCH_EXPLAIN_RATE, BENCH_CUSTOMERS (file, one id a line), BENCH_OFFERS (comma-separated),
// BENCH_TIMESTAMP, BENCH_AUTHORIZATION, BENCH_RUN (prefix of the event ids), BENCH_OUT (summary),
// BENCH_FEEDBACK_ATTEMPTS.
import http from "k6/http";
import exec from "k6/execution";
import { sleep } from "k6";
import { SharedArray } from "k6/data";

const customers = new SharedArray("customers", () =>
  open(__ENV.BENCH_CUSTOMERS).split("\n").filter((id) => id.length > 0),
);
const offers = __ENV.BENCH_OFFERS.split(",");
const headers = {
  "Content-Type": "application/json",
  Authorization: __ENV.BENCH_AUTHORIZATION,
};
const attempts = Number(__ENV.BENCH_FEEDBACK_ATTEMPTS || "5");

function scenario(rate, exec) {
  return {
    executor: "constant-arrival-rate",
    exec,
    rate,
    timeUnit: "1s",
    duration: `${__ENV.BENCH_SECONDS}s`,
    preAllocatedVUs: Math.max(8, Math.ceil(rate / 4)),
    maxVUs: Math.max(64, rate * 6),
  };
}

const scenarios = {};
for (const [name, rate] of [
  ["rank", Number(__ENV.BENCH_RANK_RATE)],
  ["feedback", Number(__ENV.BENCH_FEEDBACK_RATE)],
  ["explain", Number(__ENV.BENCH_EXPLAIN_RATE || "0")],
]) {
  if (rate > 0) scenarios[name] = scenario(rate, name);
}

export const options = { scenarios, summaryTrendStats: ["p(50)", "p(99)", "count"] };

function customer() {
  return customers[Math.floor(Math.random() * customers.length)];
}

function record(endpoint, started, res, extra) {
  console.log(
    JSON.stringify({ e: endpoint, t: started, ms: res.timings.duration, s: res.status, ...extra }),
  );
}

export function rank() {
  const body = JSON.stringify({
    customer_id: customer(),
    context: { channel: "app", timestamp: __ENV.BENCH_TIMESTAMP },
    candidate_offer_ids: offers,
    k: 10,
  });
  const started = Date.now();
  const res = http.post(`${__ENV.BENCH_URL}/rank`, body, { headers, timeout: "5s" });
  let tier = null;
  if (res.status === 200) {
    try {
      tier = JSON.parse(res.body).tier || null;
    } catch (_) {
      tier = null;
    }
  }
  record("rank", started, res, { tier });
}

export function feedback() {
  const id = `${__ENV.BENCH_RUN}-${exec.scenario.iterationInTest}`;
  const body = JSON.stringify({
    event_id: id,
    kind: "click",
    customer_id: customer(),
    offer_id: offers[Math.floor(Math.random() * offers.length)],
    occurred_at: __ENV.BENCH_TIMESTAMP,
    request_id: `${__ENV.BENCH_RUN}-request`,
    channel: "app",
    position: 1,
  });
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const started = Date.now();
    const res = http.post(`${__ENV.BENCH_URL}/feedback`, body, { headers, timeout: "5s" });
    record("feedback", started, res, { id, a: attempt });
    if (res.status !== 0 && res.status < 500) return;
    sleep(Number(res.headers["Retry-After"] || "1"));
  }
}

export function explain() {
  const body = JSON.stringify({
    customer_id: customer(),
    offer_id: offers[Math.floor(Math.random() * offers.length)],
    context: { channel: "app", timestamp: __ENV.BENCH_TIMESTAMP },
  });
  const started = Date.now();
  const res = http.post(`${__ENV.BENCH_URL}/explain`, body, { headers, timeout: "10s" });
  let source = null;
  if (res.status === 200) {
    try {
      source = JSON.parse(res.body).explanation.source || null;
    } catch (_) {
      source = null;
    }
  }
  record("explain", started, res, { source });
}

export function handleSummary(data) {
  const dropped = data.metrics.dropped_iterations;
  return {
    [__ENV.BENCH_OUT]: JSON.stringify({
      seconds: data.state.testRunDurationMs / 1000,
      dropped: dropped ? dropped.values.count : 0,
    }),
  };
}
