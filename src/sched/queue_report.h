// QueueReport: one reading of the queue and of the engines working on it. GET /v1/queue
// shows it, the metrics export it and the alert rules look at it, so the three never
// disagree about what the queue holds or how long it will take to drain.
//
// Threads: Read blocks on the store (one snapshot, and the running jobs when asked), so it
// belongs on a pool or a thread of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "sched/capacity.h"
#include "sched/local_scheduler.h"
#include "store/job_store.h"

namespace glmq {

struct QueueReport {
  TimeMs now = 0;
  QueueSnapshot queue;  // per class and state, from the store
  int64_t queued = 0;   // over every class
  int64_t queued_prompt_tokens = 0;
  int64_t queued_max_tokens = 0;
  // The running jobs (no documents), newest first; empty unless asked for (or a gateway).
  std::vector<Job> running;
  // The speeds and work in hand behind estimates: this process's engine, or the live
  // workers' reports on a gateway.
  Capacity capacity;
  // Seconds to finish the queued and running work at the measured throughput.
  double predicted_drain_seconds = 0;
  // This process's engine; nullopt on a gateway.
  std::optional<RunningWork> local;
  std::optional<JobStatsSnapshot> latency;
  // Engines alive: this process's (0 or 1), or the workers heartbeating in the store.
  int64_t workers_alive = 0;
  double longest_running_seconds = 0;
  std::string longest_running_job;
  // Prompt tokens read and tokens generated so far: this process's engine, or on a gateway
  // the running jobs' progress.
  int64_t work_done_total = 0;
  // Jobs ended so far, and of them failed or expired (the store's retained totals).
  int64_t finished_total = 0;
  int64_t failed_total = 0;
  // How the store's writes went, and its room (this process's view of the store).
  WriteHealth::Snapshot store_health;
  StorageUsage storage;

  int64_t total(JobState state) const;
};

class QueueReporter {
 public:
  // `local`: the scheduler in this process, null on a gateway.
  QueueReporter(JobStore& store, const CapacitySource& capacity, const LocalScheduler* local);

  // `with_running_jobs`: list them (a gateway always reads them, for its figures).
  Result<QueueReport> Read(bool with_running_jobs) const;

  const CapacitySource& capacity() const { return capacity_; }

 private:
  JobStore& store_;
  const CapacitySource& capacity_;
  const LocalScheduler* local_;
};

// The scheduler loop turns at least every housekeeping interval and the engine beats between
// graph nodes inside a step: this long without either is a stuck engine, not a slow one.
inline constexpr int64_t kWorkerSilenceMs = 120'000;

}  // namespace glmq
