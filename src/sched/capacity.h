// Capacity: what estimates of waits and drain times start from, wherever the engines are.
// `glmq serve` and a worker read their own scheduler; a gateway, which runs no engine, adds
// up the reports that live workers leave in the store with each heartbeat.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "core/failure_log.h"
#include "core/periodic.h"
#include "sched/local_scheduler.h"
#include "sched/policy.h"
#include "sched/throughput.h"
#include "store/job_store.h"

namespace glmq {

struct Capacity {
  ThroughputSnapshot rates;  // zero rates: not measured (the policy's fallbacks apply)
  RunningLeft running;       // what the running jobs have left
  int32_t free_sequences = 0;
  // The engine's step in progress should end in this many seconds (unset: no step, or a
  // fleet's): what a job that finds a sequence free waits for.
  std::optional<double> step_left_seconds;
  // With no sequence free, the first running job should end in this many seconds (unset:
  // not foreseen): a job with nothing ahead starts then (sched/first_end.h).
  std::optional<double> first_end_seconds;
  int32_t running_sequences = 0;
  int64_t engines = 0;  // engines the figures come from
  // The largest sequence among them (tokens, prompt and answer); 0 when none said.
  int64_t sequence_tokens = 0;
};

class CapacitySource {
 public:
  virtual ~CapacitySource() = default;
  // Cheap and never blocking on I/O: submits read it on io threads.
  virtual Capacity Now() const = 0;
};

// This process's engine, from its meter and scheduler; `scheduler` null: no engine here.
class LocalCapacity final : public CapacitySource {
 public:
  LocalCapacity(const ThroughputMeter& meter, const LocalScheduler* scheduler)
      : meter_(meter), scheduler_(scheduler) {}
  Capacity Now() const override;

 private:
  const ThroughputMeter& meter_;
  const LocalScheduler* scheduler_;
};

// What a worker says about itself with its heartbeat.
WorkerReport ReportOf(const Capacity& capacity);

// Workers together. They run side by side, so their speeds add up, as do the work in hand
// and the free sequences. A job runs on one worker: its speed alone is the mean of theirs.
// The completion ratio is weighted by decode speed (the workers that generate most).
Capacity Combine(const std::vector<WorkerReport>& reports);

// A gateway's view of the workers: the live ones' reports, read from the store every
// `refresh` on a thread of its own, so that a submit never waits for the store.
class FleetCapacity final : public CapacitySource {
 public:
  explicit FleetCapacity(JobStore& store,
                         std::chrono::milliseconds refresh = std::chrono::milliseconds(1000));
  FleetCapacity(const FleetCapacity&) = delete;
  FleetCapacity& operator=(const FleetCapacity&) = delete;

  Capacity Now() const override;
  // Reads the reports now; false when the store could not be read (the last view stays).
  bool Refresh();

 private:
  JobStore& store_;
  mutable std::mutex mu_;
  Capacity current_;  // guarded by mu_
  FailureLog log_{"reading the workers' reports", spdlog::level::warn};
  Periodic refresher_;  // last: stopped before the rest goes
};

}  // namespace glmq
