// ThroughputMeter: measured prefill and decode speed, and how much of max_tokens jobs use.
// Fed by the scheduler thread after every engine step; read by API threads for estimates.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace glmq {

struct ThroughputSnapshot {
  // Reading a prompt token at context position p takes (1 + p x attention_per_position)
  // / prefill_tokens_per_second seconds: the first term is the weights, the second
  // attention over the p tokens before it, which for a long document is most of the cost.
  double prefill_tokens_per_second = 0;  // prompt tokens read per second at short context
  double attention_per_position = 0;
  // What is left of the engine step in progress, on average, at a moment picked at random:
  // E[step^2] / (2 E[step]) over recent steps.
  double step_residual_seconds = 0;
  double decode_tokens_per_second = 0;  // tokens generated per second, all sequences together
  double single_decode_tokens_per_second = 0;  // one sequence alone (cost of a job alone)
  double completion_ratio = 1.0;               // generated tokens ÷ max_tokens of finished jobs
  double recent_tokens_per_second = 0;         // prompt + generated per wall second, last minute
  int64_t prompt_tokens_total = 0;             // read since start
  int64_t generated_tokens_total = 0;          // sampled since start
  int64_t reused_prompt_tokens_total = 0;      // not read: taken from reused KV
};

// Prefill steps (or calibration prompts) fitted as seconds = a x tokens + b x positions by
// least squares, over sums that fade by `fade` with each point added (1: no fading).
struct PrefillSums {
  double s11 = 0, s12 = 0, s22 = 0, s1y = 0, s2y = 0;

  void Add(double tokens, double positions, double seconds, double fade = 1.0);
  struct Cost {
    double per_token = 0;     // a: seconds per prompt token at short context
    double per_position = 0;  // b: seconds per position of context before a token
  };
  // a and b, where the points tell them apart (prompt read at positions that vary apart
  // from the token counts) and the answer is a cost (a > 0, b >= 0); nullopt otherwise.
  std::optional<Cost> Solve() const;
};

class ThroughputMeter {
 public:
  // Rates to start from until steps have been measured, e.g. from a warm-up at start.
  void Seed(double prefill_tps, double decode_tps);
  // What attention adds per position to a prompt token's cost, as a share of the token's
  // cost at position 0 (ModelInfo::AttentionCostPerPosition): where the measured steps
  // start from. Steps that read prompt at different positions refine it.
  void SeedAttention(double per_position);
  // One engine step: prompt tokens read and the sum of their positions (StepReport), tokens
  // sampled, sequences generating, seconds.
  void RecordStep(int64_t prompt_tokens, double prompt_positions, int64_t generated_tokens,
                  int32_t generating, double seconds);
  // Prompt tokens a step took from reused KV (prefix cache) instead of reading them.
  void RecordReused(int64_t prompt_tokens);
  void RecordCompletion(int64_t completion_tokens, int32_t max_tokens);
  ThroughputSnapshot Snapshot() const;

 private:
  struct Sample {
    int64_t at_ms;
    int64_t tokens;
  };
  mutable std::mutex mu_;
  // Prefill steps fitted over exponentially fading sums; prefill_tps_ is 1 / a and
  // attention_ b / a.
  void FitPrefill(double tokens, double positions, double seconds);
  PrefillSums fit_;
  double prefill_tps_ = 0;
  double step_mean_ = 0;
  double step_square_mean_ = 0;
  double attention_ = 0;
  double decode_tps_ = 0;
  double single_decode_tps_ = 0;
  double completion_ratio_ = 1.0;
  std::deque<Sample> recent_;  // for recent_tokens_per_second
  int64_t prompt_tokens_total_ = 0;
  int64_t generated_tokens_total_ = 0;
  int64_t reused_prompt_tokens_total_ = 0;
};

}  // namespace glmq
