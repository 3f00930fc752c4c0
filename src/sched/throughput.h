// ThroughputMeter: measured prefill and decode speed, and how much of max_tokens jobs use.
// Fed by the scheduler thread after every engine step; read by API threads for estimates.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

namespace glmq {

struct ThroughputSnapshot {
  double prefill_tokens_per_second = 0;  // prompt tokens read per second of engine time
  double decode_tokens_per_second = 0;   // tokens generated per second, all sequences together
  double single_decode_tokens_per_second = 0;  // one sequence alone (cost of a job alone)
  double completion_ratio = 1.0;               // generated tokens ÷ max_tokens of finished jobs
  double recent_tokens_per_second = 0;         // prompt + generated per wall second, last minute
  int64_t prompt_tokens_total = 0;             // read since start
  int64_t generated_tokens_total = 0;          // sampled since start
  int64_t reused_prompt_tokens_total = 0;      // not read: taken from reused KV
};

class ThroughputMeter {
 public:
  // Rates to start from until steps have been measured, e.g. from a warm-up at start.
  void Seed(double prefill_tps, double decode_tps);
  // One engine step: prompt tokens read, tokens sampled, sequences generating, seconds.
  void RecordStep(int64_t prompt_tokens, int64_t generated_tokens, int32_t generating,
                  double seconds);
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
  double prefill_tps_ = 0;
  double decode_tps_ = 0;
  double single_decode_tps_ = 0;
  double completion_ratio_ = 1.0;
  std::deque<Sample> recent_;  // for recent_tokens_per_second
  int64_t prompt_tokens_total_ = 0;
  int64_t generated_tokens_total_ = 0;
  int64_t reused_prompt_tokens_total_ = 0;
};

}  // namespace glmq
