// Scheduler: the loop that owns the engine. It claims queued jobs from the store in their
// order, tokenizes each once, admits them into free sequences, steps the engine, and writes
// progress and outcomes back. A job that does not fit the free KV is held (it keeps its
// claim and its tokens) until running jobs free enough, and jobs behind it are backfilled
// around it (sched/backfill.h). One thread; other threads talk to it through Wake() and
// RequestStop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
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
#include "sched/local_scheduler.h"
#include "sched/policy.h"
#include "sched/prompt_tokens_once.h"
#include "sched/throughput.h"
#include "store/job_store.h"

namespace glmq {

struct SchedulerOptions {
  std::string worker_id = "serve";
  int64_t lease_ms = 30'000;
  int32_t max_deliveries = 3;
  int64_t progress_interval_ms = 500;  // how often running jobs' progress is written
  int64_t housekeeping_interval_ms = 1000;
  // Ended jobs older than this are deleted from the store, a batch per housekeeping round
  // (JobStore::DeleteEnded); 0 keeps them.
  int64_t retention_ms = 0;
  int32_t retention_batch = 500;
  // Jobs behind one held for KV may start when they cannot delay it (sched/backfill.h);
  // false: nothing starts until the held job has (the bench compares the two).
  bool backfill = true;
  // Claims take the first job of the backlogged tenant with the least service counted
  // (JobStore::SetFairShare); false: the queue's global order.
  bool fair_share = true;
  // Sequences kept for short jobs (prompts under short_prompt_tokens): a longer job does not
  // start into the last `short_slots` free ones, so a burst of documents cannot take every
  // sequence from the questions that come after it (reading prompts is compute-bound: one
  // sequence fewer reads them about as fast). Longer prompts then also yield the step to a
  // short job that runs, and steps are held near the engine's step target (StepHints). 0:
  // none kept.
  int32_t short_slots = 0;
  int64_t short_prompt_tokens = 4096;
  // Where admission's settle step left the tokens of large prompts it counted (glmq serve,
  // sched/prompt_tokens_once.h); null: the scheduler tokenizes every prompt it claims.
  PromptTokensOnce* tokens_once = nullptr;
  // Whether a live worker other than this one has sequences that hold `kv_tokens` (prompt
  // and max_tokens). A job too long for this worker's sequences then goes back to the queue
  // for that worker instead of failing as prompt_too_long (a fleet whose workers' contexts
  // differ: `glmq worker` reads the others' heartbeats). Unset, or when no live worker
  // holds it: the job fails here.
  std::function<bool(int64_t kv_tokens)> held_elsewhere;
  // Called with each job just before the engine takes it. Fault injection for tests
  // (`glmq worker` with GLMQ_FAULT_CRASH_ON_TEXT); unset in normal runs.
  std::function<void(const Job&)> before_start;
  // The queue order's weights, for the virtual deadline of a running job (Running::
  // yield_key). A worker has none of the gateways' flags: the defaults.
  PolicyOptions policy;
};

class Scheduler final : public LocalScheduler {
 public:
  Scheduler(JobStore& store, Engine& engine, ThroughputMeter& meter, SchedulerOptions options);
  ~Scheduler();

  void Start();
  // Stops claiming; lets running jobs finish for up to `drain`; hands the rest back to the
  // queue (JobStore::Release: not counted as a delivery) when `hand_back`, or leaves them
  // to their lease otherwise; joins.
  void Shutdown(std::chrono::milliseconds drain = std::chrono::milliseconds(0),
                bool hand_back = false);

  void Wake() override;
  void RequestStop(const std::string& id) override;
  RunningWork running_work() const override;
  TimeMs alive_at() const override;
  JobStatsSnapshot latency() const override { return stats_.Snapshot(); }
  // Latency figures of recent jobs; the listener hook feeds metrics.
  JobStats& job_stats() { return stats_; }

 private:
  struct Running {
    LengthClass length_class = LengthClass::kShort;
    TimeMs created_at = 0;
    TimeMs started_at = 0;
    bool first_token_seen = false;
    bool alone = false;  // a redelivered job runs with no other beside it
    // Its prompt yields the step to waiting work whose order key is less (Hints): its
    // virtual deadline, the order key before a kept estimate moved it earlier (the start
    // it was told is kept once it runs; the questions after it still sort first).
    int64_t yield_key = 0;
    int64_t prompt_tokens = 0;
    int32_t max_tokens = 0;
    JobProgress progress;
    TimeMs progress_written_at = 0;
  };

  // A claimed job and its prompt's tokens, made once. A large prompt is tokenized on a
  // thread of its own (`tokenizing`) while the engine goes on; its address stays put, since
  // that thread reads the request in place.
  struct Claimed {
    Job job;
    PromptTokens prompt;
    // Valid until the tokens are taken; declared after `job`, so that it is destroyed (and
    // waited for) first.
    std::future<Result<PromptTokens>> tokenizing;
    int64_t kv_tokens() const {
      const int64_t prompt_tokens =
          tokenizing.valid() ? job.prompt_tokens : static_cast<int64_t>(prompt.size());
      return prompt_tokens + job.request.sampling.max_tokens;
    }
  };
  // The job at the head that waits for its tokens, for KV, or to run alone.
  struct Held {
    std::unique_ptr<Claimed> claimed;
    // ended_ at the last Admit: ask again once a job ended. Empty: not asked since its
    // tokens came, so ask at the next turn.
    std::optional<uint64_t> tried_at_ended;
  };
  enum class Started { kYes, kEnded, kWait };

  void Loop();
  void Housekeeping(TimeMs now);
  void AdmitQueued();
  // Claims the queue's head and tokenizes it (with `may_defer`, a large prompt on a thread
  // of its own); null when none is queued, or when the job ended here (it can never fit,
  // or its prompt cannot be tokenized).
  std::unique_ptr<Claimed> ClaimAndTokenize(bool* queue_empty, bool may_defer);
  // Whether a claimed job's texts are kept after its tokens are made: the engine reads
  // them, or before_start may.
  bool KeepsText() const { return engine_.ReadsRequestText() || bool(options_.before_start); }
  // Takes the tokens, checked against the context; false when the job ended for them.
  bool TakeTokens(Claimed& claimed, Result<PromptTokens> tokens);
  // Ends `job` if it was cancelled or its deadline passed while it waited (true).
  bool EndedWhileQueued(const Job& job, TimeMs now);
  Started TryStart(Claimed& claimed);
  // Starts jobs behind the held one that cannot delay it.
  void Backfill();
  // What the next claim may take: in the sequences kept for short jobs, short ones only.
  JobStore::ClaimLimit SlotLimit() const;
  // Seconds a job of this size takes beside the ones running now.
  double ForecastSeconds(const ThroughputSnapshot& rates, int64_t prompt_tokens,
                         int64_t max_tokens) const;
  void HandBack(const std::string& id);
  StepHints Hints();
  void ApplyStep(const StepReport& report);
  void PublishRunningWork();
  // A job too long for this worker goes back to the queue when a live worker holds it
  // (held_elsewhere); claims pause a moment so that worker can take it. False: it stays.
  bool HandBackForLargerWorker(const Job& job, int64_t kv_tokens);

  JobStore& store_;
  Engine& engine_;
  ThroughputMeter& meter_;
  const SchedulerOptions options_;
  // Store calls repeated every loop or housekeeping round: an unreachable store is said once
  // a minute, not every second. Before writer_, whose thread uses them.
  FailureLog lease_heartbeat_log_{"renewing this worker's leases"};
  FailureLog expire_log_{"expiring overdue jobs"};
  FailureLog reap_log_{"re-queueing jobs whose lease expired"};
  FailureLog retention_log_{"deleting ended jobs past their retention"};
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
  std::optional<Held> held_;  // claimed, waiting for running jobs to free KV
  uint64_t ended_ = 0;        // sequences that ended so far (each frees KV and a sequence)
  // A queue head whose exact size would not backfill: not claimed again while it heads.
  std::optional<JobStore::QueueHead> refused_head_;
  // Jobs too long for this worker that went back for a larger one (held_elsewhere), with
  // the KV tokens they need: claimed again, they go back without being tokenized again.
  std::map<std::string, int64_t> too_long_here_;
  static constexpr std::chrono::milliseconds kElsewherePause{1000};
  static constexpr size_t kMaxTooLongHere = 1024;
  double step_seconds_ = 0;  // recent engine steps, for how fast a backfilled job runs
  TimeMs last_housekeeping_ = 0;
};

}  // namespace glmq
