-- Prints one JSON line with the numbers bench scripts need (latencies in microseconds),
-- and counts responses whose status differs from the first one each thread saw, so a
-- run that drifts into redirects or errors shows up.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  first_status = 0
  other = 0
end

function response(status, headers, body)
  if first_status == 0 then first_status = status end
  if status ~= first_status then other = other + 1 end
end

function done(summary, latency, requests)
  local other_total, status = 0, 0
  for _, thread in ipairs(threads) do
    other_total = other_total + (thread:get("other") or 0)
    status = thread:get("first_status") or status
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "p50_us": %d, '
      .. '"p95_us": %d, "p99_us": %d, "other_status": %d, "status": %d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), other_total, status))
end
