#include "sched/policy.h"

#include <algorithm>
#include <cmath>

namespace glmq {
namespace {

// Rates before anything was measured; the warm-up at start replaces them.
constexpr double kFallbackPrefillTps = 500;
constexpr double kFallbackDecodeTps = 20;

double Rate(double measured, double fallback) { return measured > 0 ? measured : fallback; }

}  // namespace

LengthClass ClassifyLength(const PolicyOptions& options, int64_t prompt_tokens) {
  if (prompt_tokens >= options.long_prompt_tokens) return LengthClass::kLong;
  if (prompt_tokens >= options.medium_prompt_tokens) return LengthClass::kMedium;
  return LengthClass::kShort;
}

double ServiceSeconds(const ThroughputSnapshot& t, int64_t prompt_tokens, int32_t max_tokens) {
  const double prefill = Rate(t.prefill_tokens_per_second, kFallbackPrefillTps);
  const double decode = Rate(t.single_decode_tokens_per_second, kFallbackDecodeTps);
  return prompt_tokens / prefill + max_tokens * t.completion_ratio / decode;
}

int64_t OrderKey(const PolicyOptions& options, const ThroughputSnapshot& t, TimeMs arrival,
                 int32_t priority, int64_t prompt_tokens, int32_t max_tokens) {
  const double service_ms = 1000.0 * ServiceSeconds(t, prompt_tokens, max_tokens);
  const double priority_ms = 1000.0 * options.priority_step_seconds * priority;
  return arrival + std::llround(options.service_weight * service_ms - priority_ms);
}

double EstimateWaitSeconds(const ThroughputSnapshot& t, int64_t prompt_tokens_ahead,
                           int64_t max_tokens_ahead, int64_t running_prompt_left,
                           int64_t running_max_tokens_left, int32_t free_sequences) {
  if (free_sequences > 0 && prompt_tokens_ahead == 0 && max_tokens_ahead == 0) return 0;
  const double prefill = Rate(t.prefill_tokens_per_second, kFallbackPrefillTps);
  const double decode = Rate(t.decode_tokens_per_second, kFallbackDecodeTps);
  const double prompt = static_cast<double>(prompt_tokens_ahead + running_prompt_left);
  const double generated =
      t.completion_ratio * static_cast<double>(max_tokens_ahead + running_max_tokens_left);
  return prompt / prefill + generated / decode;
}

double PredictedDrainSeconds(const ThroughputSnapshot& t, const QueueSnapshot& queue,
                             int64_t running_prompt_left, int64_t running_max_tokens_left) {
  int64_t prompt = 0, max_tokens = 0;
  for (const auto& [c, s] : queue.classes) {
    prompt += s.queued_prompt_tokens;
    max_tokens += s.queued_max_tokens;
  }
  return EstimateWaitSeconds(t, prompt, max_tokens, running_prompt_left, running_max_tokens_left,
                             0);
}

}  // namespace glmq
