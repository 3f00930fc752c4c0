// Liveness: a worker says "alive" in the store while its scheduler or its engine shows
// life, with a report of its speeds and work in hand for the gateways' estimates
// (JobStore::WorkerHeartbeat). A worker whose engine is stuck stops saying it, so the
// `no_worker` rule sees it. A thread of its own.
#pragma once

#include <string>

#include "core/failure_log.h"
#include "core/periodic.h"
#include "sched/capacity.h"
#include "sched/local_scheduler.h"
#include "store/job_store.h"

namespace glmq {

class Liveness {
 public:
  // `sequence_tokens`: the most tokens one sequence of the engine holds, told with each beat
  // (gateways check prompts against the largest their workers hold).
  Liveness(JobStore& store, const LocalScheduler& scheduler, const CapacitySource& capacity,
           std::string name, int64_t sequence_tokens);

 private:
  static constexpr int64_t kBeatMs = 2'000;
  static constexpr int64_t kTtlMs = 10'000;

  void Beat();

  JobStore& store_;
  const LocalScheduler& scheduler_;
  const CapacitySource& capacity_;
  const std::string name_;
  const int64_t sequence_tokens_;
  FailureLog beat_log_{"the worker heartbeat", spdlog::level::warn};
  Periodic beat_;  // last: stopped before the rest goes
};

}  // namespace glmq
