#include "sched/policy.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

ThroughputSnapshot Rates() {
  ThroughputSnapshot t;
  t.prefill_tokens_per_second = 1000;
  t.decode_tokens_per_second = 100;
  t.single_decode_tokens_per_second = 50;
  t.completion_ratio = 1.0;
  return t;
}

TEST(PolicyTest, ClassifiesByPromptTokens) {
  PolicyOptions o;
  EXPECT_EQ(ClassifyLength(o, 100), LengthClass::kShort);
  EXPECT_EQ(ClassifyLength(o, o.medium_prompt_tokens), LengthClass::kMedium);
  EXPECT_EQ(ClassifyLength(o, o.long_prompt_tokens), LengthClass::kLong);
}

TEST(PolicyTest, ServiceTimeIsPrefillPlusDecode) {
  // 2000 prompt tokens at 1000/s + 100 tokens at 50/s alone = 2 s + 2 s.
  EXPECT_DOUBLE_EQ(ServiceSeconds(Rates(), 2000, 100), 4.0);
}

TEST(PolicyTest, ShortJobsGoFirstButLongJobsDoNotStarve) {
  PolicyOptions o;
  const ThroughputSnapshot t = Rates();
  const TimeMs t0 = 1'000'000;
  // A long job (500k tokens: 500 s of prefill) arrives first.
  const int64_t long_key = OrderKey(o, t, t0, 0, 500'000, 100);
  // A short job arriving a second later still runs before it...
  EXPECT_LT(OrderKey(o, t, t0 + 1000, 0, 100, 50), long_key);
  // ...but one arriving after the long job waited its own service time does not.
  const double long_service_ms = 1000 * ServiceSeconds(t, 500'000, 100);
  EXPECT_GT(OrderKey(o, t, t0 + static_cast<TimeMs>(long_service_ms), 0, 100, 50), long_key);
}

TEST(PolicyTest, PriorityMovesAJobAhead) {
  PolicyOptions o;
  const ThroughputSnapshot t = Rates();
  EXPECT_LT(OrderKey(o, t, 0, 1, 100, 50), OrderKey(o, t, 0, 0, 100, 50));
  EXPECT_EQ(OrderKey(o, t, 0, 0, 100, 50) - OrderKey(o, t, 0, 1, 100, 50),
            static_cast<int64_t>(o.priority_step_seconds * 1000));
}

TEST(PolicyTest, WaitEstimateCountsWorkAheadAndRunningWork) {
  const ThroughputSnapshot t = Rates();
  EXPECT_DOUBLE_EQ(EstimateWaitSeconds(t, 0, 0, 0, 0, 1), 0.0);
  // 1000 prompt tokens ahead (1 s) + 200 tokens to generate (2 s) + running: 500 left (0.5 s).
  EXPECT_DOUBLE_EQ(EstimateWaitSeconds(t, 1000, 200, 500, 0, 0), 3.5);
}

TEST(ThroughputMeterTest, SeparatesPrefillAndDecodeSteps) {
  ThroughputMeter m;
  m.RecordStep(2000, 1, 0, 1.0);  // a prefill step: 2000 tokens/s
  m.RecordStep(0, 4, 4, 0.1);     // a decode step of 4 sequences: 40 tokens/s
  m.RecordStep(0, 1, 1, 0.05);    // one sequence alone: 20 tokens/s
  const ThroughputSnapshot s = m.Snapshot();
  EXPECT_DOUBLE_EQ(s.prefill_tokens_per_second, 2000);
  EXPECT_GT(s.decode_tokens_per_second, 20);
  EXPECT_DOUBLE_EQ(s.single_decode_tokens_per_second, 20);
  m.RecordCompletion(50, 100);
  EXPECT_LT(m.Snapshot().completion_ratio, 1.0);
}

}  // namespace
}  // namespace glmq
