#include "sched/throughput.h"

#include <algorithm>

#include "core/job.h"

namespace glmq {
namespace {

// Exponentially weighted: recent steps count most, one odd step moves little.
constexpr double kAlpha = 0.1;
constexpr int64_t kRecentWindowMs = 60'000;

double Blend(double old_value, double sample) {
  return old_value <= 0 ? sample : old_value + kAlpha * (sample - old_value);
}

}  // namespace

void ThroughputMeter::Seed(double prefill_tps, double decode_tps) {
  std::lock_guard lock(mu_);
  prefill_tps_ = prefill_tps;
  decode_tps_ = decode_tps;
  single_decode_tps_ = decode_tps;
}

void ThroughputMeter::SeedAttention(double per_position) {
  std::lock_guard lock(mu_);
  attention_ = std::max(0.0, per_position);
}

void PrefillSums::Add(double tokens, double positions, double seconds, double fade) {
  s11 = fade * s11 + tokens * tokens;
  s12 = fade * s12 + tokens * positions;
  s22 = fade * s22 + positions * positions;
  s1y = fade * s1y + tokens * seconds;
  s2y = fade * s2y + positions * seconds;
}

std::optional<PrefillSums::Cost> PrefillSums::Solve() const {
  const double det = s11 * s22 - s12 * s12;
  if (!(det > 0.01 * s11 * s22)) return std::nullopt;
  const double a = (s22 * s1y - s12 * s2y) / det;
  const double b = (s11 * s2y - s12 * s1y) / det;
  if (!(a > 0 && b >= 0)) return std::nullopt;
  return Cost{.per_token = a, .per_position = b};
}

void ThroughputMeter::FitPrefill(double tokens, double positions, double seconds) {
  // Each prefill step weighs one, and the last twenty or so the most.
  constexpr double kFade = 0.95;
  PrefillSums& f = fit_;
  f.Add(tokens, positions, seconds, kFade);
  if (const std::optional<PrefillSums::Cost> cost = f.Solve()) {
    prefill_tps_ = 1.0 / cost->per_token;
    attention_ = cost->per_position / cost->per_token;
    return;
  }
  // Otherwise the shape stays and the scale follows the steps: seconds = a x (tokens + r x
  // positions), a by least squares.
  const double r = attention_;
  const double sxx = f.s11 + 2 * r * f.s12 + r * r * f.s22;
  const double sxy = f.s1y + r * f.s2y;
  if (sxx > 0 && sxy > 0) prefill_tps_ = sxx / sxy;
}

void ThroughputMeter::RecordStep(int64_t prompt_tokens, double prompt_positions,
                                 int64_t generated_tokens, int32_t generating, double seconds) {
  std::lock_guard lock(mu_);
  prompt_tokens_total_ += prompt_tokens;
  generated_tokens_total_ += generated_tokens;
  if (seconds <= 0) return;
  step_mean_ = Blend(step_mean_, seconds);
  step_square_mean_ = Blend(step_square_mean_, seconds * seconds);
  if (prompt_tokens > generating) {
    // A step that reads prompt is dominated by it.
    FitPrefill(static_cast<double>(prompt_tokens), prompt_positions, seconds);
  } else if (generated_tokens > 0) {
    const double tps = generated_tokens / seconds;
    decode_tps_ = Blend(decode_tps_, tps);
    if (generating <= 1) single_decode_tps_ = Blend(single_decode_tps_, tps);
  }
  const int64_t now = NowMs();
  recent_.push_back({now, prompt_tokens + generated_tokens});
  while (!recent_.empty() && recent_.front().at_ms < now - kRecentWindowMs) recent_.pop_front();
}

void ThroughputMeter::RecordReused(int64_t prompt_tokens) {
  std::lock_guard lock(mu_);
  reused_prompt_tokens_total_ += prompt_tokens;
}

void ThroughputMeter::RecordCompletion(int64_t completion_tokens, int32_t max_tokens) {
  if (max_tokens <= 0) return;
  std::lock_guard lock(mu_);
  const double ratio = std::clamp(static_cast<double>(completion_tokens) / max_tokens, 0.0, 1.0);
  completion_ratio_ += kAlpha * (ratio - completion_ratio_);
}

ThroughputSnapshot ThroughputMeter::Snapshot() const {
  std::lock_guard lock(mu_);
  ThroughputSnapshot s;
  s.prefill_tokens_per_second = prefill_tps_;
  s.attention_per_position = attention_;
  s.step_residual_seconds = step_mean_ > 0 ? step_square_mean_ / (2 * step_mean_) : 0.0;
  s.decode_tokens_per_second = decode_tps_;
  s.single_decode_tokens_per_second = single_decode_tps_;
  s.completion_ratio = completion_ratio_;
  s.prompt_tokens_total = prompt_tokens_total_;
  s.generated_tokens_total = generated_tokens_total_;
  s.reused_prompt_tokens_total = reused_prompt_tokens_total_;
  if (!recent_.empty()) {
    int64_t tokens = 0;
    for (const Sample& sample : recent_) tokens += sample.tokens;
    const int64_t span_ms = std::max<int64_t>(NowMs() - recent_.front().at_ms, 1000);
    s.recent_tokens_per_second = tokens * 1000.0 / span_ms;
  }
  return s;
}

}  // namespace glmq
