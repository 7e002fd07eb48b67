-- wrk script for bench/bench_serving.py: POST /rank, a random customer x the same 30 offers.
-- Environment: BENCH_CUSTOMERS (file, one id a line), BENCH_OFFERS (comma-separated),
-- BENCH_TIMESTAMP, BENCH_OUT (where the summary goes as JSON), BENCH_AUTHORIZATION (the service
-- token's header value).
local bodies = {}

function init(args)
  local offers = {}
  for id in string.gmatch(os.getenv("BENCH_OFFERS"), "[^,]+") do
    offers[#offers + 1] = '"' .. id .. '"'
  end
  local candidates = "[" .. table.concat(offers, ",") .. "]"
  for id in io.lines(os.getenv("BENCH_CUSTOMERS")) do
    bodies[#bodies + 1] = '{"customer_id":"' .. id .. '","context":{"channel":"app",'
      .. '"timestamp":"' .. os.getenv("BENCH_TIMESTAMP") .. '"},"candidate_offer_ids":'
      .. candidates .. ',"k":10}'
  end
  math.randomseed(os.time())
end

function request()
  return wrk.format("POST", "/rank", {["Content-Type"] = "application/json",
    ["Authorization"] = os.getenv("BENCH_AUTHORIZATION")}, bodies[math.random(#bodies)])
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "failures": %d, '
      .. '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f}',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
  out:close()
end
