#include "sched/capacity.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>

#include "sched/policy.h"
#include "store/job_codec.h"
#include "store/redis_server.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

WorkerReport Report(double prefill, double decode, double single, double ratio, int64_t prompt_left,
                    int64_t max_left, int32_t free) {
  return WorkerReport{.worker = "",
                      .prefill_tokens_per_second = prefill,
                      .decode_tokens_per_second = decode,
                      .single_decode_tokens_per_second = single,
                      .completion_ratio = ratio,
                      .running_prompt_tokens_left = prompt_left,
                      .running_max_tokens_left = max_left,
                      .free_sequences = free};
}

TEST(CapacityTest, WorkersSideBySideAddUp) {
  const Capacity c =
      Combine({Report(1000, 100, 40, 0.5, 3000, 200, 1), Report(3000, 300, 20, 1.0, 1000, 100, 0)});
  EXPECT_EQ(c.engines, 2);
  EXPECT_DOUBLE_EQ(c.rates.prefill_tokens_per_second, 4000);
  EXPECT_DOUBLE_EQ(c.rates.decode_tokens_per_second, 400);
  EXPECT_DOUBLE_EQ(c.rates.single_decode_tokens_per_second, 30);  // one job runs on one
  EXPECT_DOUBLE_EQ(c.rates.completion_ratio, (0.5 * 100 + 1.0 * 300) / 400);
  EXPECT_EQ(c.running.prompt_tokens, 4000);
  EXPECT_EQ(c.running.max_tokens, 300);
  EXPECT_EQ(c.free_sequences, 1);
  // Prompts fit when one of them holds them: the largest sequence counts.
  WorkerReport small = Report(0, 0, 0, 1.0, 0, 0, 0), large = small;
  small.sequence_tokens = 32'768;
  large.sequence_tokens = 1'048'576;
  EXPECT_EQ(Combine({small, large, Report(0, 0, 0, 1.0, 0, 0, 0)}).sequence_tokens, 1'048'576);
  EXPECT_EQ(Combine({Report(0, 0, 0, 1.0, 0, 0, 0)}).sequence_tokens, 0);  // none said
  // Two workers drain the same queue twice as fast as one of them.
  const Capacity one = Combine({Report(1000, 100, 40, 1.0, 0, 0, 0)});
  const Capacity two =
      Combine({Report(1000, 100, 40, 1.0, 0, 0, 0), Report(1000, 100, 40, 1.0, 0, 0, 0)});
  EXPECT_DOUBLE_EQ(MakeWaitModel(two.rates, {}, 0, 0).Seconds(10'000, 1'000),
                   MakeWaitModel(one.rates, {}, 0, 0).Seconds(10'000, 1'000) / 2);
}

TEST(CapacityTest, NoWorkersMeansNothingMeasured) {
  const Capacity c = Combine({});
  EXPECT_EQ(c.engines, 0);
  EXPECT_EQ(c.rates.prefill_tokens_per_second, 0);  // the policy's fallbacks apply
  EXPECT_EQ(c.rates.completion_ratio, 1.0);
  // A worker that has not generated yet leaves the ratio alone.
  EXPECT_EQ(Combine({Report(500, 0, 0, 0.25, 0, 0, 4)}).rates.completion_ratio, 1.0);
}

TEST(CapacityTest, AReportCarriesWhatAWorkerKnows) {
  Capacity mine;
  mine.rates.prefill_tokens_per_second = 1500;
  mine.rates.decode_tokens_per_second = 120;
  mine.rates.single_decode_tokens_per_second = 35;
  mine.rates.completion_ratio = 0.6;
  mine.running = {.prompt_tokens = 70'000, .prompt_positions = 3.5e9, .max_tokens = 900};
  mine.free_sequences = 2;
  mine.engines = 1;
  const Capacity back = Combine({ReportOf(mine)});
  EXPECT_EQ(back.rates.prefill_tokens_per_second, mine.rates.prefill_tokens_per_second);
  EXPECT_EQ(back.rates.decode_tokens_per_second, mine.rates.decode_tokens_per_second);
  EXPECT_EQ(back.rates.single_decode_tokens_per_second, mine.rates.single_decode_tokens_per_second);
  EXPECT_DOUBLE_EQ(back.rates.completion_ratio, mine.rates.completion_ratio);
  EXPECT_EQ(back.running.prompt_tokens, mine.running.prompt_tokens);
  EXPECT_EQ(back.running.prompt_positions, mine.running.prompt_positions);
  EXPECT_EQ(back.running.max_tokens, mine.running.max_tokens);
  EXPECT_EQ(back.free_sequences, mine.free_sequences);
  EXPECT_EQ(back.engines, 1);
}

TEST(CapacityTest, AFullFleetFreesASequenceWhenItsFirstJobEnds) {
  // Each worker says when its first running job should end, as a time: the gateway reads it
  // a second or two later.
  Capacity busy;
  busy.running_sequences = 2;
  busy.first_end_seconds = 5;
  WorkerReport late = ReportOf(busy);
  EXPECT_NEAR(static_cast<double>(late.first_end_at - NowMs()), 5000, 1000);
  busy.first_end_seconds = 2;
  const WorkerReport early = ReportOf(busy);
  Capacity c = Combine({late, early});
  ASSERT_TRUE(c.first_end_seconds.has_value());
  EXPECT_NEAR(*c.first_end_seconds, 2, 1);
  EXPECT_EQ(c.running_sequences, 4);
  // A full worker that foresees nothing may free one first: nothing is foreseen.
  WorkerReport blind = late;
  blind.first_end_at = 0;
  EXPECT_FALSE(Combine({blind, early}).first_end_seconds.has_value());
  // With a sequence free somewhere, jobs start there: that worker's forecast is not needed.
  blind.free_sequences = 1;
  EXPECT_TRUE(Combine({blind, early}).first_end_seconds.has_value());
  // An end already past is now.
  late.first_end_at = NowMs() - 3000;
  EXPECT_EQ(Combine({late}).first_end_seconds, 0.0);
  // It travels with the heartbeat.
  auto decoded = DecodeWorkerReport(EncodeWorkerReport(early));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, early);
}

TEST(CapacityTest, AFleetViewFollowsTheLiveWorkersReports) {
  std::string pattern = (fs::temp_directory_path() / "glmq_capacity_test_XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const fs::path dir = pattern;
  {
    auto store = SqliteJobStore::Open((dir / "jobs.db").string(), nullptr);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    FleetCapacity fleet(**store, std::chrono::hours(1));  // refreshed by hand below
    ASSERT_TRUE(fleet.Refresh());
    EXPECT_EQ(fleet.Now().engines, 0);
    const TimeMs now = NowMs();
    ASSERT_TRUE(
        (*store)->WorkerHeartbeat("w1", now, 60'000, Report(800, 50, 25, 1, 10, 5, 2)).ok());
    ASSERT_TRUE((*store)->WorkerHeartbeat("w2", now, 60'000, Report(200, 30, 15, 1, 0, 0, 1)).ok());
    ASSERT_TRUE(
        (*store)
            ->WorkerHeartbeat("gone", now - 120'000, 60'000, Report(9e9, 9e9, 9e9, 1, 0, 0, 9))
            .ok());
    EXPECT_EQ(fleet.Now().engines, 0);  // not until the next refresh
    ASSERT_TRUE(fleet.Refresh());
    const Capacity c = fleet.Now();
    EXPECT_EQ(c.engines, 2);
    EXPECT_DOUBLE_EQ(c.rates.prefill_tokens_per_second, 1000);
    EXPECT_DOUBLE_EQ(c.rates.decode_tokens_per_second, 80);
    EXPECT_EQ(c.free_sequences, 3);
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

// A store that cannot be read leaves the gateway with the last view it had, not with none
// (which would mean the fallback rates and 0 workers).
TEST(CapacityTest, AFleetViewOutlivesAnUnreadableStore) {
  if (RedisServer::FindBinary().empty()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  ASSERT_TRUE(server.Start()) << server.last_error();
  RedisStoreOptions options;
  options.url = server.url();
  options.timeout_seconds = 1;
  auto store = RedisJobStore::Open(options, nullptr);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  FleetCapacity fleet(**store, std::chrono::hours(1));
  ASSERT_TRUE(
      (*store)->WorkerHeartbeat("w1", NowMs(), 600'000, Report(700, 40, 20, 1, 0, 0, 1)).ok());
  ASSERT_TRUE(fleet.Refresh());
  ASSERT_EQ(fleet.Now().engines, 1);
  ASSERT_GE(server.Kill(SIGKILL), 0);
  EXPECT_FALSE(fleet.Refresh());
  EXPECT_FALSE(fleet.Refresh());
  EXPECT_EQ(fleet.Now().engines, 1);
  EXPECT_DOUBLE_EQ(fleet.Now().rates.prefill_tokens_per_second, 700);
}

}  // namespace
}  // namespace glmq
