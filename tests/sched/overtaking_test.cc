#include "sched/overtaking.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <random>
#include <vector>

namespace glmq {
namespace {

// W = W0 + Σ a_i × min(W, b_i), solved by bisection: the right side minus W falls once
// the arrivals leave the engine time to spare, and W0 + Σ a_i × b_i bounds it.
double ExactWait(double w0, const std::vector<Overtaker>& overtakers) {
  double lo = w0, hi = w0;
  for (const Overtaker& o : overtakers) hi += o.rate * o.bound;
  const auto excess = [&](double w) {
    double right = w0;
    for (const Overtaker& o : overtakers) right += o.rate * std::min(w, o.bound);
    return right - w;
  };
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (excess(mid) > 0 ? lo : hi) = mid;
  }
  return hi;
}

// The forecast's wait against the exact one for `expected`, at each wait ahead in `w0s`.
void ExpectOvertaken(const WaitModel& wait, const std::vector<Overtaker>& expected,
                     std::initializer_list<double> w0s, double tolerance = 1e-9) {
  for (double w0 : w0s) {
    EXPECT_NEAR(wait.Overtaken(w0), ExactWait(w0, expected), tolerance) << w0;
  }
}

WaitModel LinesOf(const std::vector<Overtaker>& overtakers) {
  WaitModel wait;
  OvertakingLines(overtakers, wait);
  return wait;
}

TEST(OvertakingTest, NoArrivalsTellTheWaitAhead) {
  const WaitModel wait = LinesOf({});
  EXPECT_EQ(wait.overtaking_lines, 0);
  EXPECT_EQ(wait.Overtaken(7.5), 7.5);
  // Arrivals that add no work, or stop overtaking at once, are none.
  EXPECT_EQ(LinesOf({{.rate = 0, .bound = 5}, {.rate = 0.3, .bound = 0}}).overtaking_lines, 0);
}

TEST(OvertakingTest, OneStreamStretchesTheWaitUntilItStopsOvertaking) {
  // Work arriving at half the engine's speed overtakes for the first 10 s of waiting.
  const WaitModel wait = LinesOf({{.rate = 0.5, .bound = 10}});
  EXPECT_DOUBLE_EQ(wait.Overtaken(2), 4);    // 2 s ahead: done at 4 s, 2 s of them overtakers'
  EXPECT_DOUBLE_EQ(wait.Overtaken(5), 10);   // just when it stops
  EXPECT_DOUBLE_EQ(wait.Overtaken(20), 25);  // all 5 s of overtaking, then the 20 s ahead
  EXPECT_DOUBLE_EQ(wait.Overtaken(0), 0);    // nothing ahead: it starts before any arrives
}

TEST(OvertakingTest, ArrivalsFasterThanTheEngineStillEndWhenTheyStopOvertaking) {
  // Twice the engine's speed for 5 s: whatever is ahead, 10 s are added.
  const WaitModel wait = LinesOf({{.rate = 2, .bound = 5}});
  EXPECT_DOUBLE_EQ(wait.Overtaken(1), 11);
  EXPECT_DOUBLE_EQ(wait.Overtaken(30), 40);
}

TEST(OvertakingTest, ManyArrivalsNeverTellLessThanTheExactWait) {
  std::mt19937 rng(7);
  // 40 arrivals of 0.02 on average: the engine keeps a fifth of its time to spare.
  std::uniform_real_distribution<double> rate(0.0, 0.04), bound(0.1, 60);
  std::vector<Overtaker> overtakers;
  for (int i = 0; i < 40; ++i) overtakers.push_back({.rate = rate(rng), .bound = bound(rng)});
  const WaitModel wait = LinesOf(overtakers);
  ASSERT_EQ(wait.overtaking_lines, WaitModel::kMaxOvertakingLines);
  double worst = 0;
  for (double w0 = 0; w0 <= 200; w0 += 0.5) {
    const double exact = ExactWait(w0, overtakers);
    EXPECT_GE(wait.Overtaken(w0), exact - 1e-6) << w0;
    worst = std::max(worst, (wait.Overtaken(w0) - exact) / std::max(exact, 1.0));
  }
  // The lines kept meet the curve at their own intervals; between them it stays close.
  EXPECT_LT(worst, 0.15);
  // Exact at both ends: before any arrival stops, and after all have.
  EXPECT_NEAR(wait.Overtaken(0), 0, 1e-9);
  EXPECT_NEAR(wait.Overtaken(500), ExactWait(500, overtakers), 1e-6);
}

TEST(OvertakingTest, ForeseesOnlyRecentArrivalsThatSortFirst) {
  ArrivalWindow arrivals;
  const TimeMs now = 1'000'000;
  // A short job (1 s of slack) from before the window (the job's slack, 21 s, here), then
  // two short ones lately and a long one (60 s): 100 prompt tokens each.
  arrivals.Note(now - 22'000, now - 21'000, 100, 0);
  arrivals.Note(now - 4000, now - 3000, 100, 0);
  arrivals.Note(now - 2000, now - 1000, 100, 0);
  arrivals.Note(now - 1000, now + 59'000, 100, 0);
  WaitModel wait{.seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  // A job with 21 s of slack: the short ones would overtake it for 20 s; 2 s of work per
  // 21 s window -> rate 2/21, bound 20.
  arrivals.Foresee(now + 21'000, now, wait);
  const std::vector<Overtaker> expected = {{.rate = 2.0 / 21, .bound = 20}};
  ASSERT_GT(wait.overtaking_lines, 0);
  ExpectOvertaken(wait, expected, {0.0, 3.0, 10.0, 40.0});
  // A job with less slack than any of them foresees nothing.
  WaitModel urgent{.seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  arrivals.Foresee(now + 500, now, urgent);
  EXPECT_EQ(urgent.overtaking_lines, 0);
}

// Another gateway's arrivals are told a little late (Admission::NotePeers): each takes its
// place by time, so one from before the window told last hides none of the recent ones.
TEST(OvertakingTest, AnArrivalToldLateTakesItsPlaceByTime) {
  ArrivalWindow arrivals;
  const TimeMs now = 1'000'000;
  arrivals.Note(now - 4000, now - 3000, 100, 0);
  arrivals.Note(now - 2000, now - 1000, 100, 0);
  arrivals.Note(now - 30'000, now - 29'000, 100, 0);  // from before the 21 s window, told now
  WaitModel wait{.seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  arrivals.Foresee(now + 21'000, now, wait);
  const std::vector<Overtaker> expected = {{.rate = 2.0 / 21, .bound = 20}};
  ASSERT_GT(wait.overtaking_lines, 0);
  ExpectOvertaken(wait, expected, {0.0, 3.0, 10.0, 40.0});
}

TEST(OvertakingTest, AFreshProcessCountsTheTimeBeforeItsFirstArrivalAsIdle) {
  ArrivalWindow arrivals;
  const TimeMs now = 1'000'000;
  WaitModel none{.seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  arrivals.Foresee(now + 30'000, now, none);
  EXPECT_EQ(none.overtaking_lines, 0);  // nothing seen yet
  // Four short jobs (1 s of work each) in the 2 s since the first: over the 30 s a job
  // with 30 s of slack looks back, 4 s of work, overtaking it for 29 s.
  for (TimeMs at : {now - 2000, now - 1500, now - 1000, now - 500}) {
    arrivals.Note(at, at + 1000, 100, 0);
  }
  WaitModel wait{.seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  arrivals.Foresee(now + 30'000, now, wait);
  const std::vector<Overtaker> expected = {{.rate = 4.0 / 30, .bound = 29}};
  ExpectOvertaken(wait, expected, {0.0, 10.0, 40.0});
}

TEST(OvertakingTest, ArrivalsMoreThanItKeepsAreMeasuredOverTheTimeTheyTook) {
  ArrivalWindow arrivals;
  const TimeMs now = 1'000'000;
  // One short job a millisecond for 2 s: the last kMaxArrivals span 1,023 ms.
  for (TimeMs at = now - 1999; at <= now; ++at) arrivals.Note(at, at + 1000, 1, 0);
  WaitModel wait{.seconds_per_prompt_token = 0.0001, .when_clear = std::nullopt};
  arrivals.Foresee(now + 30'000, now, wait);
  const double kept = static_cast<double>(ArrivalWindow::kMaxArrivals);
  const std::vector<Overtaker> expected = {{.rate = kept * 0.0001 / 1.023, .bound = 29}};
  ExpectOvertaken(wait, expected, {1.0, 10.0, 40.0}, 1e-6);
}

}  // namespace
}  // namespace glmq
