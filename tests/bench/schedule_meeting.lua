-- wrk script: POST /v1/meetings with a room no other request uses, so every
-- request is a real schedule (no 409s). Usage: see tests/bench/api_vs_postgres.sh.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  run_id = os.getenv("CONFER_RUN") or tostring(os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("CONFER_KEY")
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"room":"b%s-%d-%d","title":"Load","starts_at":"2031-01-01T09:00:00Z","ends_at":"2031-01-01T10:00:00Z"}',
    run_id, thread_id, counter)
  return wrk.format(nil, "/v1/meetings", nil, body)
end

local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("wrk: %d requests, %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
