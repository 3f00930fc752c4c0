// Scheduler: the loop that owns the engine. It claims queued jobs from the store in their
// order, admits them into free sequences, steps the engine, and writes progress and
// outcomes back. One thread; other threads talk to it through Wake() and RequestStop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/failure_log.h"
#include "engine/engine.h"
#include "sched/background_writer.h"
#include "sched/job_stats.h"
#include "sched/throughput.h"
#include "store/job_store.h"

namespace glmq {

struct SchedulerOptions {
  std::string worker_id = "serve";
  int64_t lease_ms = 30'000;
  int32_t max_deliveries = 3;
  int64_t progress_interval_ms = 500;  // how often running jobs' progress is written
  int64_t housekeeping_interval_ms = 1000;
  // Called with each job just before the engine takes it. Fault injection for tests
  // (`glmq worker` with GLMQ_FAULT_CRASH_ON_TEXT); unset in normal runs.
  std::function<void(const Job&)> before_start;
};

// What is left of the running jobs, for wait estimates.
struct RunningWork {
  int32_t sequences = 0;
  int32_t free_sequences = 0;
  int64_t prompt_tokens_left = 0;
  int64_t max_tokens_left = 0;
  int64_t kv_reserved_tokens = 0;  // KV tokens running jobs hold (prompt + max_tokens, shared once)
  TimeMs oldest_started_at = 0;    // the longest-running job's start; 0 when none
  std::string oldest_job;
  TimeMs loop_at = 0;  // the scheduler loop's last turn: a stuck engine stops it
};

class Scheduler {
 public:
  Scheduler(JobStore& store, Engine& engine, ThroughputMeter& meter, SchedulerOptions options);
  ~Scheduler();

  void Start();
  // Stops claiming; lets running jobs finish for up to `drain`; hands the rest back to the
  // queue (JobStore::Release: not counted as a delivery) when `hand_back`, or leaves them
  // to their lease otherwise; joins.
  void Shutdown(std::chrono::milliseconds drain = std::chrono::milliseconds(0),
                bool hand_back = false);

  // A job was queued: look now instead of at the next poll. Any thread.
  void Wake();
  // A running job was cancelled: end its sequence. Any thread.
  void RequestStop(const std::string& id);

  RunningWork running_work() const;
  // When the loop or the engine inside a step last showed life. Any thread.
  TimeMs alive_at() const;
  // Latency figures of recent jobs; the listener hook feeds metrics.
  JobStats& job_stats() { return stats_; }

 private:
  struct Running {
    LengthClass length_class = LengthClass::kShort;
    TimeMs created_at = 0;
    TimeMs started_at = 0;
    bool first_token_seen = false;
    bool alone = false;  // a redelivered job runs with no other beside it
    int64_t order_key = 0;
    int64_t prompt_tokens = 0;
    int32_t max_tokens = 0;
    JobProgress progress;
    TimeMs progress_written_at = 0;
  };

  void Loop();
  void Housekeeping(TimeMs now);
  void AdmitQueued();
  bool TryStart(Job& job);
  StepHints Hints();
  void ApplyStep(const StepReport& report);
  void PublishRunningWork();

  JobStore& store_;
  Engine& engine_;
  ThroughputMeter& meter_;
  const SchedulerOptions options_;
  // Store calls repeated every loop or housekeeping round: an unreachable store is said once
  // a minute, not every second. Before writer_, whose thread uses them.
  FailureLog lease_heartbeat_log_{"renewing this worker's leases"};
  FailureLog expire_log_{"expiring overdue jobs"};
  FailureLog reap_log_{"re-queueing jobs whose lease expired"};
  FailureLog claim_log_{"claiming a job"};
  FailureLog engine_log_{"the engine (jobs handed back to the queue)"};
  // After a run that must be retried later, no claims until then; the wait doubles while
  // such runs go on (engine thread only).
  std::chrono::steady_clock::time_point claims_paused_until_{};
  std::chrono::milliseconds retry_backoff_{kMinRetryBackoff};
  static constexpr std::chrono::milliseconds kMinRetryBackoff{1000};
  static constexpr std::chrono::milliseconds kMaxRetryBackoff{30000};
  BackgroundWriter writer_;  // store writes off the engine's thread
  std::atomic<bool> housekeeping_pending_{false};
  std::thread thread_;

  std::mutex mu_;  // guards the fields below it
  std::condition_variable wake_cv_;
  bool woken_ = false;
  bool stopping_ = false;
  bool draining_ = false;  // no more claims
  bool hand_back_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::set<std::string> stop_requests_;

  JobStats stats_;
  mutable std::mutex work_mu_;
  RunningWork work_;

  // Scheduler thread only.
  std::map<std::string, Running> running_;
  std::optional<Job> waiting_for_kv_;  // claimed, waiting for running jobs to free KV
  TimeMs last_housekeeping_ = 0;
};

}  // namespace glmq
