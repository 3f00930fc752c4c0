#include "admission/insert_batcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store_fixture.h"
#include "store/store_test_support.h"

namespace glmq {
namespace {

class InsertBatcherTest : public SqliteStoreTest {
 protected:
  // Starts one coroutine per job on a single io thread, each awaiting its insert, and runs
  // them all to the end. Every Insert is queued before the first batch's commit (an fsync)
  // ends, so they share batches.
  std::vector<Result<InsertBatcher::Inserted>> InsertAll(InsertBatcher& batcher,
                                                         std::vector<Job> jobs) {
    std::vector<Result<InsertBatcher::Inserted>> results(jobs.size(), Internal("not run"));
    asio::io_context io;
    for (size_t i = 0; i < jobs.size(); ++i) {
      JobStore::NewJob job{.job = std::move(jobs[i]), .wait = kWait, .slack_seconds = std::nullopt};
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

  static constexpr WaitModel kWait{
      .base_seconds = 2, .seconds_per_prompt_token = 0.001, .when_clear = std::nullopt};
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
      JobStore::NewJob job{.job = MakeTestJob(i, i), .wait = kWait, .slack_seconds = std::nullopt};
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

// A store whose InsertBatch records each batch's size and holds every call until the test
// opens the gate, so a test sees which batches were being written at the same time. The
// rest of JobStore is never called here.
class GatedStore : public JobStore {
 public:
  std::vector<Result<Placement>> InsertBatch(std::vector<NewJob>& jobs) override {
    std::unique_lock lock(mu_);
    sizes_.push_back(jobs.size());
    ++inside_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    --inside_;
    return std::vector<Result<Placement>>(jobs.size(), Placement{.ahead = {}, .position = 1});
  }
  // Waits up to 5 s for `n` calls to be inside InsertBatch at once.
  bool WaitInside(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return inside_ == n; });
  }
  int inside() {
    std::lock_guard lock(mu_);
    return inside_;
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::vector<size_t> sizes() {
    std::lock_guard lock(mu_);
    return sizes_;
  }

  MOCK_METHOD(Status, Insert, (const Job&), (override));
  MOCK_METHOD(Result<Job>, Get, (const std::string&, bool), (override));
  MOCK_METHOD(Result<std::vector<Job>>, List, (const ListFilter&), (override));
  MOCK_METHOD(Result<std::optional<Job>>, ClaimNext, (const std::string&, int64_t, ClaimLimit),
              (override));
  MOCK_METHOD(Status, RenewLeases, (const std::string&, const std::vector<std::string>&, int64_t),
              (override));
  MOCK_METHOD(Status, UpdateProgress, (const std::string&, const std::string&, const JobProgress&),
              (override));
  MOCK_METHOD(Status, Complete, (const std::string&, const std::string&, const Completion&),
              (override));
  MOCK_METHOD(Result<Job>, Cancel, (const std::string&), (override));
  MOCK_METHOD(Status, SetQueuedCost, (const std::string&, int64_t, LengthClass, int64_t),
              (override));
  MOCK_METHOD(Status, FailQueued, (const std::string&, const std::string&, const std::string&),
              (override));
  MOCK_METHOD(Result<int64_t>, ExpireOverdue, (TimeMs), (override));
  MOCK_METHOD(Result<int64_t>, ReapExpiredLeases, (TimeMs, int32_t), (override));
  MOCK_METHOD(Result<int64_t>, QueuePosition, (const std::string&), (override));
  MOCK_METHOD(Result<WorkAhead>, WorkBefore, (int64_t), (override));
  MOCK_METHOD(Result<std::optional<QueueHead>>, Head, (ClaimLimit), (override));
  MOCK_METHOD(void, SetFairShare, (bool), (override));
  MOCK_METHOD(Status, SetTenantSettings, (const TenantSettings&), (override));
  MOCK_METHOD(Result<QueueSnapshot>, Snapshot, (), (override));
  MOCK_METHOD(Status, CheckWritable, (), (override));
  MOCK_METHOD(Result<int64_t>, DeleteEnded, (TimeMs, int32_t), (override));
  MOCK_METHOD(const WriteHealth&, write_health, (), (const, override));
  MOCK_METHOD(StorageUsage, Storage, (), (const, override));
  MOCK_METHOD(Result<IdempotencyState>, BeginIdempotent, (const IdempotencyClaim&, TimeMs, int64_t),
              (override));
  MOCK_METHOD(Status, InsertIdempotent,
              (const Job&, const IdempotencyClaim&, int, const std::string&, int64_t), (override));
  MOCK_METHOD(Status, FinishIdempotent, (const IdempotencyClaim&, int, const std::string&, int64_t),
              (override));
  MOCK_METHOD(Status, AbandonIdempotent, (const IdempotencyClaim&), (override));
  MOCK_METHOD(Status, WorkerHeartbeat, (const std::string&, TimeMs, int64_t, const WorkerReport&),
              (override));
  MOCK_METHOD(Result<int64_t>, LiveWorkers, (TimeMs), (override));
  MOCK_METHOD(Result<std::vector<WorkerReport>>, LiveWorkerReports, (TimeMs), (override));
  MOCK_METHOD(Result<bool>, AcquireLease, (const std::string&, const std::string&, TimeMs, int64_t),
              (override));
  MOCK_METHOD(Status, Release, (const std::string&, const std::string&), (override));
  MOCK_METHOD(Result<std::vector<WebhookDue>>, ClaimWebhooks, (TimeMs, int64_t, int32_t),
              (override));
  MOCK_METHOD(Status, EndWebhook, (const std::string&), (override));
  MOCK_METHOD(Status, RetryWebhook, (const std::string&, TimeMs), (override));
  MOCK_METHOD(Status, DeferWebhook, (const std::string&, TimeMs), (override));
  MOCK_METHOD(Status, QueueWebhook, (const std::string&, TimeMs), (override));
  MOCK_METHOD(Status, AddApiKey, (const ApiKeyRecord&), (override));
  MOCK_METHOD(Result<std::vector<ApiKeyRecord>>, ApiKeys, (), (override));
  MOCK_METHOD(Result<bool>, RemoveApiKey, (const std::string&), (override));
  MOCK_METHOD(Result<WorkAhead>, QueuedOf, (const std::string&), (override));
  MOCK_METHOD(Result<std::vector<UsageRow>>, Usage,
              (const std::optional<std::string>&, int64_t, int64_t), (override));

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<size_t> sizes_;
  int inside_ = 0;
  bool open_ = false;
};

// Submits jobs to a batcher from an io thread of its own, as HTTP handlers do, and counts
// the answers.
class Submitter {
 public:
  explicit Submitter(InsertBatcher& batcher) : batcher_(batcher), thread_([this] { io_.run(); }) {}
  ~Submitter() {
    guard_.reset();
    thread_.join();
  }
  void Submit(int n) {
    for (int i = 0; i < n; ++i) {
      JobStore::NewJob job{
          .job = MakeTestJob(next_, next_), .wait = {}, .slack_seconds = std::nullopt};
      ++next_;
      asio::co_spawn(
          io_,
          [this, job = std::move(job)]() mutable -> asio::awaitable<void> {
            auto result = co_await batcher_.Insert(std::move(job));
            std::lock_guard lock(mu_);
            if (result.ok()) ++ok_;
          },
          asio::detached);
    }
  }
  // Waits for the io thread to run everything posted so far (each Insert is then queued).
  void Settle() {
    std::promise<void> done;
    asio::post(io_, [&done] { done.set_value(); });
    done.get_future().wait();
  }
  // Waits up to 5 s for `n` inserts to have succeeded. A test waits for every answer before
  // the Submitter goes, since the batcher posts each answer to this io_context.
  bool WaitAccepted(int n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        if (ok_ == n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  InsertBatcher& batcher_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::mutex mu_;
  int ok_ = 0;
  int next_ = 1;
  std::thread thread_;
};

TEST(InsertBatcherInFlightTest, ASecondBatchStartsBesideTheFirstOnceEnoughJobsWait) {
  GatedStore store;
  {
    InsertBatcher batcher(store, {.in_flight = 2, .min_overlap_jobs = 4});
    Submitter submitter(batcher);
    submitter.Submit(1);
    ASSERT_TRUE(store.WaitInside(1));  // the first batch, one job, is being written
    submitter.Submit(4);
    const bool overlapped = store.WaitInside(2);
    store.Open();
    ASSERT_TRUE(submitter.WaitAccepted(5));
    EXPECT_TRUE(overlapped) << "the second batch waited for the first";
  }
  EXPECT_EQ(store.sizes(), (std::vector<size_t>{1, 4}));
}

TEST(InsertBatcherInFlightTest, FewerJobsThanTheOverlapWaitForTheBatchInFlight) {
  GatedStore store;
  {
    InsertBatcher batcher(store, {.in_flight = 2, .min_overlap_jobs = 4});
    Submitter submitter(batcher);
    submitter.Submit(1);
    ASSERT_TRUE(store.WaitInside(1));
    submitter.Submit(3);
    submitter.Settle();  // all three are queued in the batcher
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(store.inside(), 1) << "three jobs started a batch beside the first";
    store.Open();
    ASSERT_TRUE(submitter.WaitAccepted(4));
  }
  EXPECT_EQ(store.sizes(), (std::vector<size_t>{1, 3}));
}

}  // namespace
}  // namespace glmq
