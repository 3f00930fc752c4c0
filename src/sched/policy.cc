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

double PrefillSeconds(const ThroughputSnapshot& t, int64_t prompt_tokens) {
  // Token i of the prompt attends to the i before it.
  const double attention = t.attention_per_position * PositionsOf(0, prompt_tokens);
  return (prompt_tokens + attention) / Rate(t.prefill_tokens_per_second, kFallbackPrefillTps);
}

double TokenSeconds(const ThroughputSnapshot& t) {
  return 1.0 / Rate(t.single_decode_tokens_per_second, kFallbackDecodeTps);
}

double ServiceSeconds(const ThroughputSnapshot& t, int64_t prompt_tokens, int32_t max_tokens) {
  return PrefillSeconds(t, prompt_tokens) + max_tokens * t.completion_ratio * TokenSeconds(t);
}

double SlackSeconds(const PolicyOptions& options, const ThroughputSnapshot& t,
                    int64_t prompt_tokens, int32_t max_tokens) {
  return options.service_weight * ServiceSeconds(t, prompt_tokens, max_tokens);
}

int64_t OrderKey(const PolicyOptions& options, const ThroughputSnapshot& t, TimeMs arrival,
                 int32_t priority, int64_t prompt_tokens, int32_t max_tokens) {
  return OrderKeyWithSlack(options, arrival, priority,
                           SlackSeconds(options, t, prompt_tokens, max_tokens));
}

int64_t OrderKeyWithSlack(const PolicyOptions& options, TimeMs arrival, int32_t priority,
                          double slack_seconds) {
  const double priority_ms = 1000.0 * options.priority_step_seconds * priority;
  return arrival + std::llround(1000.0 * slack_seconds - priority_ms);
}

WaitModel MakeWaitModel(const ThroughputSnapshot& t, const RunningLeft& running,
                        int32_t free_sequences, double queued_prompt_tokens) {
  const double prefill = Rate(t.prefill_tokens_per_second, kFallbackPrefillTps);
  const double decode = Rate(t.decode_tokens_per_second, kFallbackDecodeTps);
  WaitModel model;
  // A queued prompt token sits, on average, halfway through a prompt of the typical size.
  model.seconds_per_prompt_token =
      (1.0 + t.attention_per_position * std::max(0.0, queued_prompt_tokens - 1) / 2) / prefill;
  model.seconds_per_max_token = t.completion_ratio / decode;
  const double running_prompt = static_cast<double>(running.prompt_tokens) +
                                t.attention_per_position * running.prompt_positions;
  model.base_seconds = running_prompt / prefill +
                       static_cast<double>(running.max_tokens) * model.seconds_per_max_token;
  if (free_sequences > 0) {
    // It starts after the step in progress, if any: on average the rest of one.
    const bool busy = running.prompt_tokens > 0 || running.max_tokens > 0;
    model.when_clear = busy ? t.step_residual_seconds : 0.0;
  }
  return model;
}

double PredictedDrainSeconds(const ThroughputSnapshot& t, const QueueSnapshot& queue,
                             const RunningLeft& running) {
  int64_t prompt = 0, max_tokens = 0;
  // Prompts priced with attention as if those of a class were of its mean size: the
  // sum of their squared sizes, over their tokens, is the size-weighted typical prompt.
  double squares = 0;
  for (const auto& [c, s] : queue.classes) {
    prompt += s.queued_prompt_tokens;
    max_tokens += s.queued_max_tokens;
    if (s.queued > 0) {
      squares += static_cast<double>(s.queued_prompt_tokens) *
                 static_cast<double>(s.queued_prompt_tokens) / static_cast<double>(s.queued);
    }
  }
  const double typical = prompt > 0 ? squares / static_cast<double>(prompt) : 0.0;
  return MakeWaitModel(t, running, 0, typical).Seconds(prompt, max_tokens);
}

}  // namespace glmq
