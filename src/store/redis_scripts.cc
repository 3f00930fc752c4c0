// The Lua scripts of RedisJobStore, one per store operation, each the whole of an atomic
// step. Over 500 lines: a script reads best whole, and the helpers they share are in
// redis_scripts_prelude.cc already.
#include "store/redis_scripts.h"

#include <array>

#include "store/redis_scripts_prelude.h"

namespace glmq::redis {
namespace {

constexpr char kInsert[] = R"lua(
local id = ARGV[3]
if redis.call('EXISTS', jkey(id)) == 1 then return fail('CONFLICT', 'job ' .. id .. ' already exists') end
local seq = redis.call('INCR', P .. 'seq')
local q = write_job(id, seq, ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[15],
                    ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14])
enqueue_new({q})
publish(id, 'queued')
if ARGV[16] then idempotent_done(ARGV[16], ARGV[17], ARGV[18], ARGV[19], id, ARGV[20], ARGV[21]) end
return seq
)lua";

// Each job sees the work that sorts before it, jobs inserted before it in this batch
// included. A new job usually sorts after everything queued (keys grow with arrival time,
// and its seq is the largest): then it takes the queue's size and totals, kept up to date
// here as the batch goes, and the indexes are written once for the whole batch
// (enqueue_new). Any other job is queued at once and walks the queue (work_ahead_of). A
// queued event says only that there is work, so the batch publishes one, for its last job.
constexpr char kInsertBatch[] = R"lua(
local n = tonumber(ARGV[3])
local stride = 22
local queue = P .. 'queue'
local total = redis.call('ZCARD', queue)
local tail = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
local tail_key = tonumber(tail[2])
local tail_created_at = tail[1] and tonumber(string.sub(tail[1], 1, 16))
local all_pt, all_mt = queued_totals()
local first_seq = redis.call('INCRBY', P .. 'seq', n) - n
-- WaitModel::StartsNow
local function starts_now(a, pt, mt) return ARGV[a + 16] ~= '' and pt == 0 and mt == 0 end
local function wait_for(a, pt, mt)
  if starts_now(a, pt, mt) then return tonumber(ARGV[a + 16]) end
  local ahead = pt * tonumber(ARGV[a + 14]) + mt * tonumber(ARGV[a + 15])
  local all = tonumber(ARGV[a + 13]) + ahead
  local at_least = tonumber(ARGV[a + 21])  -- WaitModel::at_least
  -- WaitModel::FirstEnd: 'seconds slope'
  if ARGV[a + 20] == '' then return math.max(at_least, all) end
  local seconds, slope = string.match(ARGV[a + 20], '(%S+) (%S+)')
  return math.max(at_least, math.min(all, tonumber(seconds) + tonumber(slope) * ahead))
end
-- The overtaking foreseen (WaitModel::Overtaken): the least of 'intercept slope ...' lines.
local function overtaken(lines, w)
  local least = nil
  for intercept, slope in string.gmatch(lines, '(%S+) (%S+)') do
    local v = tonumber(intercept) + tonumber(slope) * w
    if least == nil or v < least then least = v end
  end
  return least or w
end
-- WaitModel::Told, or with a promise the wait ahead plus half the slack (PlaceNewJob).
local function told(a, pt, mt)
  local w = wait_for(a, pt, mt)
  if ARGV[a + 17] ~= '' then
    w = w + tonumber(ARGV[a + 17]) / 2
  elseif ARGV[a + 19] ~= '' and not starts_now(a, pt, mt) then
    w = overtaken(ARGV[a + 19], w)
  end
  return string.format('%.17g', w)
end
local function after_tail(key, created)
  return total == 0 or key > tail_key or (key == tail_key and created >= tail_created_at)
end
-- Ids are fresh, so one EXISTS for the whole batch nearly always answers 0, and then no job
-- needs a lookup of its own; `seen` refuses an id given twice in the batch.
local keys = {}
for i = 0, n - 1 do keys[i + 1] = jkey(ARGV[3 + i * stride + 1]) end
local check_each = redis.call('EXISTS', unpack(keys)) > 0
local seen = {}
local out, pending = {}, {}
local last_id = nil
for i = 0, n - 1 do
  local a = 3 + i * stride
  local id, created_at, order_key = ARGV[a + 1], ARGV[a + 2], ARGV[a + 6]
  local key, created = tonumber(order_key), tonumber(created_at)
  local seq = first_seq + i + 1
  local at_tail = after_tail(key, created)
  if ARGV[a + 17] ~= '' then
    -- A promised start (PlaceNewJob): the key moves later by the wait of the work before
    -- it until that work stops growing, in at most 16 rounds (kPromiseRounds). At the
    -- tail, all of it in one round.
    local base = key
    if not at_tail then
      enqueue_new(pending)
      pending = {}
    end
    for round = 1, 16 do
      local pt, mt = all_pt, all_mt
      if not at_tail then
        local _
        _, pt, mt = work_before(key)
      end
      local next_key = base + math.floor(1000 * wait_for(a, pt, mt) + 0.5)
      if next_key <= key then break end
      key = next_key
      if at_tail then break end
      at_tail = after_tail(key, created)
    end
    order_key = string.format('%d', key)
  elseif ARGV[a + 22] ~= '' and ARGV[a + 18] ~= '0' then
    -- A kept estimate (PlaceNewJob): the key moves earlier to the arrival plus the wait
    -- told for the work before it, until it stops moving, in at most 16 rounds.
    local arrival = key - math.floor(1000 * tonumber(ARGV[a + 22]) + 0.5)
    for round = 1, 16 do
      local pt, mt = all_pt, all_mt
      if not at_tail then
        enqueue_new(pending)
        pending = {}
        local _
        _, pt, mt = work_before(key)
      end
      local next_key = arrival + math.floor(1000 * tonumber(told(a, pt, mt)) + 0.5)
      if next_key >= key then break end
      key = next_key
      at_tail = after_tail(key, created)
    end
    order_key = string.format('%d', key)
  end
  local ahead, pt, mt = 0, 0, 0
  if at_tail then ahead, pt, mt = total, all_pt, all_mt end
  local wait = told(a, pt, mt)
  local q = false
  if not (seen[id] or (check_each and redis.call('EXISTS', jkey(id)) == 1)) then
    seen[id] = true
    q = write_job(id, seq, created_at, ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], order_key,
                  ARGV[a + 7], wait, ARGV[a + 8], ARGV[a + 9], ARGV[a + 10], ARGV[a + 11],
                  ARGV[a + 12])
  end
  if q then
    table.insert(pending, q)
    if at_tail then
      tail_key, tail_created_at = key, created
    else
      enqueue_new(pending)
      pending = {}
      -- Walks the queue: skipped for a job whose place is not measured (a batch's line).
      if ARGV[a + 18] ~= '0' then
        ahead, pt, mt = work_ahead_of(q.member)
        wait = told(a, pt, mt)
        redis.call('HSET', jkey(id), 'estimated_wait_seconds', wait)
      end
    end
    out[i + 1] = {seq, ahead, pt, mt, wait, order_key}
    total = total + 1
    all_pt = all_pt + to_read(q.prompt_tokens, q.shared)
    all_mt = all_mt + tonumber(q.max_tokens)
    last_id = id
  else
    out[i + 1] = false
  end
end
enqueue_new(pending)
if last_id then publish(last_id, 'queued') end
return out
)lua";

// Walks the listing newest first from the cursor down; entries whose job expired before a
// sweep reached them are dropped on the way, so a page is short only at the end. A state
// filter reads that state's listing; without one, the listings of every state are merged
// (a job is in exactly one), which spares each submit a write to a listing of all jobs.
// ARGV[8] '1' lists tenant ARGV[9]'s jobs; '' every tenant's (their listings merged too).
constexpr char kList[] = R"lua(
sweep(ARGV[6], tonumber(ARGV[7]))
local tenants = {ARGV[9]}
if ARGV[8] == '' then
  tenants = redis.call('SMEMBERS', P .. 'tenants')
  table.insert(tenants, '')
end
local states = STATES
if ARGV[4] ~= '' then states = {ARGV[4]} end
local sets = {}
for _, t in ipairs(tenants) do
  for _, s in ipairs(states) do table.insert(sets, listing(t, s)) end
end
local upper = '+'
if ARGV[3] ~= '' then
  local m = redis.call('HGET', jkey(ARGV[3]), 'member')
  if not m then return fail('INVALID', 'unknown list cursor: ' .. ARGV[3]) end
  upper = '(' .. m
end
local limit = tonumber(ARGV[5])
local out = {}
while #out < limit do
  local want = limit - #out
  -- The `want` newest of the merge are among the `want` newest of each listing. Members
  -- differ within their leading digits, so comparing them as strings orders them.
  local batch = {}
  for _, set in ipairs(sets) do
    for _, m in ipairs(redis.call('ZREVRANGEBYLEX', set, upper, '-', 'LIMIT', 0, want)) do
      table.insert(batch, m)
    end
  end
  if #batch == 0 then break end
  if #sets > 1 then table.sort(batch, function(a, b) return a > b end) end
  for i = 1, math.min(want, #batch) do
    local m = batch[i]
    if redis.call('HGET', jkey(id_of(m)), 'member') == m then
      table.insert(out, redis.call('HGETALL', jkey(id_of(m))))
    else
      drop_listings(m)
    end
    upper = '(' .. m
  end
end
return out
)lua";

// ARGV[6] '1': fair share picks the tenant first; ARGV[7], ARGV[8]: the claim limit
// (next_member's below and pass).
constexpr char kClaim[] = R"lua(
while true do
  local member = next_member(ARGV[6] == '1', tonumber(ARGV[7]), tonumber(ARGV[8]))
  if not member then return false end
  local id = id_of(member)
  local q = queue_fields(id)
  if q and q.member == member and job_state(id) == 'queued' then
    queue_remove(id, q)
    local key = jkey(id)
    local started_at = redis.call('HGET', key, 'started_at')
    if not started_at or started_at == '0' then
      redis.call('HSET', key, 'started_at', ARGV[4])
    end
    redis.call('HSET', key, 'state', 'running', 'worker', ARGV[3], 'lease_expires_at', ARGV[5])
    redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('ZADD', P .. 'leases', ARGV[5], id)
    redis.call('SADD', P .. 'worker_jobs:' .. ARGV[3], id)
    set_listing(member, 'queued', 'running')
    serve(tenant_of(member), tonumber(q.prompt_tokens), tonumber(q.max_tokens))
    publish(id, 'running')
    return redis.call('HGETALL', key)
  end
  -- Its job is gone: not work any more.
  redis.call('ZREM', P .. 'queue', member)
  leave_tenant_queue(member, false)
end
)lua";

// ARGV[5..]: the jobs the worker runs; those it holds here but does not list keep their
// lease as it is (and are reaped when it runs out).
constexpr char kRenewLeases[] = R"lua(
local set = P .. 'worker_jobs:' .. ARGV[3]
local listed = {}
for i = 5, #ARGV do listed[ARGV[i]] = true end
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local v = redis.call('HMGET', jkey(id), 'state', 'worker')
  if v[1] ~= 'running' or v[2] ~= ARGV[3] then
    redis.call('SREM', set, id)
  elseif listed[id] then
    redis.call('HSET', jkey(id), 'lease_expires_at', ARGV[4])
    redis.call('ZADD', P .. 'leases', ARGV[4], id)
    n = n + 1
  end
end
return n
)lua";

constexpr char kProgress[] = R"lua(
local id = ARGV[3]
local v = redis.call('HMGET', jkey(id), 'state', 'worker')
if v[1] ~= 'running' or v[2] ~= ARGV[7] then
  return not_running(id, 'record progress of', v[1] or nil)
end
redis.call('HSET', jkey(id), 'progress_prompt_tokens_read', ARGV[4],
           'progress_completion_tokens', ARGV[5], 'output', ARGV[8])
if tonumber(ARGV[6]) > 0 then redis.call('HSET', jkey(id), 'prompt_tokens', ARGV[6]) end
return 1
)lua";

// The guard on state and worker makes a result write-once: a second result, or a late one
// from a worker that lost its lease, finds the job no longer running under it.
constexpr char kComplete[] = R"lua(
local id = ARGV[3]
local v = redis.call('HMGET', jkey(id), 'state', 'worker', 'member', 'max_tokens')
if v[1] ~= 'running' or v[2] ~= ARGV[4] then return not_running(id, 'complete', v[1]) end
-- The claim charged all of max_tokens; what the job did not generate goes back.
local unused = (tonumber(v[4]) or 0) - (tonumber(ARGV[9]) or 0)
if unused > 0 then serve(tenant_of(v[3]), 0, -unused) end
redis.call('HSET', jkey(id), 'state', ARGV[5], 'output', ARGV[6], 'finish_reason', ARGV[7],
           'usage_prompt_tokens', ARGV[8], 'usage_completion_tokens', ARGV[9],
           'error_code', ARGV[10], 'error_message', ARGV[11], 'finished_at', ARGV[12],
           'usage_cached_tokens', ARGV[15], 'lease_expires_at', '0')
if ARGV[5] == 'succeeded' and tonumber(ARGV[8]) > 0 then
  redis.call('HSET', jkey(id), 'prompt_tokens', ARGV[8])
end
end_lease(id, v[2])
finish(id, v[3], 'running', ARGV[5], ARGV[13], ARGV[14])
return 1
)lua";

constexpr char kCancel[] = R"lua(
local id = ARGV[3]
local state = job_state(id)
if not state then return fail('NOTFOUND', 'no job ' .. id) end
local changed = 0
if state == 'queued' then
  changed = 1
  local q = queue_fields(id)
  queue_remove(id, q)
  redis.call('HSET', jkey(id), 'state', 'cancelled', 'finished_at', ARGV[4],
             'finish_reason', 'cancelled')
  finish(id, q.member, 'queued', 'cancelled', ARGV[5], ARGV[6])
elseif state == 'running' then
  -- Not a state change: the engine sees the flag, stops, and completes as cancelled.
  redis.call('HSET', jkey(id), 'cancel_requested', '1')
end
return {changed, redis.call('HGETALL', jkey(id))}
)lua";

constexpr char kSetQueuedCost[] = R"lua(
local id = ARGV[3]
if job_state(id) ~= 'queued' then return fail('CONFLICT', 'job ' .. id .. ' is not queued') end
local q = queue_fields(id)
queue_remove(id, q, true)
redis.call('HSET', jkey(id), 'prompt_tokens', ARGV[4], 'class', ARGV[5], 'order_key', ARGV[6])
-- JobStore::SetQueuedCost: the shared part keeps its share of the prompt.
local old, new, shared = tonumber(q.prompt_tokens), tonumber(ARGV[4]), tonumber(q.shared)
if shared > 0 then
  shared = old > 0 and math.max(0, math.min(new - 1, math.floor(shared * new / old))) or 0
  q.shared = string.format('%d', shared)
  redis.call('HSET', jkey(id), 'shared_prompt_tokens', q.shared)
end
q.prompt_tokens = ARGV[4]
q.class = ARGV[5]
q.order_key = ARGV[6]
queue_add(id, q)
return 1
)lua";

constexpr char kFailQueued[] = R"lua(
local id = ARGV[3]
if job_state(id) ~= 'queued' then return fail('CONFLICT', 'job ' .. id .. ' is not queued') end
local q = queue_fields(id)
queue_remove(id, q)
redis.call('HSET', jkey(id), 'state', 'failed', 'finished_at', ARGV[6], 'finish_reason', 'error',
           'error_code', ARGV[4], 'error_message', ARGV[5])
finish(id, q.member, 'queued', 'failed', ARGV[7], ARGV[8])
return 1
)lua";

constexpr char kExpireOverdue[] = R"lua(
sweep(ARGV[3], tonumber(ARGV[6]))
local expired = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', ARGV[3])) do
  local q = queue_fields(id)
  if q and job_state(id) == 'queued' then
    queue_remove(id, q)
    redis.call('HSET', jkey(id), 'state', 'expired', 'finished_at', ARGV[3],
               'finish_reason', 'timeout', 'error_code', 'timeout',
               'error_message', 'deadline passed while queued')
    finish(id, q.member, 'queued', 'expired', ARGV[4], ARGV[5])
    table.insert(expired, id)
  else
    redis.call('ZREM', P .. 'deadlines', id)
  end
end
return expired
)lua";

// A job whose cancel was requested is not worth running again; one that used up its
// deliveries is dead-lettered; any other goes back to the queue in its old place (same
// member, same order key).
constexpr char kReap[] = R"lua(
local moved = {}
local max = tonumber(ARGV[4])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', ARGV[3])) do
  local key = jkey(id)
  local v = redis.call('HMGET', key, 'state', 'worker', 'member', 'cancel_requested', 'attempts')
  end_lease(id, v[2])
  if v[1] == 'running' then
    if v[4] == '1' then
      redis.call('HSET', key, 'state', 'cancelled', 'finished_at', ARGV[3],
                 'finish_reason', 'cancelled', 'lease_expires_at', '0')
      finish(id, v[3], 'running', 'cancelled', ARGV[5], ARGV[6])
      table.insert(moved, id)
      table.insert(moved, 'cancelled')
    elseif max > 0 and (tonumber(v[5]) or 0) >= max then
      redis.call('HSET', key, 'state', 'failed', 'dead_letter', '1', 'finished_at', ARGV[3],
                 'finish_reason', 'error', 'error_code', 'dead_letter',
                 'error_message', 'lease lost ' .. v[5] .. ' times; delivery limit reached',
                 'lease_expires_at', '0')
      redis.call('ZADD', P .. 'dead', ARGV[5], v[3])
      finish(id, v[3], 'running', 'failed', ARGV[5], ARGV[6])
      table.insert(moved, id)
      table.insert(moved, 'failed')
    else
      back_to_queue(id, v[3])
      table.insert(moved, id)
      table.insert(moved, 'queued')
    end
  end
end
return moved
)lua";

// A graceful hand-back: the run does not count as a delivery.
constexpr char kRelease[] = R"lua(
local id = ARGV[3]
local v = redis.call('HMGET', jkey(id), 'state', 'worker', 'member', 'attempts')
if v[1] ~= 'running' or v[2] ~= ARGV[4] then return not_running(id, 'release', v[1]) end
end_lease(id, v[2])
if (tonumber(v[4]) or 0) > 0 then redis.call('HINCRBY', jkey(id), 'attempts', -1) end
back_to_queue(id, v[3])
return 1
)lua";

constexpr char kPosition[] = R"lua(
local v = redis.call('HMGET', jkey(ARGV[3]), 'state', 'member')
if not v[1] then return fail('NOTFOUND', 'no job ' .. ARGV[3]) end
if v[1] ~= 'queued' then return 0 end
local rank = redis.call('ZRANK', P .. 'queue', v[2])
if not rank then return 0 end
return rank + 1
)lua";

constexpr char kWorkBefore[] = R"lua(
local ahead, pt, mt = work_before(ARGV[3])
return {ahead, pt, mt}
)lua";

constexpr char kHead[] = R"lua(
local m = next_member(ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5]))
if not m then return {} end
local v = redis.call('HMGET', jkey(id_of(m)), 'order_key', 'prompt_tokens', 'max_tokens')
return {tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0}
)lua";

constexpr char kSnapshot[] = R"lua(
local out = {}
local stats = P .. 'stats'
for _, c in ipairs(CLASSES) do
  local oldest = redis.call('ZRANGE', P .. 'oldest:' .. c, 0, 0, 'WITHSCORES')
  table.insert(out, redis.call('ZCARD', P .. 'oldest:' .. c))
  table.insert(out, redis.call('HGET', stats, 'prompt_tokens:' .. c) or '0')
  table.insert(out, redis.call('HGET', stats, 'max_tokens:' .. c) or '0')
  table.insert(out, oldest[2] or '0')
end
table.insert(out, redis.call('ZCARD', P .. 'queue'))
table.insert(out, redis.call('ZCARD', P .. 'leases'))
for _, s in ipairs(TERMINAL) do
  table.insert(out, redis.call('ZCOUNT', P .. 'ended:' .. s, '(' .. ARGV[3], '+inf'))
end
table.insert(out, redis.call('ZCOUNT', P .. 'dead', '(' .. ARGV[3], '+inf'))
return out
)lua";

// A record counts until its expires_at (compared with the caller's clock); Redis's own
// expiry (gc_ms) only reclaims the memory afterwards.
constexpr char kBeginIdempotent[] = R"lua(
local k = P .. 'idem:' .. ARGV[3]
local v = redis.call('HMGET', k, 'state', 'body_sha256', 'expires_at', 'status', 'response',
                     'job_id')
if v[1] and tonumber(v[3]) > tonumber(ARGV[5]) then
  if v[2] ~= ARGV[4] then return {'mismatch'} end
  if v[1] == 'done' then return {'done', v[4], v[5], v[6]} end
  return {'in_flight'}
end
redis.call('HSET', k, 'state', 'in_flight', 'body_sha256', ARGV[4], 'expires_at', ARGV[6],
           'status', '0', 'response', '', 'job_id', '')
redis.call('PEXPIRE', k, ARGV[7])
return {'reserved'}
)lua";

constexpr char kFinishIdempotent[] = R"lua(
idempotent_done(ARGV[3], ARGV[4], ARGV[5], ARGV[6], '', ARGV[7], ARGV[8])
return 1
)lua";

constexpr char kAbandonIdempotent[] = R"lua(
local k = P .. 'idem:' .. ARGV[3]
local v = redis.call('HMGET', k, 'state', 'body_sha256')
if v[1] == 'in_flight' and v[2] == ARGV[4] then redis.call('DEL', k) end
return 1
)lua";

constexpr char kAcquireLease[] = R"lua(
local k = P .. 'lease:' .. ARGV[3]
local v = redis.call('HMGET', k, 'holder', 'expires_at')
if v[1] and v[1] ~= ARGV[4] and tonumber(v[2]) > tonumber(ARGV[5]) then return 0 end
redis.call('HSET', k, 'holder', ARGV[4], 'expires_at', ARGV[6])
redis.call('PEXPIRE', k, ARGV[7])
return 1
)lua";

// 'workers' scores each worker by the time it stops counting as alive; 'worker_reports'
// holds its last report. Workers silent for long are forgotten from both.
constexpr char kWorkerBeat[] = R"lua(
local workers, reports = P .. 'workers', P .. 'worker_reports'
redis.call('ZADD', workers, ARGV[4], ARGV[3])
redis.call('HSET', reports, ARGV[3], ARGV[5])
local gone = redis.call('ZRANGEBYSCORE', workers, '-inf', '(' .. ARGV[6])
if #gone > 0 then
  redis.call('HDEL', reports, unpack(gone))
  redis.call('ZREM', workers, unpack(gone))
end
return #gone
)lua";

constexpr char kWorkerReports[] = R"lua(
local alive = redis.call('ZRANGEBYSCORE', P .. 'workers', '(' .. ARGV[3], '+inf')
if #alive == 0 then return {} end
local out = {}
for _, r in ipairs(redis.call('HMGET', P .. 'worker_reports', unpack(alive))) do
  if r then table.insert(out, r) end
end
return out
)lua";

constexpr char kClaimWebhooks[] = R"lua(
local due = redis.call('ZRANGEBYSCORE', P .. 'webhooks', '-inf', ARGV[3], 'LIMIT', 0,
                       tonumber(ARGV[5]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZADD', P .. 'webhooks', ARGV[4], id)
  table.insert(out, id)
  table.insert(out, redis.call('HINCRBY', P .. 'webhook_attempts', id, 1))
end
return out
)lua";

// A claim taken back: due at ARGV[4], its attempt uncounted; an ended delivery stays ended.
constexpr char kDeferWebhook[] = R"lua(
if not redis.call('ZSCORE', P .. 'webhooks', ARGV[3]) then return 0 end
redis.call('ZADD', P .. 'webhooks', ARGV[4], ARGV[3])
if (tonumber(redis.call('HGET', P .. 'webhook_attempts', ARGV[3])) or 0) > 0 then
  redis.call('HINCRBY', P .. 'webhook_attempts', ARGV[3], -1)
end
return 1
)lua";

constexpr char kEndWebhook[] = R"lua(
redis.call('ZREM', P .. 'webhooks', ARGV[3])
redis.call('HDEL', P .. 'webhook_attempts', ARGV[3])
return 1
)lua";

// API keys: P api_keys holds id -> record (JSON), P api_key_hashes sha256 -> id, so a hash
// is never given twice.
constexpr char kAddApiKey[] = R"lua(
if redis.call('HEXISTS', P .. 'api_keys', ARGV[3]) == 1 or
   redis.call('HEXISTS', P .. 'api_key_hashes', ARGV[4]) == 1 then return 0 end
redis.call('HSET', P .. 'api_keys', ARGV[3], ARGV[5])
redis.call('HSET', P .. 'api_key_hashes', ARGV[4], ARGV[3])
return 1
)lua";

constexpr char kRemoveApiKey[] = R"lua(
local record = redis.call('HGET', P .. 'api_keys', ARGV[3])
if not record then return 0 end
redis.call('HDEL', P .. 'api_keys', ARGV[3])
local sha = cjson.decode(record)['sha256']
if sha then redis.call('HDEL', P .. 'api_key_hashes', sha) end
return 1
)lua";

constexpr char kSetTenantSettings[] = R"lua(
redis.call('DEL', P .. 'share_weights', P .. 'tenant_retention')
local weights_end = 4 + 2 * tonumber(ARGV[3])
for i = 4, #ARGV, 2 do
  local key = i < weights_end and 'share_weights' or 'tenant_retention'
  redis.call('HSET', P .. key, ARGV[i], ARGV[i + 1])
end
return 1
)lua";

struct Entry {
  const char* name;
  const char* body;
};

constexpr std::array<Entry, kScriptCount> kEntries = {{
    {"insert", kInsert},
    {"insert_batch", kInsertBatch},
    {"list", kList},
    {"claim", kClaim},
    {"renew_leases", kRenewLeases},
    {"progress", kProgress},
    {"complete", kComplete},
    {"cancel", kCancel},
    {"set_queued_cost", kSetQueuedCost},
    {"fail_queued", kFailQueued},
    {"expire_overdue", kExpireOverdue},
    {"reap", kReap},
    {"release", kRelease},
    {"position", kPosition},
    {"work_before", kWorkBefore},
    {"head", kHead},
    {"snapshot", kSnapshot},
    {"begin_idempotent", kBeginIdempotent},
    {"finish_idempotent", kFinishIdempotent},
    {"abandon_idempotent", kAbandonIdempotent},
    {"acquire_lease", kAcquireLease},
    {"worker_beat", kWorkerBeat},
    {"worker_reports", kWorkerReports},
    {"claim_webhooks", kClaimWebhooks},
    {"end_webhook", kEndWebhook},
    {"defer_webhook", kDeferWebhook},
    {"add_api_key", kAddApiKey},
    {"remove_api_key", kRemoveApiKey},
    {"set_tenant_settings", kSetTenantSettings},
}};

}  // namespace

const std::string& ScriptSource(ScriptId id) {
  static const std::array<std::string, kScriptCount> sources = [] {
    std::array<std::string, kScriptCount> out;
    for (int i = 0; i < kScriptCount; ++i) {
      out[i] = std::string("-- glmq ") + kEntries[i].name + kScriptPrelude + kEntries[i].body;
    }
    return out;
  }();
  return sources[static_cast<int>(id)];
}

const char* ScriptName(ScriptId id) { return kEntries[static_cast<int>(id)].name; }

}  // namespace glmq::redis
