#include "batch/batch.h"

#include <gtest/gtest.h>

#include "batch/batch_runner.h"

namespace glmq {
namespace {

TEST(BatchTest, ACompletionWindowIsADurationFromTenSecondsToAWeek) {
  EXPECT_EQ(ParseCompletionWindow("24h"), 24 * 3'600'000);
  EXPECT_EQ(ParseCompletionWindow("90m"), 90 * 60'000);
  EXPECT_EQ(ParseCompletionWindow("10s"), 10'000);
  EXPECT_EQ(ParseCompletionWindow("7d"), 7 * 86'400'000ll);
  for (const char* bad :
       {"", "h", "24", "9s", "8d", "-1h", "1.5h", "24H", "1y", "99999999999999d"}) {
    EXPECT_FALSE(ParseCompletionWindow(bad).has_value()) << bad;
  }
}

TEST(BatchTest, ARecordSurvivesItsEncoding) {
  Batch b;
  b.id = NewBatchId();
  b.tenant = "team";
  b.endpoint = "/v1/chat/completions";
  b.input_file_id = "file-1";
  b.completion_window = "24h";
  b.metadata_json = R"({"k":"v"})";
  b.status = BatchStatus::kCancelling;
  b.errors = {{"invalid_url", "wrong", 3, "url"}};
  b.output_file_id = "file-2";
  b.created_at = 1;
  b.expires_at = 2;
  b.cancelling_at = 3;
  auto back = DecodeBatch(EncodeBatch(b));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, b);
  EXPECT_FALSE(DecodeBatch("[]").ok());
  EXPECT_FALSE(DecodeBatch(R"({"id":"x"})").ok());
}

TEST(BatchTest, ALinesJobIdIsTheSameEveryTimeAndAValidJobId) {
  EXPECT_EQ(BatchLineJobId("batch_a", 7), BatchLineJobId("batch_a", 7));
  EXPECT_NE(BatchLineJobId("batch_a", 7), BatchLineJobId("batch_a", 8));
  EXPECT_NE(BatchLineJobId("batch_a", 7), BatchLineJobId("batch_b", 7));
  EXPECT_TRUE(IsValidJobId(BatchLineJobId("batch_a", 7)));
}

// Lines wait behind interactive work for half the window, less when the batch needs more
// than half of it to run, and never past their creation when it needs all of it.
TEST(BatchTest, ABatchsLinesWaitWhatTheWindowCanSpare) {
  constexpr int64_t kHour = 3'600'000;
  EXPECT_EQ(BatchOrderKey(1000, 24 * kHour, kHour, 0), 1000 + 12 * kHour);
  EXPECT_EQ(BatchOrderKey(1000, 24 * kHour, 8 * kHour, 5), 1000 + 8 * kHour + 5);
  EXPECT_EQ(BatchOrderKey(1000, 24 * kHour, 30 * kHour, 5), 1000 + 5);
}

}  // namespace
}  // namespace glmq
