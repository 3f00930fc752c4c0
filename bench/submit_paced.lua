-- wrk script: bench/submit.lua's POST /v1/jobs at a fixed rate instead of as fast as
-- possible, for the latency of a server that is not saturated.
--
--   wrk -t2 -c32 -d10s --latency -s bench/submit_paced.lua URL/v1/jobs -- RATE THREADS
--
-- RATE is the total requests per second and THREADS must equal -t. wrk (unlike wrk2) has
-- no rate option, but asks delay() before every request: each thread keeps an absolute
-- schedule (one slot every THREADS/RATE s) and waits for the next slot. The rate therefore
-- holds as long as a connection is free at each slot; a slot taken more than 1 ms late
-- means every connection was busy, and wrk's latency (measured from the actual send) would
-- hide that wait, so late slots are counted and reported.
--
-- Last line, for bench/redis_submit.sh:
--   PACED_RESULT rate=<sent/s> p50_ms=.. p99_ms=.. requests=.. non202=.. late=..
--   max_late_ms=.. socket_errors=..

-- The request body and the 202 counting, from the file next to this one.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "submit.lua")

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } glmq_timespec;
  int clock_gettime(int clock_id, glmq_timespec* ts);
]]
local kClockMonotonic = 1
local now_ts = ffi.new("glmq_timespec")

local function NowMs()
  ffi.C.clock_gettime(kClockMonotonic, now_ts)
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

-- submit.lua keeps its thread list to itself; this one is for the lateness counters.
local paced_threads = {}
local count_setup = setup
function setup(thread)
  count_setup(thread)
  paced_threads[#paced_threads + 1] = thread
end

local count_init = init
function init(args)
  count_init(args)
  local rate = tonumber(args[1])
  local threads = tonumber(args[2])
  if not rate or not threads or rate <= 0 or threads <= 0 then
    error("usage: wrk ... -s bench/submit_paced.lua URL -- RATE THREADS")
  end
  interval_ms = threads * 1000 / rate
  start_ms = nil
  slot = 0
  late = 0
  max_late_ms = 0
end

function delay()
  local now = NowMs()
  if start_ms == nil then start_ms = now end
  local due = start_ms + slot * interval_ms
  slot = slot + 1
  local wait = due - now
  if wait < -1 then
    late = late + 1
    if -wait > max_late_ms then max_late_ms = -wait end
  end
  -- wrk's timers have 1 ms resolution; the absolute schedule keeps the average rate exact.
  return wait > 0 and math.floor(wait) or 0
end

local count_done = done
function done(summary, latency, requests)
  count_done(summary, latency, requests)
  local late_total, max_late, bad = 0, 0, 0
  for _, t in ipairs(paced_threads) do
    late_total = late_total + t:get("late")
    max_late = math.max(max_late, t:get("max_late_ms"))
    bad = bad + t:get("non202")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format("late slots (> 1 ms): %d, worst %.1f ms\n", late_total, max_late))
  io.write(string.format(
      "PACED_RESULT rate=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non202=%d late=%d " ..
      "max_late_ms=%.1f socket_errors=%d\n",
      summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      summary.requests, bad, late_total, max_late, e.connect + e.read + e.write + e.timeout))
end
