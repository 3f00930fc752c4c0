// Overtaking: the work that jobs arriving later put ahead of a queued job.
//
// Under the default order (sched/policy.h) a job's order key is its arrival plus its own
// slack (k × its service time, less its priority), so a job arriving t seconds after it
// with a slack s sorts before it while s < c − t, c being the first job's slack: shorter
// jobs keep overtaking it for up to c seconds. The work found ahead at submit misses them;
// this adds them at the rate they arrived lately.
//
// With W0 the wait for the work ahead now, arrivals of work at a rate a_i (engine seconds
// per second) that overtake while W < b_i (b_i = c − s_i), the wait W solves
//   W = W0 + Σ a_i × min(W, b_i)
// whose right side grows more slowly than W while the arrivals leave the engine time to
// spare. W as a function of W0 is concave and piecewise linear: the least of one line per
// interval between the b_i (WaitModel::Overtaken). The rates come from the arrivals of the
// last c seconds (at least kMinWindow, at most kMaxWindow): as many are expected in the
// next c seconds as came in the last. A process that just started counts the time before
// its first arrival as time without arrivals, as it would after an idle spell.
//
// Thread-safe. Among several gateways each notes the others' arrivals too, told a few
// milliseconds late (admission/peer_notes.h): Note keeps them in order of arrival.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "core/job.h"
#include "store/job_store.h"

namespace glmq {

class ArrivalWindow {
 public:
  static constexpr int64_t kMinWindowMs = 10'000;
  static constexpr int64_t kMaxWindowMs = 300'000;
  // Kept at most: each submit's forecast reads them all.
  static constexpr size_t kMaxArrivals = 1024;

  // A job accepted at `at` with this order key and work.
  void Note(TimeMs at, int64_t order_key, int64_t prompt_tokens, int32_t max_tokens);

  // Fills wait.overtaking for a job with this order key, at `now`: the lines of W(W0),
  // the work of each arrival priced by `wait`'s per-token seconds. No lines when nothing
  // that arrived lately would overtake it.
  void Foresee(int64_t order_key, TimeMs now, WaitModel& wait) const;

 private:
  struct Arrival {
    TimeMs at = 0;
    int64_t slack_ms = 0;  // order key − arrival
    int64_t prompt_tokens = 0;
    int32_t max_tokens = 0;
  };
  mutable std::mutex mu_;
  std::deque<Arrival> recent_;  // oldest first; guarded by mu_
};

// The lines of W(W0) for overtaking arrivals given as (rate a_i, bound b_i) pairs, at most
// WaitModel::kMaxOvertakingLines of them (a subset: each line lies on or above the exact
// curve, which they meet at their own intervals). Exposed for tests.
struct Overtaker {
  double rate = 0;   // a_i: engine seconds of work per second
  double bound = 0;  // b_i: seconds of waiting while it overtakes
};
void OvertakingLines(std::vector<Overtaker> overtakers, WaitModel& wait);

}  // namespace glmq
