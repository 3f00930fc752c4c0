// JobStore: the durable home of every job. Owns queue order, leases, retries, results and
// events. Implementations: SqliteJobStore (embedded, `glmq serve`) and RedisJobStore
// (distributed, `glmq gateway` / `glmq worker`); tests/store/store_contract_test.cc holds
// both to this contract.
//
// Every method is blocking and thread-safe; callers on Asio threads hand off to a pool.
// Every state change is durable before the method returns, and is published to the
// listener given at construction.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "store/service_counters.h"
#include "store/wait_model.h"

namespace glmq {

struct ListFilter {
  std::optional<JobState> state;
  int32_t limit = 50;
  std::string after;  // job id cursor: list jobs older than this one (the next page)
  std::optional<std::string> tenant;  // unset: every tenant's jobs
};

struct ClassStats {
  int64_t queued = 0;
  int64_t queued_prompt_tokens = 0;
  int64_t queued_max_tokens = 0;
  TimeMs oldest_created_at = 0;  // 0 when none queued
};

struct QueueSnapshot {
  std::map<LengthClass, ClassStats> classes;
  int64_t running = 0;
  int64_t dead_letter = 0;
  std::map<JobState, int64_t> totals;  // jobs per state still retained
};

// What a worker tells the processes sharing its store with each heartbeat: how fast its
// engine works and what it has in hand. Gateways, which run no engine, add up the live
// workers' reports to estimate waits and drain times (sched/capacity.h).
struct WorkerReport {
  std::string worker;
  double prefill_tokens_per_second = 0;
  double decode_tokens_per_second = 0;         // all its sequences together
  double single_decode_tokens_per_second = 0;  // one sequence alone
  double completion_ratio = 1.0;               // generated tokens / max_tokens of its jobs
  int64_t running_prompt_tokens_left = 0;      // of the jobs it runs now
  double running_prompt_positions_left = 0;    // their positions summed
  double attention_per_position = 0;           // ThroughputSnapshot's
  int64_t running_max_tokens_left = 0;
  int32_t free_sequences = 0;     // jobs it could start now
  int64_t sequence_tokens = 0;    // the most tokens one of its sequences holds (0: not said)
  int32_t running_sequences = 0;  // jobs it runs now
  TimeMs first_end_at = 0;        // when the first of them should end (0: not foreseen)
  bool operator==(const WorkerReport&) const = default;
};

// Who made a state change: this process, or another process sharing the store (a Redis
// store relays those from its event channel). Wake-ups and long-polls want both; a counter
// wants kHere alone, so that the sum over processes counts each change once.
enum class ChangeOrigin { kHere, kElsewhere };

// Called after a change is durable. Must not call back into the store.
using JobListener = std::function<void(const std::string& id, JobState state, ChangeOrigin origin)>;

// How a store calls its listener: nothing when there is none, and a listener that throws is
// logged rather than let into the store's own code.
void TellListener(const JobListener& listener, const std::string& id, JobState state,
                  ChangeOrigin origin);

// How a store's writes have gone lately: /readyz, the store_errors rule and the metrics read
// it. Thread-safe; every write of the store records its outcome here.
class WriteHealth {
 public:
  struct Snapshot {
    int64_t failures_total = 0;  // writes the store refused (disk full, I/O error, down)
    TimeMs last_failure_at = 0;
    std::string last_error;
    TimeMs last_success_at = 0;
  };
  // A write that failed for a reason of the store's (not a conflict or a bad request).
  static bool IsStoreFailure(const Status& s) {
    return s.code() == StatusCode::kStorageFull || s.code() == StatusCode::kUnavailable;
  }
  void Record(const Status& s) {
    std::lock_guard lock(mu_);
    if (IsStoreFailure(s)) {
      ++state_.failures_total;
      state_.last_failure_at = NowMs();
      state_.last_error = s.ToString();
    } else {
      state_.last_success_at = NowMs();
    }
  }
  Snapshot Now() const {
    std::lock_guard lock(mu_);
    return state_;
  }

 private:
  mutable std::mutex mu_;
  Snapshot state_;
};

// How much the store takes and how much room is left where it writes: bytes, -1 unknown.
struct StorageUsage {
  int64_t store_bytes = -1;  // the store's files (the embedded store) or memory
  int64_t free_bytes = -1;   // free space on the data directory's file system
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Durably adds a queued job.
  virtual Status Insert(const Job& job) = 0;

  // Queued work that runs before a job with this order key: (jobs, prompt tokens, max tokens).
  struct WorkAhead {
    int64_t jobs = 0;
    int64_t prompt_tokens = 0;
    int64_t max_tokens = 0;
  };
  // A job to insert, and how to turn the work found ahead of it into its estimated wait.
  struct NewJob {
    Job job;
    WaitModel wait;
    // Set: the job is promised a start (PlaceNewJob): its order key as given is its
    // arrival plus this much accepted overtaking (its priority taken off), and the store
    // moves the key later by the wait it finds ahead. Unset: the key stays as given.
    std::optional<double> slack_seconds;
    // False: the work before it is not counted (its Placement is empty, its wait the one
    // with nothing ahead). For a batch's lines, whose batch has the estimate: on Redis,
    // counting the work before a job that does not sort last walks the queue, and 5,000
    // lines of a 50,000-line batch doing so held Redis for minutes.
    bool measure = true;
    // Set (the default order with --keep-estimates, PlaceNewJob): its order key as given is
    // its arrival plus this slack (its priority taken off), and the store moves the key
    // earlier to its arrival plus the wait it is told, when that is less, so jobs arriving
    // later overtake it only as far as its estimate foresaw. Not for a job whose place is
    // not measured (`measure` false): its key stays as given, on both stores.
    std::optional<double> kept_slack_seconds = std::nullopt;
  };
  // Where an inserted job landed: the queued jobs that sort before it at that moment (a
  // lower order key, or the same one and an earlier arrival; jobs inserted earlier in the
  // same batch included), their work, and its 1-based queue position.
  struct Placement {
    WorkAhead ahead;
    int64_t position = 0;
  };
  // Inserts each job as Insert does, all in one durable write (one fsync, one round trip),
  // measuring the work ahead of each in the same step and storing wait.Seconds(ahead) as
  // its estimated_wait_seconds, or for a promised job (slack_seconds set) its promised key
  // and wait (PlaceNewJob; both also written back into `jobs`). One result per job, in
  // order: a job refused (kConflict, kInvalidArgument) leaves the others inserted. What
  // the submit path uses, so that many concurrent submits share one write.
  virtual std::vector<Result<Placement>> InsertBatch(std::vector<NewJob>& jobs) = 0;

  // With `with_request` false the (possibly huge) document is not read.
  virtual Result<Job> Get(const std::string& id, bool with_request = true) = 0;

  // Newest first, without request bodies.
  virtual Result<std::vector<Job>> List(const ListFilter& filter) = 0;

  // Which queued jobs a claim (and Head) may take. prompt_tokens_below > 0: only one whose
  // prompt is shorter (a sequence kept for short jobs, SchedulerOptions::short_slots): with
  // fair share, the least served tenant whose next job is that short; without, the queue's
  // first if it is.
  // pass_over_from > 0: jobs whose prompt is at least that long are passed over (too long
  // for this worker's sequences while a larger worker is live): the claim takes the first
  // shorter one among the next kPassOverScan in its order (its tenant's, with fair share),
  // and prompt_tokens_below then applies to that one.
  struct ClaimLimit {
    int64_t prompt_tokens_below = 0;
    int64_t pass_over_from = 0;
  };
  static constexpr int kPassOverScan = 32;
  // Moves the queued job that runs next (Head; with fair share off, the lowest order_key)
  // to running under `worker`'s lease and returns it (with its request). nullopt when the
  // queue is empty, or holds no job `limit` allows.
  virtual Result<std::optional<Job>> ClaimNext(const std::string& worker, int64_t lease_ms,
                                               ClaimLimit limit) = 0;
  Result<std::optional<Job>> ClaimNext(const std::string& worker, int64_t lease_ms) {
    return ClaimNext(worker, lease_ms, ClaimLimit{});
  }

  // Extends the lease of each job in `ids` that runs under `worker`; others are left alone.
  // A worker lists only the jobs its engine runs (or whose outcome it still holds), so a
  // job it holds in the store but no longer runs keeps no lease alive and is reaped.
  virtual Status RenewLeases(const std::string& worker, const std::vector<std::string>& ids,
                             int64_t lease_ms) = 0;

  // Records a running job's progress, only while `worker` holds it: a worker that lost its
  // lease (paused, cut off) cannot overwrite the progress of the job's new holder.
  virtual Status UpdateProgress(const std::string& id, const std::string& worker,
                                const JobProgress& progress) = 0;

  // Writes the outcome of a running job held by `worker`. A second write for the same job,
  // or one from a worker that lost the lease, changes nothing and returns kConflict.
  virtual Status Complete(const std::string& id, const std::string& worker,
                          const Completion& completion) = 0;

  // A queued job becomes cancelled at once; a running one gets cancel_requested, and its
  // engine finishes it as cancelled. Terminal jobs are returned unchanged.
  virtual Result<Job> Cancel(const std::string& id) = 0;
  // Cancel for each of `ids` (a batch's lines), one status each; a store may write them
  // together (SQLite: one group commit). The default cancels them one by one.
  virtual std::vector<Status> CancelMany(const std::vector<std::string>& ids) {
    std::vector<Status> out;
    out.reserve(ids.size());
    for (const std::string& id : ids) out.push_back(Cancel(id).status());
    return out;
  }

  // Large documents are accepted on an estimate of their size and counted right after the
  // 202. Records the exact count of a job still queued, with the class and order key that
  // follow from it; kConflict once the job has left the queue. Its shared_prompt_tokens keep
  // their share of the prompt: shared × prompt_tokens / the old count (integer division),
  // at most prompt_tokens − 1.
  virtual Status SetQueuedCost(const std::string& id, int64_t prompt_tokens,
                               LengthClass length_class, int64_t order_key) = 0;

  // Ends a queued job as failed, e.g. when its exact size can never fit; kConflict if it is
  // no longer queued.
  virtual Status FailQueued(const std::string& id, const std::string& error_code,
                            const std::string& error_message) = 0;

  // Queued jobs whose deadline passed become expired. Returns how many.
  virtual Result<int64_t> ExpireOverdue(TimeMs now) = 0;

  // Running jobs whose lease ran out go back to the queue (or to the dead letter state after
  // `max_deliveries`). Returns how many were moved.
  virtual Result<int64_t> ReapExpiredLeases(TimeMs now, int32_t max_deliveries) = 0;

  // Deletes up to `limit` jobs that ended (finished_at) before `ended_before`, with their
  // documents, answers, webhook records and idempotency keys, and returns how many: the
  // retention of finished work. A tenant with its own retention (SetTenantSettings) is
  // judged by that instead, counted back from now. A store that expires records by itself (Redis,
  // after RedisStoreOptions::retention_ms) returns 0.
  virtual Result<int64_t> DeleteEnded(TimeMs ended_before, int32_t limit) = 0;

  // Position (1-based) of a queued job among queued jobs; 0 if not queued.
  virtual Result<int64_t> QueuePosition(const std::string& id) = 0;

  // Queued work that runs before a job with this order key.
  virtual Result<WorkAhead> WorkBefore(int64_t order_key) = 0;
  // The queued work of one tenant (per-tenant quotas).
  virtual Result<WorkAhead> QueuedOf(const std::string& tenant) = 0;
  // The queued job that runs next, as the scheduler plans with it: its order key and
  // size. nullopt when none is queued. Cheap (the scheduler asks every engine step while a
  // prompt is read, and before it backfills).
  struct QueueHead {
    int64_t order_key = 0;
    int64_t prompt_tokens = 0;
    int64_t max_tokens = 0;
    bool operator==(const QueueHead&) const = default;
  };
  virtual Result<std::optional<QueueHead>> Head(ClaimLimit limit) = 0;
  Result<std::optional<QueueHead>> Head() { return Head(ClaimLimit{}); }

  // --- Fair share between tenants (VTC, store/service_counters.h). ClaimNext and Head take
  // the first job of the backlogged tenant with the least service counted (on, the
  // default), or the first in the global order (off). Service is counted either way. The
  // switch is this process's; weights are shared by every process on the store.
  virtual void SetFairShare(bool on) = 0;

  // --- Per-tenant settings from the keys file's tenant lines, shared by every process on
  // the store; each call replaces the last.
  struct TenantSettings {
    TenantWeights weights;  // fair share weights (absent: 1)
    // How long a tenant's ended jobs are kept, overriding the default retention (the
    // scheduler's in SQLite, RedisStoreOptions::retention_ms in Redis); 0 keeps them.
    std::map<std::string, int64_t> retention_ms;
    bool operator==(const TenantSettings&) const = default;
  };
  virtual Status SetTenantSettings(const TenantSettings& settings) = 0;

  virtual Result<QueueSnapshot> Snapshot() = 0;

  // Liveness of the store for /readyz: can it write? (A small write; see write_health()
  // for how the others went.)
  virtual Status CheckWritable() = 0;
  virtual const WriteHealth& write_health() const = 0;
  virtual StorageUsage Storage() const = 0;

  // --- Idempotency-Key (see api/): one answer per (tenant, key) for `ttl_ms` (24 h).
  // Begin reserves the key for this request, or says what an earlier request with the same
  // key did. A reservation whose request never finished (its process died) lapses after
  // `in_flight_ms`, so that the client's retry is not refused forever. A different body
  // is kMismatch whether the first request is still in flight or done. Records are judged
  // against the caller's clock (`now` here, the store's clock for the ttl of answers), and
  // a done record lives `ttl_ms`; after that the key is new again.
  struct IdempotencyClaim {
    std::string key;          // tenant + "\n" + the client's key
    std::string body_sha256;  // hex digest of the request body
  };
  struct IdempotencyState {
    enum class Kind {
      kReserved,  // new: this request owns the key now
      kInFlight,  // the same key is being accepted by another request: 409
      kMismatch,  // the same key was used with another body: 422
      kDone,      // answered before: replay `status` and `response`
    };
    Kind kind = Kind::kReserved;
    int status = 0;
    std::string response;  // the JSON body answered
    std::string job_id;    // the job it created, if any
  };
  virtual Result<IdempotencyState> BeginIdempotent(const IdempotencyClaim& claim, TimeMs now,
                                                   int64_t in_flight_ms) = 0;
  // Inserts the job and records (status, response) as the key's answer in one atomic step,
  // so a crash cannot leave a job without its key or a key without its job. When the insert
  // fails (e.g. kConflict) no answer is recorded and the reservation stands.
  virtual Status InsertIdempotent(const Job& job, const IdempotencyClaim& claim, int status,
                                  const std::string& response, int64_t ttl_ms) = 0;
  // Records an answer that created no job (a 4xx), so a retry gets the same answer.
  virtual Status FinishIdempotent(const IdempotencyClaim& claim, int status,
                                  const std::string& response, int64_t ttl_ms) = 0;
  // Drops a reservation whose request failed on our side (5xx): the client may retry. A
  // recorded answer, or another body's reservation, is left alone.
  virtual Status AbandonIdempotent(const IdempotencyClaim& claim) = 0;

  // --- Processes sharing the store.
  // A worker says it is alive, and how it works (`report`); it counts as alive for `ttl_ms`.
  virtual Status WorkerHeartbeat(const std::string& worker, TimeMs now, int64_t ttl_ms,
                                 const WorkerReport& report) = 0;
  // Workers whose last heartbeat is younger than their ttl at `now` (alive while
  // now < heartbeat + ttl).
  virtual Result<int64_t> LiveWorkers(TimeMs now) = 0;
  // The last report of each worker alive at `now`, in no particular order.
  virtual Result<std::vector<WorkerReport>> LiveWorkerReports(TimeMs now) = 0;
  // Takes or renews the lease `name` (e.g. "alerts") for `holder`; true while `holder`
  // holds it. At most one holder at a time; a holder that stops renewing loses it after
  // `lease_ms`.
  virtual Result<bool> AcquireLease(const std::string& name, const std::string& holder, TimeMs now,
                                    int64_t lease_ms) = 0;
  // A running job held by `worker` goes back to the queue in its old place, and this run
  // does not count as a delivery (graceful shutdown hands jobs back); its progress is
  // reset. kConflict if it is not running under `worker`, kNotFound for an unknown id.
  virtual Status Release(const std::string& id, const std::string& worker) = 0;

  // Webhook deliveries (api/webhooks.h). A job whose request names a webhook_url gets one,
  // due at once, in the same write that ends it. A claim takes up to `limit` due ones, leases
  // each for `lease_ms` (no other claim gets it until then: a sender that dies mid-POST
  // leaves it to another after the lease) and counts an attempt.
  struct WebhookDue {
    std::string job_id;
    int32_t attempts = 0;  // this one included
  };
  virtual Result<std::vector<WebhookDue>> ClaimWebhooks(TimeMs now, int64_t lease_ms,
                                                        int32_t limit) = 0;
  // Delivered, or given up: forgotten.
  virtual Status EndWebhook(const std::string& job_id) = 0;
  // A failed try: due again at `due_at`.
  virtual Status RetryWebhook(const std::string& job_id, TimeMs due_at) = 0;
  // A claim that was no try (what it announces has not happened yet: a batch still ending):
  // due again at `due_at` with the tries it had before the claim, so waiting uses up none.
  // One ended meanwhile stays ended.
  virtual Status DeferWebhook(const std::string& id, TimeMs due_at) = 0;
  // A delivery about something other than a job, named by its id (a batch that ended), due
  // at `due_at`; one already queued for the id is left as it is. Claimed, ended and retried
  // as a job's.
  virtual Status QueueWebhook(const std::string& id, TimeMs due_at) = 0;

  // --- Usage per tenant and day (UTC), counted as jobs end and kept beyond their retention.
  struct UsageRow {
    std::string tenant;
    int64_t day = 0;  // days since the Unix epoch
    int64_t succeeded = 0, failed = 0, cancelled = 0, expired = 0;
    int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  };
  // Days from_day..to_day (inclusive), of one tenant or (nullopt) all; by day, then tenant.
  virtual Result<std::vector<UsageRow>> Usage(const std::optional<std::string>& tenant,
                                              int64_t from_day, int64_t to_day) = 0;

  // --- API keys made by `glmq keys create` (api/auth.h): only each key's SHA-256 is kept.
  struct ApiKeyRecord {
    std::string id;      // names the key in `glmq keys list` and `revoke`
    std::string sha256;  // of the key, lowercase hex
    std::string tenant;
    std::string role;  // read | submit | admin
    std::string name;
    TimeMs created_at = 0;
  };
  // kConflict when the id or the hash is taken.
  virtual Status AddApiKey(const ApiKeyRecord& key) = 0;
  virtual Result<std::vector<ApiKeyRecord>> ApiKeys() = 0;
  // Whether a key with this id was there; it is gone either way.
  virtual Result<bool> RemoveApiKey(const std::string& id) = 0;
};

// Where a new job lands and the wait it is told: what InsertBatch does for each job, and
// what an insert that measures the queue first does by hand. `work_before(key)`: the queued
// work with a lower key. Without a slack, the key as given and wait.Told(the work before it):
// its wait with the overtaking by later arrivals foreseen.
//
// With one, promised order (EDF on promised starts): the job is promised to start by its
// arrival + the wait of the work queued before it + its slack (what it lets later jobs
// overtake it by), and that moment is its order key: a later job sorts before it only
// while the later one is due to start earlier, so the overtaking a job sees stays within
// its slack and the wait it is told holds. The key depends on the work before it, which
// depends on the key: starting from the key as given (arrival + slack - priority), each
// round adds the wait of the work before the current key, until that work stops growing
// (at most kPromiseRounds rounds; the work before a key only grows with it). The job is
// told the wait found ahead plus half its slack (later jobs use none of it when none
// arrive, and all of it under a burst of shorter ones).
//
// With `kept_slack_seconds` instead (the default order, its key as given being arrival +
// that slack - priority): the job is told its wait with the overtaking foreseen, and when
// arrival + that wait comes before its key, the key moves there, so later arrivals sort
// before it only while they are due before the start it was told. The work before the
// earlier key is less, and so is the wait: each round moves the key to arrival + the wait
// found, until it stops moving (at most kPromiseRounds rounds). The key only moves
// earlier, and the job is told the wait before its final key.
struct NewJobPlace {
  int64_t order_key = 0;
  JobStore::WorkAhead ahead;
  double estimated_wait_seconds = 0;
};
inline constexpr int kPromiseRounds = 16;  // also in the Redis insert script
NewJobPlace PlaceNewJob(int64_t given_key, const WaitModel& wait,
                        std::optional<double> slack_seconds,
                        const std::function<JobStore::WorkAhead(int64_t)>& work_before,
                        std::optional<double> kept_slack_seconds = std::nullopt);

}  // namespace glmq
