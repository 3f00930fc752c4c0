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
  EXPECT_DOUBLE_EQ(MakeWaitModel(t, {}, 1, 0).Seconds(0, 0), 0.0);
  // 1000 prompt tokens ahead (1 s) + 200 tokens to generate (2 s) + running: 500 left (0.5 s).
  EXPECT_DOUBLE_EQ(MakeWaitModel(t, {.prompt_tokens = 500}, 0, 0).Seconds(1000, 200), 3.5);
}

TEST(ThroughputMeterTest, SeparatesPrefillAndDecodeSteps) {
  ThroughputMeter m;
  m.RecordStep(2000, 0, 1, 0, 1.0);  // a prefill step: 2000 tokens/s
  m.RecordStep(0, 0, 4, 4, 0.1);     // a decode step of 4 sequences: 40 tokens/s
  m.RecordStep(0, 0, 1, 1, 0.05);    // one sequence alone: 20 tokens/s
  const ThroughputSnapshot s = m.Snapshot();
  EXPECT_DOUBLE_EQ(s.prefill_tokens_per_second, 2000);
  EXPECT_GT(s.decode_tokens_per_second, 20);
  EXPECT_DOUBLE_EQ(s.single_decode_tokens_per_second, 20);
  m.RecordCompletion(50, 100);
  EXPECT_LT(m.Snapshot().completion_ratio, 1.0);
}

// A document read in chunks of 2,048 tokens takes longer per chunk as its context grows
// (attention): the meter finds both the cost at short context and the growth per position,
// and the time of a long prompt follows from them.
TEST(ThroughputMeterTest, FindsWhatAttentionAddsPerPosition) {
  constexpr double kPerToken = 1e-3;     // seconds at position 0
  constexpr double kPerPosition = 2e-4;  // attention's share per position before a token
  ThroughputMeter m;
  m.Seed(500, 20);  // a calibration that knows nothing of attention
  for (int document = 0; document < 3; ++document) {
    for (int64_t at = 0; at < 32 * 2048; at += 2048) {
      const double positions = PositionsOf(at, 2048);
      m.RecordStep(2048, positions, 0, 0, kPerToken * (2048 + kPerPosition * positions));
    }
  }
  const ThroughputSnapshot s = m.Snapshot();
  EXPECT_NEAR(s.prefill_tokens_per_second, 1.0 / kPerToken, 1.0);
  EXPECT_NEAR(s.attention_per_position, kPerPosition, 1e-6);
  // 100k tokens: 100 s at short context, plus attention's 1e-3 x 2e-4 x 100k^2 / 2 = 1000 s.
  EXPECT_NEAR(PrefillSeconds(s, 100'000), 100 + 1000, 1.0);
}

// Steps that cannot tell the two terms apart (every chunk at the same positions) keep the
// shape the model's size gave and scale it.
TEST(ThroughputMeterTest, KeepsTheSeededShapeWhenStepsCannotTellTheTermsApart) {
  ThroughputMeter m;
  m.Seed(500, 20);
  m.SeedAttention(1e-4);
  const double positions = PositionsOf(0, 1000);
  for (int i = 0; i < 10; ++i) m.RecordStep(1000, positions, 0, 0, 2.0 * (1000 + 1e-4 * positions));
  const ThroughputSnapshot s = m.Snapshot();
  EXPECT_DOUBLE_EQ(s.attention_per_position, 1e-4);
  EXPECT_NEAR(s.prefill_tokens_per_second, 0.5, 1e-9);
}

// What serve's calibration solves with two prompts, one four times the other: the exact
// costs; and nothing where the prompts cannot tell the terms apart.
TEST(PrefillSumsTest, TwoPromptsGiveTheCostPerTokenAndPerPosition) {
  const auto seconds = [](int64_t n) { return 1e-3 * n + 3e-7 * PositionsOf(0, n); };
  PrefillSums two;
  for (const int64_t n : {450, 1800}) two.Add(n, PositionsOf(0, n), seconds(n));
  const std::optional<PrefillSums::Cost> cost = two.Solve();
  ASSERT_TRUE(cost.has_value());
  EXPECT_NEAR(cost->per_token, 1e-3, 1e-9);
  EXPECT_NEAR(cost->per_position, 3e-7, 1e-12);
  PrefillSums same;
  for (int i = 0; i < 2; ++i) same.Add(450, PositionsOf(0, 450), seconds(450));
  EXPECT_FALSE(same.Solve().has_value());
  // A longer prompt that read faster per token than the short one: no cost explains it.
  PrefillSums odd;
  odd.Add(450, PositionsOf(0, 450), 1.0);
  odd.Add(1800, PositionsOf(0, 1800), 2.0);
  EXPECT_FALSE(odd.Solve().has_value());
}

// The wait of a job behind documents counts what reading them costs in attention: the
// running one's tokens left at their positions, and the queued ones at the typical size.
TEST(PolicyTest, WaitEstimateCountsAttentionOfRunningAndQueuedPrompts) {
  ThroughputSnapshot t = Rates();  // 1000 prompt tokens/s, 100 generated tokens/s
  t.attention_per_position = 1e-3;
  // Running: 1000 tokens left at positions 1000..1999; queued: 2000 tokens in prompts of
  // about 2000.
  const RunningLeft document{.prompt_tokens = 1000, .prompt_positions = PositionsOf(1000, 1000)};
  const WaitModel model = MakeWaitModel(t, document, 0, 2000);
  const double running = (1000 + 1e-3 * PositionsOf(1000, 1000)) / 1000;
  const double queued = 2000 * (1 + 1e-3 * 1999 / 2) / 1000;
  EXPECT_NEAR(model.Seconds(2000, 0), running + queued, 1e-9);
  // The drain time prices a class's prompts at its mean size.
  QueueSnapshot queue;
  queue.classes[LengthClass::kShort] = {.queued = 1, .queued_prompt_tokens = 2000};
  EXPECT_NEAR(PredictedDrainSeconds(t, queue, document), running + queued, 1e-9);
  EXPECT_GT(model.Seconds(2000, 0),
            2 * MakeWaitModel(Rates(), {.prompt_tokens = 1000}, 0, 2000).Seconds(2000, 0));
}

}  // namespace
}  // namespace glmq
