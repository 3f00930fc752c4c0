// The Lua scripts of RedisJobStore. Every change that touches more than one key runs as one
// script, so Redis applies it whole or not at all, and no other client sees half of it.
//
// Calling convention: no KEYS; ARGV[1] is the key prefix, ARGV[2] the publishing store's
// instance tag (events carry it, so a store can skip its own), then each script's own
// arguments in the order given next to its id. Numbers travel as decimal strings and are
// stored as given: Lua's numbers are doubles, so the scripts never do arithmetic on a value
// that may exceed 2^53 (timestamps and lease expiries are computed in C++).
//
// A script refuses with an error reply "GLMQ_<CODE> <message>", CODE one of NOTFOUND,
// CONFLICT, INVALID; RedisJobStore maps it to the matching Status.
//
// The key layout is described in redis_store.h.
#pragma once

#include <string>

namespace glmq::redis {

enum class ScriptId {
  // id, created_at, class, prompt_tokens, max_tokens, order_key, deadline_at, params, text,
  // messages, tenant, shared_prompt_tokens, estimated_wait_seconds
  // [, idem key, body sha256, status, response, expires_at, ttl_ms]  -> seq
  kInsert,
  // n, then n times: id, created_at, class, prompt_tokens, max_tokens, order_key,
  // deadline_at, params, text, messages, tenant, shared_prompt_tokens, wait base, per prompt token,
  // per max token,
  // wait when clear (seconds, or "" when no sequence is free), slack (seconds, or "" for a
  // job without a promise: JobStore::NewJob), "1" to measure its place or "0", the
  // overtaking foreseen ("intercept slope ..." or "": WaitModel::Told), when a sequence
  // frees ("seconds slope" or "": WaitModel::FirstEnd), the least wait (WaitModel::at_least)
  //   -> per job [seq, jobs ahead, prompt tokens to read ahead, max tokens ahead,
  //   estimated_wait_seconds, order_key] or nil when the id exists
  kInsertBatch,
  // cursor id or "", state or "", limit, now, sweep limit, "1" or "" (one tenant or all),
  // tenant  -> [job hash...]
  kList,
  // worker, now, lease_expires_at, "1" for fair share, prompt tokens below (0: any)
  //   -> job hash, or nil
  kClaim,
  // worker, lease_expires_at  -> leases extended
  kRenewLeases,
  // id, prompt_tokens_read, completion_tokens, prompt_tokens
  kProgress,
  // id, worker, state, output, finish_reason, usage prompt, usage completion, error_code,
  // error_message, finished_at, ended_score, retention_ms
  kComplete,
  // id, now, ended_score, retention_ms  -> [1 when it became cancelled, job hash]
  kCancel,
  // id, prompt_tokens, class, order_key
  kSetQueuedCost,
  // id, error_code, error_message, now, ended_score, retention_ms
  kFailQueued,
  // now, ended_score, retention_ms, sweep limit  -> [id...]
  kExpireOverdue,
  // now, max_deliveries, ended_score, retention_ms  -> [id, state, ...]
  kReap,
  // id, worker
  kRelease,
  // id  -> position
  kPosition,
  // order_key  -> [jobs, prompt_tokens, max_tokens]
  kWorkBefore,
  // "1" for fair share, prompt tokens below (0: any)  -> [] or [order_key, prompt_tokens,
  // max_tokens] of the job that runs next
  kHead,
  // now  -> per class [queued, prompt_tokens, max_tokens, oldest], queued, running,
  //         succeeded, failed, cancelled, expired, dead_letter
  kSnapshot,
  // key, sha256, now, in_flight_until, gc_ms  -> [kind, status, response, job_id]
  kBeginIdempotent,
  // key, sha256, status, response, expires_at, ttl_ms
  kFinishIdempotent,
  // key, sha256
  kAbandonIdempotent,
  // name, holder, now, expires_at, gc_ms  -> 1 when held
  kAcquireLease,
  // worker, alive_until, report, forget_before
  kWorkerBeat,
  // now  -> [report...] of the workers alive
  kWorkerReports,
  // now, lease_until, limit  -> [id, attempts, ...] of the deliveries claimed
  kClaimWebhooks,
  // id
  kEndWebhook,
  // id, due_at  -> 1 when it was queued
  kDeferWebhook,
  // id, sha256, record (JSON)  -> 1 when added, 0 when the id or the hash is taken
  kAddApiKey,
  // id  -> 1 when removed
  kRemoveApiKey,
  // n, then n times tenant, weight (fair share), then tenant, retention_ms, ...: replaces
  // the tenants' settings
  kSetTenantSettings,
};
inline constexpr int kScriptCount = static_cast<int>(ScriptId::kSetTenantSettings) + 1;

// The whole source of a script (shared helpers included), as sent to SCRIPT LOAD and EVAL.
const std::string& ScriptSource(ScriptId id);
const char* ScriptName(ScriptId id);

}  // namespace glmq::redis
