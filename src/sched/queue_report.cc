#include "sched/queue_report.h"

#include <algorithm>

#include "sched/policy.h"

namespace glmq {

int64_t QueueReport::total(JobState state) const {
  auto it = queue.totals.find(state);
  return it == queue.totals.end() ? 0 : it->second;
}

QueueReporter::QueueReporter(JobStore& store, const CapacitySource& capacity,
                             const LocalScheduler* local)
    : store_(store), capacity_(capacity), local_(local) {}

Result<QueueReport> QueueReporter::Read(bool with_running_jobs) const {
  QueueReport r;
  r.now = NowMs();
  r.store_health = store_.write_health().Now();
  r.storage = store_.Storage();
  GLMQ_ASSIGN_OR_RETURN(r.queue, store_.Snapshot());
  for (const auto& [c, s] : r.queue.classes) {
    r.queued += s.queued;
    r.queued_prompt_tokens += s.queued_prompt_tokens;
    r.queued_max_tokens += s.queued_max_tokens;
  }
  r.capacity = capacity_.Now();
  r.predicted_drain_seconds = PredictedDrainSeconds(r.capacity.rates, r.queue, r.capacity.running);
  r.failed_total = r.total(JobState::kFailed) + r.total(JobState::kExpired);
  r.finished_total = r.failed_total + r.total(JobState::kSucceeded) + r.total(JobState::kCancelled);
  if (with_running_jobs || local_ == nullptr) {
    ListFilter running;
    running.state = JobState::kRunning;
    running.limit = 1000;
    GLMQ_ASSIGN_OR_RETURN(r.running, store_.List(running));
  }
  if (local_ != nullptr) {
    const RunningWork work = local_->running_work();
    r.local = work;
    r.latency = local_->latency();
    const TimeMs alive_at = local_->alive_at();
    r.workers_alive = alive_at > 0 && r.now - alive_at < kWorkerSilenceMs ? 1 : 0;
    if (work.oldest_started_at > 0) {
      r.longest_running_seconds = (r.now - work.oldest_started_at) / 1000.0;
      r.longest_running_job = work.oldest_job;
    }
    r.work_done_total =
        r.capacity.rates.prompt_tokens_total + r.capacity.rates.generated_tokens_total;
    return r;
  }
  // A gateway: the workers are elsewhere; the store knows who is alive and what runs, and
  // tokens move on the workers, seen here in the running jobs' progress.
  GLMQ_ASSIGN_OR_RETURN(r.workers_alive, store_.LiveWorkers(r.now));
  for (const Job& j : r.running) {
    const double seconds = j.started_at > 0 ? (r.now - j.started_at) / 1000.0 : 0.0;
    if (seconds > r.longest_running_seconds) {
      r.longest_running_seconds = seconds;
      r.longest_running_job = j.id;
    }
    r.work_done_total += j.progress.prompt_tokens_read + j.progress.completion_tokens;
  }
  return r;
}

}  // namespace glmq
