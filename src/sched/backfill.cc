#include "sched/backfill.h"

#include <algorithm>

namespace glmq {

bool BackfillWindow::Allows(int64_t kv_tokens, double seconds) const {
  if (free_slots < 1 || kv_tokens > free_kv_tokens) return false;
  if (seconds <= shadow_seconds) return true;
  return kv_tokens <= extra_kv_tokens && extra_slots >= 1;
}

BackfillWindow PlanBackfill(int64_t held_kv_tokens, int64_t free_kv_tokens, int32_t free_slots,
                            std::vector<RunningForecast> running) {
  BackfillWindow w;
  w.free_kv_tokens = free_kv_tokens;
  w.free_slots = free_slots;
  std::sort(running.begin(), running.end(), [](const RunningForecast& a, const RunningForecast& b) {
    return a.seconds_left < b.seconds_left;
  });
  // Walk the running jobs in the order they are predicted to end until the KV they free
  // covers the held job; jobs ending at the same moment all count.
  int64_t free_then = free_kv_tokens;
  int32_t slots_then = free_slots;
  size_t i = 0;
  if (free_then < held_kv_tokens) {
    while (i < running.size() && free_then < held_kv_tokens) {
      const double at = running[i].seconds_left;
      while (i < running.size() && running[i].seconds_left <= at) {
        free_then += running[i].kv_tokens;
        ++slots_then;
        ++i;
      }
      w.shadow_seconds = at;
    }
    if (free_then < held_kv_tokens) {
      // Not even when every running job has ended: it waits for something the plan cannot
      // see, so nothing may go before it.
      w.shadow_seconds = 0;
      w.extra_kv_tokens = 0;
      w.extra_slots = 0;
      return w;
    }
  } else {
    // It fits the KV now (it waits for a sequence, or to run alone): nothing is sure to
    // end before it may start.
    w.shadow_seconds = 0;
  }
  w.extra_kv_tokens = free_then - held_kv_tokens;
  w.extra_slots = slots_then - 1;
  return w;
}

}  // namespace glmq
