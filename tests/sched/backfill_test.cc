#include "sched/backfill.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

TEST(BackfillTest, ShadowIsWhenTheRunningJobsFreeEnough) {
  // 1,000 free; the held job needs 5,000; running: 3,000 ends at 10 s, 2,000 at 4 s.
  const BackfillWindow w = PlanBackfill(5000, 1000, 2, {{3000, 10.0}, {2000, 4.0}});
  EXPECT_DOUBLE_EQ(w.shadow_seconds, 10.0);  // 1,000 + 2,000 at 4 s is not enough
  EXPECT_EQ(w.extra_kv_tokens, 1000);        // 6,000 free at 10 s, 5,000 needed
  EXPECT_EQ(w.extra_slots, 3);               // 2 free + 2 ended - the held job's
  EXPECT_TRUE(w.Allows(900, 9.0));           // ends before the shadow
  EXPECT_TRUE(w.Allows(900, 100.0));         // uses KV the held job will not need
  EXPECT_FALSE(w.Allows(1001, 11.0));        // outlasts the shadow in the held job's KV
  EXPECT_FALSE(w.Allows(1001, 9.0));         // does not fit now
}

TEST(BackfillTest, NothingStartsWithoutAFreeSequence) {
  const BackfillWindow w = PlanBackfill(500, 1000, 0, {{3000, 10.0}});
  EXPECT_FALSE(w.Allows(10, 0.1));
}

TEST(BackfillTest, JobsEndingTogetherCountTogether) {
  const BackfillWindow w = PlanBackfill(4000, 0, 1, {{2000, 5.0}, {2000, 5.0}, {1000, 7.0}});
  EXPECT_DOUBLE_EQ(w.shadow_seconds, 5.0);
  EXPECT_EQ(w.extra_kv_tokens, 0);
  EXPECT_EQ(w.extra_slots, 2);
}

TEST(BackfillTest, AHeldJobThatFitsTheMemoryNowLetsOnlySpareMemoryGo) {
  // It waits for a sequence (or to run alone): no time-based backfill.
  const BackfillWindow w = PlanBackfill(500, 1000, 2, {{3000, 10.0}});
  EXPECT_DOUBLE_EQ(w.shadow_seconds, 0);
  EXPECT_EQ(w.extra_kv_tokens, 500);
  EXPECT_FALSE(w.Allows(600, 0.5));
  EXPECT_TRUE(w.Allows(400, 50.0));
}

TEST(BackfillTest, AnAccountingItCannotSeeStopsBackfilling) {
  // Even with every running job ended the held job would not fit: nothing may pass it.
  const BackfillWindow w = PlanBackfill(9000, 1000, 3, {{2000, 3.0}});
  EXPECT_FALSE(w.Allows(10, 0.01));
}

}  // namespace
}  // namespace glmq
