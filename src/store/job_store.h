// JobStore: the durable home of every job. Owns queue order, leases, retries, results and
// events. Implementations: SqliteJobStore (embedded, `glmq serve`) and, later, Redis.
//
// Every method is blocking and thread-safe; callers on Asio threads hand off to a pool.
// Every state change is durable before the method returns, and is published to the
// listener given at construction.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/status.h"

namespace glmq {

struct ListFilter {
  std::optional<JobState> state;
  int32_t limit = 50;
  std::string after;  // job id cursor: list jobs older than this one (the next page)
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

// Called after a change is durable: (job id, new state). Must not call back into the store.
using JobListener = std::function<void(const std::string& id, JobState state)>;

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Durably adds a queued job.
  virtual Status Insert(const Job& job) = 0;

  // With `with_request` false the (possibly huge) document is not read.
  virtual Result<Job> Get(const std::string& id, bool with_request = true) = 0;

  // Newest first, without request bodies.
  virtual Result<std::vector<Job>> List(const ListFilter& filter) = 0;

  // Moves the queued job with the lowest order_key to running under `worker`'s lease and
  // returns it (with its request). nullopt when the queue is empty.
  virtual Result<std::optional<Job>> ClaimNext(const std::string& worker, int64_t lease_ms) = 0;

  // Extends the lease of the worker's running jobs.
  virtual Status Heartbeat(const std::string& worker, int64_t lease_ms) = 0;

  virtual Status UpdateProgress(const std::string& id, const JobProgress& progress) = 0;

  // Writes the outcome of a running job held by `worker`. A second write for the same job,
  // or one from a worker that lost the lease, changes nothing and returns kConflict.
  virtual Status Complete(const std::string& id, const std::string& worker,
                          const Completion& completion) = 0;

  // A queued job becomes cancelled at once; a running one gets cancel_requested, and its
  // engine finishes it as cancelled. Terminal jobs are returned unchanged.
  virtual Result<Job> Cancel(const std::string& id) = 0;

  // Large documents are accepted on an estimate of their size and counted right after the
  // 202. Records the exact count of a job still queued, with the class and order key that
  // follow from it; kConflict once the job has left the queue.
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

  // Position (1-based) of a queued job among queued jobs; 0 if not queued.
  virtual Result<int64_t> QueuePosition(const std::string& id) = 0;

  // Queued work that runs before a job with this order key: (jobs, prompt tokens, max tokens).
  struct WorkAhead {
    int64_t jobs = 0;
    int64_t prompt_tokens = 0;
    int64_t max_tokens = 0;
  };
  virtual Result<WorkAhead> WorkBefore(int64_t order_key) = 0;

  virtual Result<QueueSnapshot> Snapshot() = 0;

  // Liveness of the store for /readyz: can it write?
  virtual Status CheckWritable() = 0;
};

}  // namespace glmq
