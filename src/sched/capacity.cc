#include "sched/capacity.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace glmq {
namespace {

// Seconds from now until `at`; 0 once it has passed.
double SecondsUntil(TimeMs at) {
  return std::max<double>(0, static_cast<double>(at - NowMs())) / 1000;
}

}  // namespace

Capacity LocalCapacity::Now() const {
  Capacity c;
  c.rates = meter_.Snapshot();
  if (scheduler_ != nullptr) {
    const RunningWork work = scheduler_->running_work();
    c.running = {.prompt_tokens = work.prompt_tokens_left,
                 .prompt_positions = work.prompt_positions_left,
                 .max_tokens = work.max_tokens_left};
    c.free_sequences = work.free_sequences;
    if (work.step_ends_at > 0) c.step_left_seconds = SecondsUntil(work.step_ends_at);
    if (work.first_end_at > 0) c.first_end_seconds = SecondsUntil(work.first_end_at);
    c.running_sequences = work.sequences;
    c.engines = 1;
  }
  return c;
}

WorkerReport ReportOf(const Capacity& c) {
  WorkerReport r;
  r.prefill_tokens_per_second = c.rates.prefill_tokens_per_second;
  r.decode_tokens_per_second = c.rates.decode_tokens_per_second;
  r.single_decode_tokens_per_second = c.rates.single_decode_tokens_per_second;
  r.completion_ratio = c.rates.completion_ratio;
  r.running_prompt_tokens_left = c.running.prompt_tokens;
  r.running_prompt_positions_left = c.running.prompt_positions;
  r.attention_per_position = c.rates.attention_per_position;
  r.running_max_tokens_left = c.running.max_tokens;
  r.free_sequences = c.free_sequences;
  r.sequence_tokens = c.sequence_tokens;
  r.running_sequences = c.running_sequences;
  // A time, not a span: a gateway reads the report a second or two later.
  if (c.first_end_seconds) r.first_end_at = NowMs() + std::llround(*c.first_end_seconds * 1000);
  return r;
}

Capacity Combine(const std::vector<WorkerReport>& reports) {
  Capacity c;
  double single_sum = 0, ratio_weighted = 0;
  int64_t single_count = 0;
  // The fleet's first end is foreseen when every worker without a free sequence foresees its
  // own: any of them could free one first.
  TimeMs first_end_at = 0;
  bool foreseen = !reports.empty();
  for (const WorkerReport& r : reports) {
    if (r.free_sequences == 0) {
      foreseen = foreseen && r.first_end_at > 0;
      if (r.first_end_at > 0 && (first_end_at == 0 || r.first_end_at < first_end_at)) {
        first_end_at = r.first_end_at;
      }
    }
    c.running_sequences += r.running_sequences;
    c.rates.prefill_tokens_per_second += r.prefill_tokens_per_second;
    c.rates.decode_tokens_per_second += r.decode_tokens_per_second;
    if (r.single_decode_tokens_per_second > 0) {
      single_sum += r.single_decode_tokens_per_second;
      ++single_count;
    }
    ratio_weighted += r.completion_ratio * r.decode_tokens_per_second;
    c.running.prompt_tokens += r.running_prompt_tokens_left;
    c.running.prompt_positions += r.running_prompt_positions_left;
    c.running.max_tokens += r.running_max_tokens_left;
    // Workers run one model: its attention share is theirs alike; the largest is kept.
    c.rates.attention_per_position =
        std::max(c.rates.attention_per_position, r.attention_per_position);
    c.free_sequences += r.free_sequences;
    c.sequence_tokens = std::max(c.sequence_tokens, r.sequence_tokens);
    ++c.engines;
  }
  if (single_count > 0) {
    c.rates.single_decode_tokens_per_second = single_sum / static_cast<double>(single_count);
  }
  if (c.rates.decode_tokens_per_second > 0) {
    c.rates.completion_ratio = ratio_weighted / c.rates.decode_tokens_per_second;
  }
  if (foreseen && first_end_at > 0) {
    c.first_end_seconds = SecondsUntil(first_end_at);
  }
  return c;
}

FleetCapacity::FleetCapacity(JobStore& store, std::chrono::milliseconds refresh)
    : store_(store), refresher_(refresh, [this] { Refresh(); }) {}

Capacity FleetCapacity::Now() const {
  std::lock_guard lock(mu_);
  return current_;
}

bool FleetCapacity::Refresh() {
  auto reports = store_.LiveWorkerReports(NowMs());
  log_.Record(reports.status());
  if (!reports.ok()) return false;  // estimates keep the last view
  Capacity combined = Combine(*reports);
  std::lock_guard lock(mu_);
  current_ = combined;
  return true;
}

}  // namespace glmq
