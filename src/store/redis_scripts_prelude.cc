// The Lua every glmq script starts with (see redis_scripts_prelude.h).
#include "store/redis_scripts_prelude.h"

namespace glmq::redis {

extern const char kScriptPrelude[] = R"lua(
local P = ARGV[1]
local TAG = ARGV[2]
local CLASSES = {'short', 'medium', 'long'}
local STATES = {'queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'}
local TERMINAL = {'succeeded', 'failed', 'cancelled', 'expired'}

local function jkey(id) return P .. 'job:' .. id end
local function bkey(id) return P .. 'body:' .. id end
local function fail(code, message) return redis.error_reply('GLMQ_' .. code .. ' ' .. message) end
-- A job's member in the queue and the listings: created_at (16 digits), seq (12 digits),
-- ':', its id, and ':' and its tenant unless that is the implicit one (member_of).
local function id_of(member)
  local colon = string.find(member, ':', 30, true)
  if colon then return string.sub(member, 30, colon - 1) end
  return string.sub(member, 30)
end
local function tenant_of(member)
  local colon = string.find(member, ':', 30, true)
  if colon then return string.sub(member, colon + 1) end
  return ''
end
-- A tenant's listing of its jobs in one state; the implicit tenant's keeps the name it had
-- before there were tenants.
local function listing(tenant, state)
  if tenant == '' then return P .. 'state:' .. state end
  return P .. 'tenant:' .. tenant .. ':state:' .. state
end
local function publish(id, state)
  redis.call('PUBLISH', P .. 'events', TAG .. ' ' .. id .. ' ' .. state)
end
local function job_state(id) return redis.call('HGET', jkey(id), 'state') end

local function not_running(id, action, state)
  if not state then return fail('NOTFOUND', 'no job ' .. id) end
  if state == 'running' then
    return fail('CONFLICT', 'cannot ' .. action .. ' job ' .. id ..
                ': its lease is held by another worker')
  end
  return fail('CONFLICT', 'cannot ' .. action .. ' job ' .. id .. ': it is ' .. state)
end

-- HINCRBY by a stored decimal string; '-0' is not an integer to Redis, so zero is skipped.
local function add_stat(field, n, sign)
  if not n or n == '0' or n == '' then return end
  if sign < 0 then
    if string.sub(n, 1, 1) == '-' then n = string.sub(n, 2) else n = '-' .. n end
  end
  redis.call('HINCRBY', P .. 'stats', field, n)
end

local function queue_fields(id)
  local v = redis.call('HMGET', jkey(id), 'member', 'order_key', 'class', 'prompt_tokens',
                       'max_tokens', 'created_at', 'deadline_at', 'shared_prompt_tokens')
  if not v[1] then return nil end
  return {member = v[1], order_key = v[2], class = v[3], prompt_tokens = v[4],
          max_tokens = v[5], created_at = v[6], deadline_at = v[7], shared = v[8] or '0'}
end
-- The prompt tokens a job will read (QueuedJob::prompt_tokens_to_read): what the per-class
-- totals and the sums of work count. `shared` may be absent (written before it existed).
local function to_read(prompt_tokens, shared)
  return math.max(0, (tonumber(prompt_tokens) or 0) - (tonumber(shared) or 0))
end

-- Fair share (store/service_counters.h, the same arithmetic): each tenant's queued members
-- (tenant_queue:<t>, scored as in the queue), every tenant's service counter (service) and
-- the backlogged tenants, scored by the same counter (backlogged).
local W_PROMPT, W_OUTPUT = 1, 2
local function tenant_queue(t) return P .. 'tenant_queue:' .. t end
local function share_weight(t)
  local w = tonumber(redis.call('HGET', P .. 'share_weights', t) or '')
  if not w or w <= 0 then return 1 end
  return w
end
-- A tenant with queued work again starts at the least counter of the backlogged ones, or
-- with none backlogged at the greatest of all: idling earns no credit.
local function join_backlog(t)
  if redis.call('ZSCORE', P .. 'backlogged', t) then return end
  local floor = redis.call('ZRANGE', P .. 'backlogged', 0, 0, 'WITHSCORES')
  if #floor == 0 then floor = redis.call('ZRANGE', P .. 'service', -1, -1, 'WITHSCORES') end
  local c = tonumber(redis.call('ZSCORE', P .. 'service', t) or '0')
  if #floor > 0 and tonumber(floor[2]) > c then c = tonumber(floor[2]) end
  local score = string.format('%.17g', c)
  redis.call('ZADD', P .. 'service', score, t)
  redis.call('ZADD', P .. 'backlogged', score, t)
end
-- Charges (negative: refunds) a tenant's counter.
local function serve(t, prompt_tokens, output_tokens)
  local cost = (W_PROMPT * prompt_tokens + W_OUTPUT * output_tokens) / share_weight(t)
  if cost == 0 then return end
  local by = string.format('%.17g', cost)
  redis.call('ZINCRBY', P .. 'service', by, t)
  redis.call('ZADD', P .. 'backlogged', 'XX', 'INCR', by, t)
end
-- Takes `member` out of its tenant's queue; `moving`: it is queued again at once, and its
-- tenant stays backlogged.
local function leave_tenant_queue(member, moving)
  local t = tenant_of(member)
  redis.call('ZREM', tenant_queue(t), member)
  if not moving and redis.call('EXISTS', tenant_queue(t)) == 0 then
    redis.call('ZREM', P .. 'backlogged', t)
  end
end

-- Every index of queued work changes here and only here. `jobs` holds queue_fields tables
-- with their `id`; each index takes the whole list in one command, so a batch pays each
-- command's fixed cost (and its AOF record) once.
local function queue_add_all(jobs)
  local queue, deadlines, listed = {}, {}, {}
  local oldest, prompt, max = {}, {}, {}
  for _, q in ipairs(jobs) do
    table.insert(queue, q.order_key)
    table.insert(queue, q.member)
    table.insert(listed, 0)
    table.insert(listed, q.member)
    if not oldest[q.class] then oldest[q.class], prompt[q.class], max[q.class] = {}, 0, 0 end
    table.insert(oldest[q.class], q.created_at)
    table.insert(oldest[q.class], q.member)
    prompt[q.class] = prompt[q.class] + to_read(q.prompt_tokens, q.shared)
    max[q.class] = max[q.class] + tonumber(q.max_tokens)
    if tonumber(q.deadline_at) > 0 then
      table.insert(deadlines, q.deadline_at)
      table.insert(deadlines, q.id)
    end
  end
  if #queue == 0 then return end
  redis.call('ZADD', P .. 'queue', unpack(queue))
  for class, members in pairs(oldest) do
    redis.call('ZADD', P .. 'oldest:' .. class, unpack(members))
    add_stat('prompt_tokens:' .. class, string.format('%d', prompt[class]), 1)
    add_stat('max_tokens:' .. class, string.format('%d', max[class]), 1)
  end
  if #deadlines > 0 then redis.call('ZADD', P .. 'deadlines', unpack(deadlines)) end
  -- Each tenant's queued tokens (per-tenant quotas); its queued jobs are its listing's size.
  local tenant_work = {}
  for _, q in ipairs(jobs) do
    local t = tenant_of(q.member)
    local w = tenant_work[t] or {0, 0}
    w[1] = w[1] + tonumber(q.prompt_tokens)
    w[2] = w[2] + tonumber(q.max_tokens)
    tenant_work[t] = w
  end
  for t, w in pairs(tenant_work) do
    redis.call('HINCRBY', P .. 'tenant_queued:' .. t, 'prompt_tokens', string.format('%d', w[1]))
    redis.call('HINCRBY', P .. 'tenant_queued:' .. t, 'max_tokens', string.format('%d', w[2]))
    w[3] = {}
  end
  for _, q in ipairs(jobs) do
    local members = tenant_work[tenant_of(q.member)][3]
    table.insert(members, q.order_key)
    table.insert(members, q.member)
  end
  for t, w in pairs(tenant_work) do
    join_backlog(t)
    redis.call('ZADD', tenant_queue(t), unpack(w[3]))
  end
  return listed
end
local function queue_add(id, q)
  q.id = id
  queue_add_all({q})
end
local function queue_remove(id, q, moving)
  redis.call('ZREM', P .. 'queue', q.member)
  leave_tenant_queue(q.member, moving)
  redis.call('ZREM', P .. 'oldest:' .. q.class, q.member)
  add_stat('prompt_tokens:' .. q.class, string.format('%d', to_read(q.prompt_tokens, q.shared)), -1)
  add_stat('max_tokens:' .. q.class, q.max_tokens, -1)
  redis.call('ZREM', P .. 'deadlines', id)
  local tq = P .. 'tenant_queued:' .. tenant_of(q.member)
  redis.call('HINCRBY', tq, 'prompt_tokens', string.format('%d', -tonumber(q.prompt_tokens)))
  redis.call('HINCRBY', tq, 'max_tokens', string.format('%d', -tonumber(q.max_tokens)))
end

-- The queued member that runs next: with `fair`, the first of the backlogged tenant with
-- the least service (of equal ones, the smaller job, then the lesser name); otherwise (or
-- with no tenant backlogged) the queue's first. `below` > 0: only a job with a shorter
-- prompt (the claim limit, JobStore::ClaimLimit). `pass` > 0: jobs at least that long are
-- passed over, the first shorter among the next 32 (kPassOverScan) taken. The queue's first
-- joins its tenant's queue if it is missing there (queued before tenant queues existed), so
-- such jobs are seen by fair share as they reach the front.
local function next_member(fair, below, pass)
  local function size_of(member)
    local v = redis.call('HMGET', jkey(id_of(member)), 'prompt_tokens', 'max_tokens')
    return tonumber(v[1]) or 0, tonumber(v[2]) or 0
  end
  local function allowed(prompt_tokens) return below <= 0 or prompt_tokens < below end
  local function first_of(zset)
    if not pass or pass <= 0 then return redis.call('ZRANGE', zset, 0, 0)[1] end
    for _, m in ipairs(redis.call('ZRANGE', zset, 0, 31)) do
      if (size_of(m)) < pass then return m end
    end
    return nil
  end
  if fair then
    local first = redis.call('ZRANGE', P .. 'queue', 0, 0, 'WITHSCORES')
    if #first > 0 then
      local t = tenant_of(first[1])
      if not redis.call('ZSCORE', tenant_queue(t), first[1]) then
        join_backlog(t)
        redis.call('ZADD', tenant_queue(t), first[2], first[1])
      end
    end
    local ranked = redis.call('ZRANGE', P .. 'backlogged', 0, -1, 'WITHSCORES')
    local best, best_score, best_size, live = nil, nil, nil, false
    for i = 1, #ranked, 2 do
      local t, score = ranked[i], tonumber(ranked[i + 1])
      if best and score > best_score then break end
      local top = first_of(tenant_queue(t))
      if not top and redis.call('ZCARD', tenant_queue(t)) == 0 then
        redis.call('ZREM', P .. 'backlogged', t)
      else
        live = true
        if top then
          local prompt_tokens, max_tokens = size_of(top)
          if allowed(prompt_tokens) and (not best or prompt_tokens + max_tokens < best_size) then
            best, best_score, best_size = top, score, prompt_tokens + max_tokens
          end
        end
      end
    end
    if live then return best end
  end
  local first = first_of(P .. 'queue')
  if first and not allowed((size_of(first))) then return nil end
  return first
end

local function set_listing(member, from, to)
  local tenant = tenant_of(member)
  redis.call('ZREM', listing(tenant, from), member)
  redis.call('ZADD', listing(tenant, to), 0, member)
end
local function end_lease(id, worker)
  redis.call('ZREM', P .. 'leases', id)
  if worker and worker ~= '' then redis.call('SREM', P .. 'worker_jobs:' .. worker, id) end
end
local function back_to_queue(id, member)
  redis.call('HSET', jkey(id), 'state', 'queued', 'worker', '', 'lease_expires_at', '0',
             'progress_prompt_tokens_read', '0', 'progress_completion_tokens', '0',
             'output', '')
  set_listing(member, 'running', 'queued')
  queue_add(id, queue_fields(id))
  publish(id, 'queued')
end

-- A terminal job is counted in its state until `ended_score` (finished + retention), when
-- its keys expire and the sweep drops it from the listings.
local function finish(id, member, from, to, ended_score, retention_ms)
  set_listing(member, from, to)
  -- The tenant's usage that day (kept beyond the job's retention): P usage:<day> holds
  -- "<tenant>|<field>" counters.
  local u = redis.call('HMGET', jkey(id), 'finished_at', 'usage_prompt_tokens',
                       'usage_cached_tokens', 'usage_completion_tokens')
  -- A tenant with its own retention (P tenant_retention) keeps its jobs that long instead.
  local own = redis.call('HGET', P .. 'tenant_retention', tenant_of(member))
  if own then
    retention_ms = own
    if tonumber(own) > 0 then
      ended_score = string.format('%d', (tonumber(u[1]) or 0) + tonumber(own))
    else
      ended_score = '+inf'
    end
  end
  local usage = P .. 'usage:' .. string.format('%d', math.floor((tonumber(u[1]) or 0) / 86400000))
  local t = tenant_of(member) .. '|'
  redis.call('HINCRBY', usage, t .. to, 1)
  if u[2] and u[2] ~= '' and u[2] ~= '0' then redis.call('HINCRBY', usage, t .. 'prompt_tokens', u[2]) end
  if u[3] and u[3] ~= '' and u[3] ~= '0' then redis.call('HINCRBY', usage, t .. 'cached_tokens', u[3]) end
  if u[4] and u[4] ~= '' and u[4] ~= '0' then
    redis.call('HINCRBY', usage, t .. 'completion_tokens', u[4])
  end
  -- A webhook delivery, due at once (api/webhooks.h). The key with its colon and the value's
  -- opening quote cannot occur inside a JSON string of the params, where quotes are escaped.
  local params = redis.call('HGET', jkey(id), 'params')
  if params and string.find(params, '"webhook_url":"', 1, true) then
    redis.call('ZADD', P .. 'webhooks', 'NX', 0, id)
  end
  redis.call('ZADD', P .. 'ended:' .. to, ended_score, member)
  if tonumber(retention_ms) > 0 then
    redis.call('PEXPIRE', jkey(id), retention_ms)
    redis.call('PEXPIRE', bkey(id), retention_ms)
  end
  publish(id, to)
end

-- ('created', a listing of every job, is no longer written; its entries from before go
-- here as their jobs are swept.)
local function drop_listings(member)
  redis.call('ZREM', P .. 'created', member)
  local tenant = tenant_of(member)
  for _, s in ipairs(STATES) do redis.call('ZREM', listing(tenant, s), member) end
  redis.call('ZREM', P .. 'dead', member)
end

-- Forgets up to `limit` jobs per state whose retention ran out at `now`.
local function sweep(now, limit)
  for _, s in ipairs(TERMINAL) do
    local ended = P .. 'ended:' .. s
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', ended, '-inf', now, 'LIMIT', 0, limit)) do
      redis.call('ZREM', ended, m)
      drop_listings(m)
      local id = id_of(m)
      if redis.call('HGET', jkey(id), 'member') == m then redis.call('DEL', jkey(id), bkey(id)) end
    end
  end
end

-- Writes a new job's hashes (the key layout is in redis_store.h), with arrival number
-- `seq`, and returns its queue_fields, for queue_add_all and the listings. The caller has
-- made sure the id is new. Fields still at their zero value ('0' or '') are not written:
-- readers take a missing field as its zero, which makes the hash and its AOF record half as
-- long.
local function member_of(created_at, seq, id, tenant)
  local member = string.format('%016d%012d:', tonumber(created_at), seq) .. id
  if tenant ~= '' then member = member .. ':' .. tenant end
  return member
end
local function write_job(id, seq, created_at, class, prompt_tokens, max_tokens, order_key,
                         deadline_at, wait, params, text, messages, tenant, shared)
  local member = member_of(created_at, seq, id, tenant)
  local fields = {'id', id, 'state', 'queued', 'member', member, 'created_at', created_at,
                  'class', class, 'prompt_tokens', prompt_tokens, 'max_tokens', max_tokens,
                  'order_key', order_key, 'deadline_at', deadline_at,
                  'estimated_wait_seconds', wait, 'params', params}
  -- The shared part only where there is one: a field fewer for most jobs.
  if shared ~= '0' then
    table.insert(fields, 'shared_prompt_tokens')
    table.insert(fields, shared)
  end
  redis.call('HSET', jkey(id), unpack(fields))
  if tenant ~= '' then
    redis.call('HSET', jkey(id), 'tenant', tenant)
    redis.call('SADD', P .. 'tenants', tenant)
  end
  if messages == '' or messages == '[]' then
    redis.call('HSET', bkey(id), 'text', text)
  else
    redis.call('HSET', bkey(id), 'text', text, 'messages', messages)
  end
  return {id = id, member = member, order_key = order_key, class = class,
          prompt_tokens = prompt_tokens, max_tokens = max_tokens, created_at = created_at,
          deadline_at = deadline_at, shared = shared}
end

-- Queues jobs written by write_job and lists them as queued.
local function enqueue_new(jobs)
  local listed = queue_add_all(jobs)
  if not listed then return end
  -- One ZADD per tenant's listing (pairs of score and member in `listed`).
  local by_tenant = {}
  for k = 2, #listed, 2 do
    local t = tenant_of(listed[k])
    if not by_tenant[t] then by_tenant[t] = {} end
    table.insert(by_tenant[t], 0)
    table.insert(by_tenant[t], listed[k])
  end
  for t, pairs_of in pairs(by_tenant) do redis.call('ZADD', listing(t, 'queued'), unpack(pairs_of)) end
end

-- Prompt and max tokens of every queued job (the per-class totals summed).
local function queued_totals()
  local fields = {}
  for _, c in ipairs(CLASSES) do
    table.insert(fields, 'prompt_tokens:' .. c)
    table.insert(fields, 'max_tokens:' .. c)
  end
  local totals = redis.call('HMGET', P .. 'stats', unpack(fields))
  local pt, mt = 0, 0
  for k = 1, #fields, 2 do
    pt = pt + (tonumber(totals[k]) or 0)
    mt = mt + (tonumber(totals[k + 1]) or 0)
  end
  return pt, mt
end

-- Prompt tokens to read and max tokens of the jobs of `members`.
local function sum_work(members)
  local pt, mt = 0, 0
  for _, m in ipairs(members) do
    local v = redis.call('HMGET', jkey(id_of(m)), 'prompt_tokens', 'max_tokens',
                         'shared_prompt_tokens')
    pt = pt + to_read(v[1], v[3])
    mt = mt + (tonumber(v[2]) or 0)
  end
  return pt, mt
end

-- The token sums of a part of the queue read the job hashes of the smaller side of the
-- queue split there (about 1 us each, during which Redis serves no one else), and take the
-- other side from the per-class totals.

-- Queued work with an order key below `order_key`: jobs, prompt tokens, max tokens.
local function work_before(order_key)
  local queue = P .. 'queue'
  local total = redis.call('ZCARD', queue)
  local ahead = redis.call('ZCOUNT', queue, '-inf', '(' .. order_key)
  if ahead == 0 then return 0, 0, 0 end
  if ahead <= total - ahead then
    local pt, mt = sum_work(redis.call('ZRANGEBYSCORE', queue, '-inf', '(' .. order_key))
    return ahead, pt, mt
  end
  local all_pt, all_mt = queued_totals()
  local pt, mt = sum_work(redis.call('ZRANGEBYSCORE', queue, order_key, '+inf'))
  return ahead, all_pt - pt, all_mt - mt
end

-- Queued work that sorts before `member`, which is queued.
local function work_ahead_of(member)
  local queue = P .. 'queue'
  local total = redis.call('ZCARD', queue)
  local rank = redis.call('ZRANK', queue, member)
  if rank == 0 then return 0, 0, 0 end
  if rank < total - rank then
    local pt, mt = sum_work(redis.call('ZRANGE', queue, 0, rank - 1))
    return rank, pt, mt
  end
  local all_pt, all_mt = queued_totals()
  local pt, mt = sum_work(redis.call('ZRANGE', queue, rank, -1))  -- the job itself included
  return rank, all_pt - pt, all_mt - mt
end

local function idempotent_done(key, sha, status, response, job_id, expires_at, ttl_ms)
  local k = P .. 'idem:' .. key
  redis.call('HSET', k, 'state', 'done', 'body_sha256', sha, 'status', status,
             'response', response, 'job_id', job_id, 'expires_at', expires_at)
  redis.call('PEXPIRE', k, ttl_ms)
end
)lua";

}  // namespace glmq::redis
