#include "api/insert_batcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "store/sqlite_store.h"
#include "store/store_test_support.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

class InsertBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "glmq_batcher_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto opened = SqliteJobStore::Open((dir_ / "jobs.db").string(), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Starts one coroutine per job on a single io thread, each awaiting its insert, and runs
  // them all to the end. Every Insert is queued before the first batch's commit (an fsync)
  // ends, so they share batches.
  std::vector<Result<InsertBatcher::Inserted>> InsertAll(InsertBatcher& batcher,
                                                         std::vector<Job> jobs) {
    std::vector<Result<InsertBatcher::Inserted>> results(jobs.size(), Internal("not run"));
    asio::io_context io;
    for (size_t i = 0; i < jobs.size(); ++i) {
      JobStore::NewJob job{.job = std::move(jobs[i]), .wait = kWait};
      asio::co_spawn(
          io,
          [&batcher, &results, i, job = std::move(job)]() mutable -> asio::awaitable<void> {
            results[i] = co_await batcher.Insert(std::move(job));
          },
          asio::detached);
    }
    io.run();
    return results;
  }

  static constexpr WaitModel kWait{.base_seconds = 2, .seconds_per_prompt_token = 0.001};
  fs::path dir_;
  std::unique_ptr<SqliteJobStore> store_;
};

TEST_F(InsertBatcherTest, ConcurrentInsertsShareBatchesAndEachLearnsItsPlace) {
  InsertBatcher batcher(*store_);
  std::vector<Job> jobs;
  for (int i = 0; i < 100; ++i) jobs.push_back(MakeTestJob(1000 + i, 1000 + i, 10, 5));
  const auto results = InsertAll(batcher, jobs);

  std::set<int64_t> positions;
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().ToString();
    const InsertBatcher::Inserted& r = *results[i];
    EXPECT_EQ(r.job.id, jobs[i].id);
    EXPECT_EQ(r.job.request.text, jobs[i].request.text);  // handed back whole
    // Keys grow with i, so the jobs ahead are exactly those inserted with lower keys.
    EXPECT_EQ(r.placement.position, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(r.placement.ahead.prompt_tokens, 10 * static_cast<int64_t>(i));
    EXPECT_EQ(r.job.estimated_wait_seconds, kWait.Seconds(10 * static_cast<int64_t>(i), 5 * i));
    EXPECT_EQ(MustGet(*store_, r.job.id).estimated_wait_seconds, r.job.estimated_wait_seconds);
    positions.insert(r.placement.position);
  }
  EXPECT_EQ(positions.size(), 100u);
  const InsertBatcher::Counts counts = batcher.counts();
  EXPECT_EQ(counts.jobs, 100);
  EXPECT_LT(counts.batches, 100) << "no two inserts shared a commit";
}

TEST_F(InsertBatcherTest, ARefusedJobFailsAloneInItsBatch) {
  const Job existing = InsertTestJob(*store_, 1, 1);
  Job no_id = MakeTestJob(3, 3);
  no_id.id.clear();
  InsertBatcher batcher(*store_);
  const auto results = InsertAll(batcher, {MakeTestJob(2, 2), existing, no_id, MakeTestJob(4, 4)});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(results[1].status().code(), StatusCode::kConflict);
  EXPECT_EQ(results[2].status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(results[3].ok()) << results[3].status().ToString();
  EXPECT_EQ(results[3]->placement.position, 3);  // after 1 and 2
}

TEST_F(InsertBatcherTest, StoppingWritesWhatIsQueuedFirst) {
  std::vector<Result<InsertBatcher::Inserted>> results(20, Internal("not run"));
  asio::io_context io;
  std::vector<std::string> ids;
  {
    InsertBatcher batcher(*store_);
    for (int i = 0; i < 20; ++i) {
      JobStore::NewJob job{.job = MakeTestJob(i, i), .wait = kWait};
      ids.push_back(job.job.id);
      asio::co_spawn(
          io,
          [&batcher, &results, i, job = std::move(job)]() mutable -> asio::awaitable<void> {
            results[i] = co_await batcher.Insert(std::move(job));
          },
          asio::detached);
    }
    // Each coroutine runs up to its Insert; none is resumed yet (the batcher posts results).
    while (io.poll_one() > 0) {
    }
  }  // the batcher is destroyed with inserts queued or in flight
  io.restart();
  io.run();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().ToString();
    EXPECT_EQ(MustGet(*store_, ids[i]).state, JobState::kQueued);
  }
}

}  // namespace
}  // namespace glmq
