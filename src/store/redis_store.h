// RedisJobStore: the distributed JobStore of `glmq gateway` and `glmq worker`, on Redis 7.
// Many processes share one Redis; each opens its own store. It keeps the same contract as
// SqliteJobStore (see job_store.h and store_contract_test.cc).
//
// Atomicity: every change that touches more than one key is one Lua script (redis_scripts.h),
// so a crash or a second process never sees half of it. Scripts reach keys they derive from
// the prefix rather than declaring them; on Redis Cluster give the prefix a hash tag (e.g.
// "{glmq}:") so that every key lands in one slot.
//
// Durability depends on how Redis persists (checked at Open, see require_persistence). What
// an acknowledged write can lose when the Redis process or its machine dies:
//   appendonly yes, appendfsync always    nothing: Redis fsyncs the AOF before it replies.
//   appendonly yes, appendfsync everysec  up to about 1 s of writes (the Redis default).
//   appendonly yes, appendfsync no        whatever the OS had not flushed (~30 s on Linux).
//   RDB snapshots only (save ...)         everything since the last snapshot (minutes).
//   neither                               everything, on any restart.
// Replication does not add durability by itself: a failover can lose what the old primary
// had not sent yet.
//
// Key layout (P = prefix):
//   P job:<id>          hash: every field of the job except the request body; a field still
//                       at its zero value may be missing (a new job has only 11)
//   P body:<id>         hash: text, messages (stored once, read only by Get and ClaimNext;
//                       no messages field for a text job)
//   P seq               counter: arrival order
//   P queue             zset: queued jobs, score order_key, member M (see below)
//   P oldest:<class>    zset: queued jobs of a class by created_at (Snapshot's oldest)
//   P stats             hash: prompt_tokens:<class>, max_tokens:<class> of queued jobs
//   P deadlines         zset: queued jobs with a deadline, score deadline_at, member id
//   P leases            zset: running jobs, score lease expiry, member id
//   P worker_jobs:<w>   set: ids running under worker w (RenewLeases)
//   P state:<state>     zset: retained jobs in a state, all scores 0, member M (List; without
//                       a state filter List merges them); the implicit tenant's jobs
//   P tenant:<t>:state:<state>  the same for tenant t's jobs
//   P tenants           set: the tenants with jobs (List of every tenant merges them all)
//   P tenant_queued:<t> hash: prompt_tokens, max_tokens of tenant t's queued jobs
//   P tenant_queue:<t>  zset: tenant t's queued jobs, as in P queue (fair share)
//   P service           zset: every tenant's service counter (fair share, VTC)
//   P backlogged        zset: the tenants with queued jobs, scored by their counter
//   P share_weights     hash: tenant -> fair share weight (absent: 1)
//   P tenant_retention  hash: tenant -> ms its ended jobs are kept (absent: retention_ms)
//   P usage:<day>       hash: "<tenant>|<state or token kind>" -> count, for the jobs that
//                       ended that day (days since the epoch, UTC); never expires
//   P ended:<state>     zset: terminal jobs, score finished_at + retention (totals, sweep)
//   P dead              zset: dead-lettered jobs, score as in ended
//   P events            pub/sub channel: "<instance> <id> <state>" (one "queued" per
//                       insert: a batch names its last job)
//   P admission         pub/sub channel among gateways: what each accepted, for the others'
//                       forecasts (admission/peer_notes.h over RedisPeerChannel)
//   P idem:<key>        hash: one Idempotency-Key's record
//   P webhooks          zset: webhook deliveries, score when due (0: at once), member id;
//                       added by the script that ends a job with a webhook_url
//   P webhook_attempts  hash: id -> attempts so far
//   P lease:<name>      hash: holder, expires_at
//   P workers           zset: worker names, score the end of their last heartbeat's ttl
//   P worker_reports    hash: worker name -> its last WorkerReport (JSON)
//   P blob:<key>        string: GetBlob / PutBlob
//   P api_keys          hash: API key id -> its record (JSON; only the key's SHA-256)
//   P api_key_hashes    hash: SHA-256 -> API key id
// M = 16 digits of created_at, 12 of seq, ':' and the id, then ':' and the tenant unless it
// is the implicit one (a listing is found from M alone): equal scores sort by arrival, and
// the order of the queue is SQLite's (order_key, created_at, seq). Order keys are exact
// scores up to 2^53 (a date in ms is ~2^41).
//
// Retention: a terminal job's keys expire retention_ms after it ends; the listings drop it
// at the next sweep (ExpireOverdue and List run one) or when List meets it.
//
// Events: every state change is published; a subscriber thread with its own connection
// passes other processes' events to the listener, and a store calls the listener itself
// for its own changes, before the method returns. Pub/sub is at-most-once: events published
// while the subscriber reconnects (a Redis restart) are lost, so a waiter must re-read the
// job now and then rather than trust an event to come.
//
// Threads: any thread may call any method; calls share a pool of connections.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "store/job_store.h"
#include "store/redis_scripts.h"

namespace glmq {

namespace redis {
class Pool;
class Subscriber;
struct Reply;
}  // namespace redis

struct RedisStoreOptions {
  std::string url = "redis://127.0.0.1:6379";  // redis://[[user]:password@]host:port[/db]
  std::string prefix = "glmq:";
  int64_t retention_ms = 24 * 3600 * 1000;  // terminal jobs; <= 0 keeps them forever
  // Refuse a Redis that would lose every job on restart (no AOF, no RDB).
  bool require_persistence = true;
  int pool_size = 8;
  double timeout_seconds = 5;  // connect, and each command's reply
};

class RedisJobStore final : public JobStore {
 public:
  // Connects, checks persistence, loads the scripts and subscribes to events. `listener`
  // may be empty; it runs on the caller's thread for this store's own changes and on the
  // subscriber thread for other processes' changes, so it must be quick and thread-safe.
  static Result<std::unique_ptr<RedisJobStore>> Open(const RedisStoreOptions& options,
                                                     JobListener listener);
  ~RedisJobStore() override;
  RedisJobStore(const RedisJobStore&) = delete;
  RedisJobStore& operator=(const RedisJobStore&) = delete;

  // As SqliteJobStore, plus kInvalidArgument for created_at < 0 or >= 10^16 ms.
  Status Insert(const Job& job) override;
  // One script for the whole batch: one round trip, one AOF fsync.
  std::vector<Result<Placement>> InsertBatch(std::vector<NewJob>& jobs) override;
  Result<Job> Get(const std::string& id, bool with_request = true) override;
  Result<std::vector<Job>> List(const ListFilter& filter) override;
  using JobStore::ClaimNext;
  Result<std::optional<Job>> ClaimNext(const std::string& worker, int64_t lease_ms,
                                       ClaimLimit limit) override;
  Status RenewLeases(const std::string& worker, const std::vector<std::string>& ids,
                     int64_t lease_ms) override;
  Status UpdateProgress(const std::string& id, const std::string& worker,
                        const JobProgress& progress) override;
  Status Complete(const std::string& id, const std::string& worker,
                  const Completion& completion) override;
  Result<Job> Cancel(const std::string& id) override;
  // One pipeline of the cancel script: one round trip.
  std::vector<Status> CancelMany(const std::vector<std::string>& ids) override;
  Status SetQueuedCost(const std::string& id, int64_t prompt_tokens, LengthClass length_class,
                       int64_t order_key) override;
  Status FailQueued(const std::string& id, const std::string& error_code,
                    const std::string& error_message) override;
  Result<int64_t> ExpireOverdue(TimeMs now) override;
  Result<int64_t> ReapExpiredLeases(TimeMs now, int32_t max_deliveries) override;
  // O(log n): ZRANK.
  Result<int64_t> QueuePosition(const std::string& id) override;
  // O(log n) for the count; the token sums read min(k, n - k) job hashes inside Redis for k
  // jobs ahead of n queued (about 1 us each: 10 ms for 10,000).
  Result<WorkAhead> WorkBefore(int64_t order_key) override;
  Result<WorkAhead> QueuedOf(const std::string& tenant) override;
  // O(log n): ZRANGE of the first member.
  using JobStore::Head;
  Result<std::optional<QueueHead>> Head(ClaimLimit limit) override;
  void SetFairShare(bool on) override;
  Status SetTenantSettings(const TenantSettings& settings) override;
  // O(1) in the number of jobs (a few sorted-set counts).
  Result<QueueSnapshot> Snapshot() override;
  Status CheckWritable() override;
  // Redis expires ended jobs itself (options.retention_ms): nothing to do.
  Result<int64_t> DeleteEnded(TimeMs, int32_t) override { return int64_t{0}; }
  const WriteHealth& write_health() const override { return health_; }
  // Not measured on Redis (its INFO memory would be a round trip per report).
  StorageUsage Storage() const override { return {}; }

  Result<IdempotencyState> BeginIdempotent(const IdempotencyClaim& claim, TimeMs now,
                                           int64_t in_flight_ms) override;
  Status InsertIdempotent(const Job& job, const IdempotencyClaim& claim, int status,
                          const std::string& response, int64_t ttl_ms) override;
  Status FinishIdempotent(const IdempotencyClaim& claim, int status, const std::string& response,
                          int64_t ttl_ms) override;
  Status AbandonIdempotent(const IdempotencyClaim& claim) override;
  Status WorkerHeartbeat(const std::string& worker, TimeMs now, int64_t ttl_ms,
                         const WorkerReport& report) override;
  Result<int64_t> LiveWorkers(TimeMs now) override;
  Result<std::vector<WorkerReport>> LiveWorkerReports(TimeMs now) override;
  Result<bool> AcquireLease(const std::string& name, const std::string& holder, TimeMs now,
                            int64_t lease_ms) override;
  Result<std::vector<WebhookDue>> ClaimWebhooks(TimeMs now, int64_t lease_ms,
                                                int32_t limit) override;
  Status EndWebhook(const std::string& job_id) override;
  Status RetryWebhook(const std::string& job_id, TimeMs due_at) override;
  Status DeferWebhook(const std::string& id, TimeMs due_at) override;
  Status QueueWebhook(const std::string& id, TimeMs due_at) override;
  Result<std::vector<UsageRow>> Usage(const std::optional<std::string>& tenant, int64_t from_day,
                                      int64_t to_day) override;
  Status AddApiKey(const ApiKeyRecord& key) override;
  Result<std::vector<ApiKeyRecord>> ApiKeys() override;
  Result<bool> RemoveApiKey(const std::string& id) override;
  Status Release(const std::string& id, const std::string& worker) override;

  // A small shared value under `P blob:<key>` (alert silences, the evaluator's state):
  // read gives "" when nothing was written yet; write replaces it whole. Durable as any
  // other write; never expires.
  Result<std::string> GetBlob(const std::string& key);
  Status PutBlob(const std::string& key, const std::string& value);

  // The tag this store's events carry.
  const std::string& instance() const { return instance_; }

 private:
  RedisJobStore(RedisStoreOptions options, JobListener listener);

  // Runs a script with ARGV = prefix, instance tag, then `args`. Error replies become
  // Statuses (see redis_scripts.h).
  Result<redis::Reply> Run(redis::ScriptId script, const std::vector<std::string_view>& args,
                           bool retry);
  // Run, for callers that need only whether it worked.
  Status Exec(redis::ScriptId script, const std::vector<std::string_view>& args, bool retry);
  // Plain commands in one round trip, sent again once on a broken connection (only for
  // commands safe to repeat); an error reply fails the whole call.
  Result<std::vector<redis::Reply>> Commands(
      const std::vector<std::vector<std::string_view>>& commands);
  Status InsertWith(const Job& job, const std::vector<std::string_view>& extra);
  Status LoadScripts();
  Status CheckPersistence();
  void Notify(const std::string& id, JobState state, ChangeOrigin origin = ChangeOrigin::kHere);
  void OnEvent(std::string_view payload);
  // finished_at + retention_ms, as a score ("+inf" when kept forever).
  std::string EndedScore(TimeMs finished_at) const;

  const RedisStoreOptions options_;
  const JobListener listener_;
  const std::string instance_;
  std::unique_ptr<redis::Pool> pool_;
  WriteHealth health_;  // every script and pipeline records its outcome
  std::atomic<bool> fair_share_{true};
  std::array<std::string, redis::kScriptCount> shas_;
  std::unique_ptr<redis::Subscriber> subscriber_;  // last: stopped first
};

}  // namespace glmq
