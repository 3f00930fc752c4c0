#include "sched/scheduler.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace glmq {
namespace {

JobEvent MakeEvent(JobEvent::Kind kind, const std::string& job_id, LengthClass length_class,
                   double seconds) {
  JobEvent e;
  e.kind = kind;
  e.job_id = job_id;
  e.length_class = length_class;
  e.seconds = seconds;
  return e;
}

Completion FailedCompletion(const Status& status) {
  Completion c;
  c.state = JobState::kFailed;
  c.finish_reason = "error";
  // A prompt found too long only here (a gateway accepted it on an estimate) reads as it
  // would had it been counted at submit.
  c.error_code = status.code() == StatusCode::kUnprocessable ? "prompt_too_long"
                                                             : StatusCodeName(status.code());
  c.error_message = status.message();
  return c;
}

}  // namespace

Scheduler::Scheduler(JobStore& store, Engine& engine, ThroughputMeter& meter,
                     SchedulerOptions options)
    : store_(store),
      engine_(engine),
      meter_(meter),
      options_(std::move(options)),
      writer_(store, options_.worker_id) {}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Start() {
  PublishRunningWork();
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Shutdown(std::chrono::milliseconds drain, bool hand_back) {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + drain;
    hand_back_ = hand_back;
    if (drain.count() <= 0) stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

void Scheduler::RequestStop(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    stop_requests_.insert(id);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

TimeMs Scheduler::alive_at() const { return std::max(running_work().loop_at, engine_.alive_at()); }

RunningWork Scheduler::running_work() const {
  std::lock_guard lock(work_mu_);
  return work_;
}

void Scheduler::PublishRunningWork() {
  RunningWork w;
  w.sequences = engine_.ActiveSequences();
  w.free_sequences = engine_.FreeSlots();
  // What running jobs hold (a prefix they share counts once); warm cached KV is free.
  w.kv_reserved_tokens = engine_.info().ctx_size - engine_.FreeKvTokens();
  w.loop_at = NowMs();
  for (const auto& [id, r] : running_) {
    w.prompt_tokens_left += std::max<int64_t>(0, r.prompt_tokens - r.progress.prompt_tokens_read);
    w.max_tokens_left += std::max<int64_t>(0, r.max_tokens - r.progress.completion_tokens);
    if (w.oldest_started_at == 0 || r.started_at < w.oldest_started_at) {
      w.oldest_started_at = r.started_at;
      w.oldest_job = id;
    }
  }
  std::lock_guard lock(work_mu_);
  work_ = w;
}

void Scheduler::Housekeeping(TimeMs now) {
  last_housekeeping_ = now;
  // One round at a time: if the store is slow, rounds are skipped rather than queued up.
  if (housekeeping_pending_.exchange(true)) return;
  std::vector<std::string> ids;
  for (const auto& [id, r] : running_) ids.push_back(id);
  if (waiting_for_kv_) ids.push_back(waiting_for_kv_->id);
  writer_.Run([this, now, ids = std::move(ids)] {
    lease_heartbeat_log_.Record(store_.Heartbeat(options_.worker_id, options_.lease_ms));
    expire_log_.Record(store_.ExpireOverdue(now).status());
    auto reaped = store_.ReapExpiredLeases(now, options_.max_deliveries);
    reap_log_.Record(reaped.status());
    if (reaped.ok() && *reaped > 0) {
      spdlog::warn("re-queued {} jobs whose worker lease expired", *reaped);
    }
    // Cancellations recorded by another process reach us through the store.
    for (const std::string& id : ids) {
      auto job = store_.Get(id, false);
      if (job.ok() && job->cancel_requested) RequestStop(id);
    }
    housekeeping_pending_ = false;
  });
}

// Starts `job` on the engine. Returns false when it must wait: the KV cache has no room for
// it yet, or it must run alone and others still run.
bool Scheduler::TryStart(Job& job) {
  const TimeMs now = NowMs();
  if (job.cancel_requested) {
    Completion c;
    c.state = JobState::kCancelled;
    c.finish_reason = "cancelled";
    writer_.Complete(job.id, options_.worker_id, std::move(c));
    return true;
  }
  if (job.deadline_at > 0 && now >= job.deadline_at) {
    Completion c;
    c.state = JobState::kExpired;
    c.finish_reason = "timeout";
    c.error_code = "timeout";
    c.error_message = "the job's timeout_seconds passed while it was queued";
    writer_.Complete(job.id, options_.worker_id, std::move(c));
    return true;
  }
  // A job delivered before may be what killed the last worker: run it alone, so that if it
  // does again, it takes no innocent job with it (those would use up their deliveries too
  // and end in the dead letter beside it).
  const bool alone = job.attempts > 1;
  if (alone) {
    if (engine_.ActiveSequences() > 0) return false;  // after the running ones end
    // The results of the jobs that just ended must not die with this one: a result lost
    // in the writer's queue would run its job again and count a delivery against it.
    writer_.Flush();
  }
  if (options_.before_start) options_.before_start(job);
  const Status admitted = engine_.Admit(job);
  if (admitted.code() == StatusCode::kResourceExhausted && engine_.ActiveSequences() > 0) {
    return false;  // running jobs will free KV
  }
  if (!admitted.ok()) {
    spdlog::warn("job {} cannot run: {}", job.id, admitted.ToString());
    writer_.Complete(job.id, options_.worker_id, FailedCompletion(admitted));
    return true;
  }
  stats_.Record(MakeEvent(JobEvent::Kind::kStarted, job.id, job.length_class,
                          (now - job.created_at) / 1000.0));
  spdlog::debug("job {} started ({} prompt tokens, attempt {})", job.id, job.prompt_tokens,
                job.attempts);
  if (alone) spdlog::info("job {} runs alone: delivery {}", job.id, job.attempts);
  Running& r = running_[job.id];
  r.alone = alone;
  r.length_class = job.length_class;
  r.created_at = job.created_at;
  r.started_at = now;
  r.order_key = job.order_key;
  r.prompt_tokens = job.prompt_tokens;
  r.max_tokens = job.request.sampling.max_tokens;
  return true;
}

void Scheduler::AdmitQueued() {
  // The job at the head keeps its place until the KV it needs is free: nothing behind it
  // may take that memory, so it cannot be kept out forever.
  if (waiting_for_kv_) {
    if (!TryStart(*waiting_for_kv_)) return;
    waiting_for_kv_.reset();
  }
  for (const auto& [id, r] : running_) {
    if (r.alone) return;
  }
  if (std::chrono::steady_clock::now() < claims_paused_until_) return;
  while (engine_.FreeSlots() > 0) {
    auto claimed = store_.ClaimNext(options_.worker_id, options_.lease_ms);
    claim_log_.Record(claimed.status());
    if (!claimed.ok()) return;
    if (!claimed->has_value()) return;
    Job job = std::move(**claimed);
    if (!TryStart(job)) {
      waiting_for_kv_ = std::move(job);
      return;
    }
  }
}

// A running job still reading its prompt yields the step to queued work that sorts before
// it: a document admitted into a free slot must not slow the questions that came after it
// (and sort first) while they wait for, or run in, the other slots.
StepHints Scheduler::Hints() {
  StepHints hints;
  // What sorts first among the waiting: the job held for KV, or the head of the queue (one
  // cheap store question per step, asked only while some prompt is being read).
  std::optional<int64_t> first_waiting;
  bool asked = false;
  for (const auto& [id, r] : running_) {
    if (r.progress.prompt_tokens_read >= r.prompt_tokens && r.progress.prompt_tokens_read > 0) {
      continue;  // generating
    }
    if (!asked) {
      asked = true;
      if (waiting_for_kv_) first_waiting = waiting_for_kv_->order_key;
      auto head = store_.HeadOrderKey();
      if (head.ok() && *head && (!first_waiting || **head < *first_waiting)) {
        first_waiting = **head;
      }
    }
    if (first_waiting && *first_waiting < r.order_key) hints.yield_prefill.push_back(id);
  }
  return hints;
}

void Scheduler::ApplyStep(const StepReport& report) {
  int32_t generating = 0;
  for (const auto& p : report.progressed) generating += p.progress.completion_tokens > 0 ? 1 : 0;
  meter_.RecordStep(report.prompt_tokens, report.generated_tokens, generating, report.seconds);
  if (report.reused_prompt_tokens > 0) meter_.RecordReused(report.reused_prompt_tokens);

  const TimeMs now = NowMs();
  for (const auto& p : report.progressed) {
    auto it = running_.find(p.id);
    if (it == running_.end()) continue;
    it->second.progress = p.progress;
    if (!it->second.first_token_seen && p.progress.completion_tokens > 0) {
      it->second.first_token_seen = true;
      stats_.Record(MakeEvent(JobEvent::Kind::kFirstToken, p.id, it->second.length_class,
                              (now - it->second.created_at) / 1000.0));
    }
    if (p.progress.prompt_tokens > 0) it->second.prompt_tokens = p.progress.prompt_tokens;
    if (now - it->second.progress_written_at >= options_.progress_interval_ms) {
      it->second.progress_written_at = now;
      writer_.Progress(p.id, p.progress);
    }
  }
  for (const auto& f : report.finished) {
    if (f.completion.retry_later) {
      // Not the job's fault: back to the queue in its old place, not counted as a delivery.
      running_.erase(f.id);
      writer_.Flush();  // its progress writes first: Release resets them
      engine_log_.Record(Internal(f.completion.error_message));
      if (Status s = store_.Release(f.id, options_.worker_id); !s.ok()) {
        spdlog::warn("handing back job {} failed ({}); its lease will run out", f.id, s.ToString());
      }
      claims_paused_until_ = std::chrono::steady_clock::now() + retry_backoff_;
      retry_backoff_ = std::min(retry_backoff_ * 2, kMaxRetryBackoff);
      continue;
    }
    if (f.completion.state == JobState::kSucceeded) {
      retry_backoff_ = kMinRetryBackoff;
      engine_log_.Record(Status::Ok());
    }
    auto it = running_.find(f.id);
    if (it != running_.end()) {
      if (f.completion.state == JobState::kSucceeded) {
        meter_.RecordCompletion(f.completion.usage.completion_tokens, it->second.max_tokens);
      }
      JobEvent finished = MakeEvent(JobEvent::Kind::kFinished, f.id, it->second.length_class,
                                    (now - it->second.started_at) / 1000.0);
      finished.state = f.completion.state;
      finished.usage = f.completion.usage;
      stats_.Record(finished);
      running_.erase(it);
    }
    writer_.Complete(f.id, options_.worker_id, f.completion);
  }
}

void Scheduler::Loop() {
  spdlog::info("scheduler started as worker '{}'", options_.worker_id);
  while (true) {
    std::set<std::string> stops;
    bool draining = false;
    {
      std::unique_lock lock(mu_);
      if (stopping_) break;
      draining = draining_;
      if (draining && ((running_.empty() && !waiting_for_kv_) ||
                       std::chrono::steady_clock::now() >= drain_deadline_)) {
        break;
      }
      stops.swap(stop_requests_);
      woken_ = false;
    }
    for (const std::string& id : stops) {
      if (running_.count(id)) engine_.Stop(id, JobState::kCancelled);
      if (waiting_for_kv_ && waiting_for_kv_->id == id) waiting_for_kv_->cancel_requested = true;
    }
    const TimeMs now = NowMs();
    if (now - last_housekeeping_ >= options_.housekeeping_interval_ms) Housekeeping(now);
    if (!draining) AdmitQueued();
    if (engine_.ActiveSequences() == 0 && running_.empty() && !waiting_for_kv_) {
      PublishRunningWork();
      std::unique_lock lock(mu_);
      wake_cv_.wait_for(lock, std::chrono::milliseconds(options_.housekeeping_interval_ms),
                        [this] { return woken_ || stopping_; });
      continue;
    }
    ApplyStep(engine_.Step(Hints()));
    if (engine_.ActiveSequences() == 0 && !running_.empty()) {
      // Every sequence ended, so a job still listed here was lost track of (a bug): fail it
      // rather than spin or hold its lease forever.
      for (const auto& [id, r] : running_) {
        spdlog::error("job {} has no engine sequence; failing it", id);
        writer_.Complete(id, options_.worker_id,
                         FailedCompletion(Internal("the engine lost the job's sequence")));
      }
      running_.clear();
    }
    PublishRunningWork();
  }
  // Handed back, a job is queued again at once in its old place; otherwise it keeps its
  // lease, and when that runs out (or at the next start of `glmq serve`) it is queued again.
  // Either way it runs again from the start.
  if (waiting_for_kv_) running_[waiting_for_kv_->id];
  if (!running_.empty()) {
    spdlog::info("stopping with {} running jobs; {}", running_.size(),
                 hand_back_ ? "handing them back to the queue" : "they will be queued again");
  }
  if (hand_back_) {
    writer_.Flush();
    for (const auto& [id, r] : running_) {
      if (Status s = store_.Release(id, options_.worker_id); !s.ok()) {
        spdlog::warn("handing back job {} failed ({}); its lease will run out", id, s.ToString());
      }
    }
  }
  writer_.Flush();
  spdlog::info("scheduler stopped");
}

}  // namespace glmq
