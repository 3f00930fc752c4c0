// Backfilling around a job held for KV (EASY backfilling, as batch schedulers such as Slurm
// do it). The job at the head of the queue that does not fit the free KV is held: it keeps
// its claim until running jobs free enough. Meanwhile a job behind it may start when it
// fits the free KV now and cannot delay the held job's start, because either
//   - it is predicted to end before the held job could start anyway (the shadow time: when
//     running jobs will have freed enough KV), or
//   - it uses only KV the held job will not need even then (and leaves it a sequence).
// Predictions come from the measured rates; a job that runs longer than predicted delays
// the held one by what the prediction missed, never by more than its own run.
//
// Pure arithmetic: the scheduler fills the inputs on its thread.
#pragma once

#include <cstdint>
#include <vector>

namespace glmq {

// A running job as the plan sees it: the KV it holds and when it will have ended.
struct RunningForecast {
  int64_t kv_tokens = 0;
  double seconds_left = 0;
};

struct BackfillWindow {
  // Seconds until the held job is predicted to fit (0 when it could start now but for a
  // sequence, or when the plan cannot tell: then only the second rule applies).
  double shadow_seconds = 0;
  int64_t free_kv_tokens = 0;   // now
  int64_t extra_kv_tokens = 0;  // free at the shadow time beyond what the held job needs
  int32_t free_slots = 0;       // now
  int32_t extra_slots = 0;      // free at the shadow time beyond the held job's one

  // Whether a job that needs `kv_tokens` for about `seconds` may start now.
  bool Allows(int64_t kv_tokens, double seconds) const;
};

// `held_kv_tokens`: what the held job needs; `free_kv_tokens` and `free_slots`: the
// engine's now; `running`: every running job.
BackfillWindow PlanBackfill(int64_t held_kv_tokens, int64_t free_kv_tokens, int32_t free_slots,
                            std::vector<RunningForecast> running);

}  // namespace glmq
