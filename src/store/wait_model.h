// WaitModel: how a store turns the queued work it finds ahead of a new job into the wait
// the job is told (store/job_store.h, InsertBatch and PlaceNewJob); sched/policy.h makes one
// from measured rates and admission adds the overtaking it foresees.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

namespace glmq {

// How long the queued work ahead of a job takes: base + prompt tokens × per_prompt_token +
// max tokens × per_max_token (base: the running work), or when_clear when nothing is ahead
// and an engine slot is free, or less when a sequence frees before all that (first_end). A
// store applies it to the work it finds ahead of a job as it inserts it (see InsertBatch);
// sched/policy.h makes one from measured rates.
struct WaitModel {
  double base_seconds = 0;
  double seconds_per_prompt_token = 0;
  double seconds_per_max_token = 0;
  // With a sequence free, a job with nothing queued ahead waits only for the engine's step
  // in progress (0 when it is idle): these seconds. Unset: no sequence is free.
  std::optional<double> when_clear;
  // A sequence frees in `seconds` (the step in progress ends, or with none free the first
  // running job: sched/first_end.h), and the work ahead then runs in it beside the others,
  // at 1/`slope` of the engine. The wait is the lesser of this and all the running work's.
  struct FirstEnd {
    double seconds = 0;
    double slope = 1;
  };
  std::optional<FirstEnd> first_end = std::nullopt;
  // The wait is no shorter than this, unless the job starts in the step in progress: a
  // question on a document still being read, whose earlier jobs hold every sequence until
  // the reading ends (admission/document_memory.h).
  double at_least = 0;

  // The work that jobs arriving later will put ahead of this one (the default order lets
  // shorter ones sort first; sched/overtaking.h): the wait for `w` seconds of work ahead
  // now is the least of intercept + slope × w over these lines, or `w` with none.
  struct Line {
    double intercept = 0;
    double slope = 1;
  };
  static constexpr int kMaxOvertakingLines = 8;
  std::array<Line, kMaxOvertakingLines> overtaking{};
  int overtaking_lines = 0;

  // Whether a job with this work ahead starts in the step in progress.
  bool StartsNow(int64_t prompt_tokens, int64_t max_tokens) const {
    return when_clear && prompt_tokens == 0 && max_tokens == 0;
  }
  // The engine's seconds for this much work, the running work left out.
  double WorkSeconds(int64_t prompt_tokens, int64_t max_tokens) const {
    return static_cast<double>(prompt_tokens) * seconds_per_prompt_token +
           static_cast<double>(max_tokens) * seconds_per_max_token;
  }
  double Seconds(int64_t prompt_tokens, int64_t max_tokens) const {
    if (StartsNow(prompt_tokens, max_tokens)) return *when_clear;
    const double ahead = WorkSeconds(prompt_tokens, max_tokens);
    const double all = base_seconds + ahead;
    return std::max(at_least,
                    first_end ? std::min(all, first_end->seconds + first_end->slope * ahead) : all);
  }
  // The wait told for this work ahead now: Seconds(...) with the overtaking foreseen, unless
  // the job starts in the step in progress (nothing can overtake it then).
  double Told(int64_t prompt_tokens, int64_t max_tokens) const {
    const double seconds = Seconds(prompt_tokens, max_tokens);
    return StartsNow(prompt_tokens, max_tokens) ? seconds : Overtaken(seconds);
  }
  // The wait for `seconds` of work ahead with the overtaking foreseen.
  double Overtaken(double seconds) const {
    if (overtaking_lines == 0) return seconds;
    double least = overtaking[0].intercept + overtaking[0].slope * seconds;
    for (int i = 1; i < overtaking_lines; ++i) {
      least = std::min(least, overtaking[i].intercept + overtaking[i].slope * seconds);
    }
    return least;
  }
};

}  // namespace glmq
