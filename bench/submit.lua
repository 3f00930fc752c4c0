-- wrk script for glmq's submit path: POST /v1/jobs with a ~1 KB document, a question and
-- max_tokens 1. Every answer other than 202 Accepted is counted and reported: wrk itself
-- only counts statuses above 399 as errors, and a 200 or 3xx would pass as a success.
--
--   wrk -t2 -c32 -d10s --latency -s bench/submit.lua http://127.0.0.1:PORT
--
-- The last line it prints is machine-readable, for bench/run.sh:
--   SUBMIT_RESULT rps=<submits/s, 202 only> p50_ms=.. p99_ms=.. requests=.. accepted=..
--   non202=.. socket_errors=..

local words = {
  "the", "queue", "holds", "each", "document", "until", "a", "worker", "reads", "it",
  "and", "answers", "question", "about", "river", "village", "morning", "report", "of",
  "history", "contract", "payment", "between", "because", "through", "however", "system",
}

-- Deterministic ~1 KB of prose (exactly 1024 bytes).
local function document(bytes)
  local parts, n, i = {}, 0, 0
  while n < bytes do
    i = i + 1
    local w = words[(i * 7) % #words + 1]
    if i % 13 == 1 then w = w:sub(1, 1):upper() .. w:sub(2) end
    local piece = w .. ((i % 13 == 0) and ". " or " ")
    parts[#parts + 1] = piece
    n = n + #piece
  end
  return table.concat(parts):sub(1, bytes)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- Plain ASCII without quotes or backslashes: no JSON escaping needed.
wrk.body = '{"text":"' .. document(1024) ..
    '","question":"What does the worker do with the document?","max_tokens":1}'

-- Per-thread counters live in each thread's own Lua state; done() collects them.
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  accepted = 0
  non202 = 0
  statuses = {}
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  else
    non202 = non202 + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local ok, bad, by_status = 0, 0, {}
  for _, t in ipairs(threads) do
    ok = ok + t:get("accepted")
    bad = bad + t:get("non202")
    for code, n in pairs(t:get("statuses")) do
      by_status[code] = (by_status[code] or 0) + n
    end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  io.write("-- glmq submit --------------------------------------------------\n")
  io.write(string.format("requests answered: %d in %.2f s\n", summary.requests, seconds))
  io.write(string.format("202 accepted:      %d (%.1f submits/s)\n", ok, ok / seconds))
  io.write(string.format("non-202 answers:   %d\n", bad))
  for code, n in pairs(by_status) do
    io.write(string.format("  status %d: %d\n", code, n))
  end
  io.write(string.format("socket errors:     %d (connect %d, read %d, write %d, timeout %d)\n",
                         socket_errors, e.connect, e.read, e.write, e.timeout))
  io.write(string.format("latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                         latency:percentile(50) / 1000, latency:percentile(90) / 1000,
                         latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format(
      "SUBMIT_RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d accepted=%d non202=%d " ..
      "socket_errors=%d\n",
      ok / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      summary.requests, ok, bad, socket_errors))
end
