// LocalScheduler: what the rest of a process may ask of the scheduler that runs its engine
// (`glmq serve`, a worker), without seeing the engine: admission wakes it, a cancel reaches
// it at once, and the queue report reads its running work. Implemented by Scheduler; a
// gateway has none. Every method may be called from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "core/job.h"
#include "sched/job_stats.h"

namespace glmq {

// What is left of the running jobs, for wait estimates.
struct RunningWork {
  int32_t sequences = 0;
  int32_t free_sequences = 0;
  int64_t prompt_tokens_left = 0;
  double prompt_positions_left = 0;  // their positions summed (PositionsOf)
  int64_t max_tokens_left = 0;
  int64_t kv_reserved_tokens = 0;  // KV tokens running jobs hold (prompt + max_tokens, shared once)
  TimeMs oldest_started_at = 0;    // the longest-running job's start; 0 when none
  std::string oldest_job;
  TimeMs loop_at = 0;       // the scheduler loop's last turn: a stuck engine stops it
  TimeMs step_ends_at = 0;  // when the engine's step in progress should end (Engine's; 0: none)
  TimeMs first_end_at = 0;  // when the first running job should end (FirstEndSeconds; 0: none)
};

class LocalScheduler {
 public:
  virtual ~LocalScheduler() = default;
  // A job was queued: look now instead of at the next poll.
  virtual void Wake() = 0;
  // A running job was cancelled: end its sequence.
  virtual void RequestStop(const std::string& id) = 0;
  virtual RunningWork running_work() const = 0;
  // When the loop or the engine inside a step last showed life.
  virtual TimeMs alive_at() const = 0;
  // Latency figures of recent jobs.
  virtual JobStatsSnapshot latency() const = 0;
};

}  // namespace glmq
