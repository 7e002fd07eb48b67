// k6 scenario for bench/bench_serving.py: POST /rank, a random customer x the same 30 offers.
//
// With BENCH_RATE: a fixed arrival rate (open loop). k6's constant-arrival-rate executor starts
// requests on schedule whether or not earlier ones have answered, so a slow server shows up as
// latency (and dropped iterations), not as a lower request rate: no coordinated omission.
// With BENCH_VUS instead: that many clients back to back (closed loop), for machines without
// wrk. Go's HTTP client costs the two shared cores far less than a Python load generator.
//
// Environment: BENCH_URL, BENCH_RATE (requests/s) or BENCH_VUS, BENCH_SECONDS, BENCH_CUSTOMERS
// (file, one id a line), BENCH_OFFERS (comma-separated), BENCH_TIMESTAMP, BENCH_OUT (summary),
// BENCH_AUTHORIZATION (the service token's header value).
import http from "k6/http";
import { SharedArray } from "k6/data";

const customers = new SharedArray("customers", () =>
  open(__ENV.BENCH_CUSTOMERS).split("\n").filter((id) => id.length > 0),
);
const offers = __ENV.BENCH_OFFERS.split(",");

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ["p(50)", "p(95)", "p(99)", "avg", "max", "count"],
  scenarios: {
    load: __ENV.BENCH_VUS
      ? {
          executor: "constant-vus",
          vus: Number(__ENV.BENCH_VUS),
          duration: `${__ENV.BENCH_SECONDS}s`,
        }
      : {
          executor: "constant-arrival-rate",
          rate: Number(__ENV.BENCH_RATE),
          timeUnit: "1s",
          duration: `${__ENV.BENCH_SECONDS}s`,
          preAllocatedVUs: 64,
          maxVUs: 512,
        },
  },
};

export default function () {
  const body = JSON.stringify({
    customer_id: customers[Math.floor(Math.random() * customers.length)],
    context: { channel: "app", timestamp: __ENV.BENCH_TIMESTAMP },
    candidate_offer_ids: offers,
    k: 10,
  });
  http.post(`${__ENV.BENCH_URL}/rank`, body, {
    headers: {
      "Content-Type": "application/json",
      Authorization: __ENV.BENCH_AUTHORIZATION,
    },
    timeout: "5s",
  });
}

export function handleSummary(data) {
  const duration = data.metrics.http_req_duration.values;
  const failed = data.metrics.http_req_failed.values;
  const dropped = data.metrics.dropped_iterations;
  const summary = {
    requests: duration.count,
    seconds: data.state.testRunDurationMs / 1000,
    failures: Math.round(failed.rate * duration.count),
    dropped: dropped ? dropped.values.count : 0,
    p50_ms: duration["p(50)"],
    p95_ms: duration["p(95)"],
    p99_ms: duration["p(99)"],
  };
  return { [__ENV.BENCH_OUT]: JSON.stringify(summary) };
}
