-- wrk script: POST a JSON array of BATCH events (environment, default 1) of loadgen.requests,
-- the event `loadgen -config-only` declares, to the ingestion API. See docs/performance.md.
--
--   BATCH=1000 wrk -t2 -c4 -d10s -s pkg/ingest/internal/loadgen/post.lua http://127.0.0.1:9464/api/v1/events
local n = tonumber(os.getenv("BATCH") or "1")
local parts = {}
for i = 0, n - 1 do
  parts[#parts + 1] = string.format('{"event":"loadgen.requests","labels":{"host":"host-%d","status":"ok"},"value":1}', i % 10)
end
wrk.method = "POST"
wrk.body = "[" .. table.concat(parts, ",") .. "]"
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("batch=%d  events/s %.0f  requests/s %.0f  non-2xx %d  p50 %.0fus  p99 %.0fus\n",
    n, summary.requests / secs * n, summary.requests / secs, summary.errors.status,
    latency:percentile(50), latency:percentile(99)))
end
