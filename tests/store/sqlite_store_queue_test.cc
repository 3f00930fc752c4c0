// SqliteJobStore's queue questions (QueuePosition, WorkBefore) come from an in-memory index
// kept by the writer thread. These tests drive every operation that moves jobs into or out
// of the queue and compare the answers with plain SQL counts over the database file.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/sqlite_store.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;
using WorkAhead = JobStore::WorkAhead;

// The queries SqliteJobStore ran before it had an index: the reference answers.
constexpr char kPlainWorkBefore[] =
    "SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(max_tokens), 0) "
    "FROM jobs WHERE state = 'queued' AND order_key < ?1";
constexpr char kPlainQueuePosition[] =
    "SELECT CASE WHEN j.state = 'queued' THEN 1 + "
    "(SELECT count(*) FROM jobs q WHERE q.state = 'queued' AND "
    "(q.order_key, q.created_at, q.seq) < (j.order_key, j.created_at, j.seq)) ELSE 0 END "
    "FROM jobs j WHERE j.id = ?1";

// A second connection to the store's file that only reads.
class PlainSql {
 public:
  explicit PlainSql(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "PRAGMA query_only = 1", nullptr, nullptr, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_prepare_v2(db_, kPlainWorkBefore, -1, &work_before_, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_prepare_v2(db_, kPlainQueuePosition, -1, &position_, nullptr), SQLITE_OK);
  }
  ~PlainSql() {
    sqlite3_finalize(work_before_);
    sqlite3_finalize(position_);
    sqlite3_close(db_);
  }
  PlainSql(const PlainSql&) = delete;
  PlainSql& operator=(const PlainSql&) = delete;

  WorkAhead WorkBefore(int64_t order_key) {
    sqlite3_bind_int64(work_before_, 1, order_key);
    EXPECT_EQ(sqlite3_step(work_before_), SQLITE_ROW);
    WorkAhead work{sqlite3_column_int64(work_before_, 0), sqlite3_column_int64(work_before_, 1),
                   sqlite3_column_int64(work_before_, 2)};
    sqlite3_reset(work_before_);
    return work;
  }

  // nullopt: no such job.
  std::optional<int64_t> QueuePosition(const std::string& id) {
    sqlite3_bind_text(position_, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<int64_t> position;
    if (sqlite3_step(position_) == SQLITE_ROW) position = sqlite3_column_int64(position_, 0);
    sqlite3_reset(position_);
    return position;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* work_before_ = nullptr;
  sqlite3_stmt* position_ = nullptr;
};

class SqliteQueueIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "glmq_queue_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_path_ = (dir_ / "jobs.db").string();
    OpenStore();
    plain_ = std::make_unique<PlainSql>(db_path_);
  }

  void TearDown() override {
    plain_.reset();
    store_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void OpenStore() {
    store_.reset();
    auto opened = SqliteJobStore::Open(db_path_, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  // The store's answers for these keys and ids must be the plain SQL ones.
  void ExpectExact(const std::vector<int64_t>& keys, const std::vector<std::string>& ids,
                   const std::string& where) {
    Status check = store_->CheckQueueIndex();
    ASSERT_TRUE(check.ok()) << where << ": " << check.ToString();
    for (int64_t key : keys) {
      auto work = store_->WorkBefore(key);
      ASSERT_TRUE(work.ok()) << where << ": " << work.status().ToString();
      const WorkAhead want = plain_->WorkBefore(key);
      ASSERT_EQ(work->jobs, want.jobs) << where << ", WorkBefore(" << key << ")";
      ASSERT_EQ(work->prompt_tokens, want.prompt_tokens) << where << ", WorkBefore(" << key << ")";
      ASSERT_EQ(work->max_tokens, want.max_tokens) << where << ", WorkBefore(" << key << ")";
    }
    for (const std::string& id : ids) {
      auto position = store_->QueuePosition(id);
      const std::optional<int64_t> want = plain_->QueuePosition(id);
      if (!want) {
        ASSERT_EQ(position.status().code(), StatusCode::kNotFound) << where << ", " << id;
        continue;
      }
      ASSERT_TRUE(position.ok()) << where << ", " << id << ": " << position.status().ToString();
      ASSERT_EQ(*position, *want) << where << ", QueuePosition(" << id << ")";
    }
  }

  fs::path dir_;
  std::string db_path_;
  std::unique_ptr<SqliteJobStore> store_;
  std::unique_ptr<PlainSql> plain_;
};

Job MakeJob(int64_t order_key, TimeMs created_at, int64_t prompt_tokens, int32_t max_tokens,
            TimeMs deadline_at) {
  Job job;
  job.id = NewJobId();
  job.order_key = order_key;
  job.created_at = created_at;
  job.deadline_at = deadline_at;
  job.prompt_tokens = prompt_tokens;
  job.request.text = "document";
  job.request.sampling.max_tokens = max_tokens;
  return job;
}

bool OkOr(const Status& status, StatusCode allowed) {
  return status.ok() || status.code() == allowed;
}

// A Result's status() is meaningful only when it failed.
template <typename T>
Status StatusOf(const Result<T>& result) {
  return result.ok() ? Status::Ok() : result.status();
}

// A random mix of every operation, a few thousand steps; after each one the queue answers
// for several keys and ids are checked against plain SQL. Few distinct order keys and
// creation times make ties common, so the (order_key, created_at, seq) order is exercised.
TEST_F(SqliteQueueIndexTest, RandomOperationsKeepAnswersExact) {
  constexpr int kSteps = 3000;
  std::mt19937_64 rng(1234567);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto pick = [&](const auto& items) -> const auto& { return items[uniform(0, items.size() - 1)]; };
  struct Lease {
    std::string id;
    std::string worker;
  };
  std::vector<std::string> ids;  // every job inserted, whatever its state now
  std::vector<Lease> leases;     // claims not yet completed; some were lost to reaping
  // Deadlines and ExpireOverdue run on this clock; leases run on the real one.
  TimeMs deadline_clock = 1'000'000;
  int reopened = 0;

  for (int step = 0; step < kSteps; ++step) {
    const int64_t op = ids.empty() ? 0 : uniform(0, 99);
    std::string what;
    if (op < 33) {
      what = "insert";
      const TimeMs deadline = uniform(0, 9) < 4 ? deadline_clock + uniform(1, 300) : 0;
      Job job = MakeJob(uniform(0, 40), uniform(1000, 1004), uniform(1, 100'000),
                        static_cast<int32_t>(uniform(1, 4096)), deadline);
      ASSERT_TRUE(store_->Insert(job).ok());
      ids.push_back(job.id);
    } else if (op < 36) {
      what = "duplicate insert";
      Job job = MakeJob(uniform(0, 40), 1000, 1, 1, 0);
      job.id = pick(ids);
      ASSERT_EQ(store_->Insert(job).code(), StatusCode::kConflict);
    } else if (op < 54) {
      what = "claim";
      const std::string worker = "w" + std::to_string(uniform(0, 3));
      auto claimed = store_->ClaimNext(worker, uniform(0, 1) == 0 ? 1 : 3'600'000);
      ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
      if (claimed->has_value()) leases.push_back({(*claimed)->id, worker});
    } else if (op < 64) {
      what = "complete";
      if (leases.empty()) continue;
      const size_t i = uniform(0, leases.size() - 1);
      Completion completion;
      completion.state = pick(
          std::vector<JobState>{JobState::kSucceeded, JobState::kFailed, JobState::kCancelled});
      completion.output = "out";
      const std::string worker = uniform(0, 4) == 0 ? "intruder" : leases[i].worker;
      Status status = store_->Complete(leases[i].id, worker, completion);
      ASSERT_TRUE(OkOr(status, StatusCode::kConflict)) << status.ToString();
      if (status.ok()) leases.erase(leases.begin() + i);
    } else if (op < 72) {
      what = "cancel";
      const bool unknown = uniform(0, 19) == 0;
      auto cancelled = store_->Cancel(unknown ? "job_000000000000000000000000" : pick(ids));
      const Status status = StatusOf(cancelled);
      ASSERT_TRUE(OkOr(status, unknown ? StatusCode::kNotFound : StatusCode::kOk))
          << status.ToString();
    } else if (op < 79) {
      what = "expire";
      deadline_clock += uniform(0, 60);
      ASSERT_TRUE(store_->ExpireOverdue(deadline_clock).ok());
    } else if (op < 91) {
      what = "reap";
      const TimeMs now = NowMs() + pick(std::vector<int64_t>{0, 50, 7'200'000});
      ASSERT_TRUE(store_->ReapExpiredLeases(now, static_cast<int32_t>(uniform(0, 3))).ok());
    } else if (op < 96) {
      what = "lease renewal and progress";
      std::vector<std::string> ids;
      for (const Lease& lease : leases) ids.push_back(lease.id);
      ASSERT_TRUE(store_
                      ->RenewLeases("w" + std::to_string(uniform(0, 3)), ids,
                                    uniform(0, 1) == 0 ? 1 : 3'600'000)
                      .ok());
      if (!leases.empty()) {
        const Lease& lease = pick(leases);
        Status status = store_->UpdateProgress(lease.id, lease.worker, {.prompt_tokens_read = 5});
        ASSERT_TRUE(OkOr(status, StatusCode::kConflict)) << status.ToString();
      }
    } else if (op < 98) {
      what = "reopen";
      ++reopened;
      OpenStore();  // the index is rebuilt from the file
      ASSERT_NE(store_, nullptr);
    } else {
      what = "check writable";
      ASSERT_TRUE(store_->CheckWritable().ok());
    }

    std::vector<int64_t> keys = {std::numeric_limits<int64_t>::min(),
                                 std::numeric_limits<int64_t>::max()};
    for (int i = 0; i < 5; ++i) keys.push_back(uniform(-1, 42));
    std::vector<std::string> check_ids;
    for (int i = 0; i < 5 && !ids.empty(); ++i) check_ids.push_back(pick(ids));
    if (step % 10 == 0) check_ids.push_back("job_000000000000000000000000");
    ExpectExact(keys, check_ids, "step " + std::to_string(step) + " (" + what + ")");
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(reopened, 0);
  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  std::printf("[ info     ] after %d steps: %lld queued, %lld running, %lld dead-lettered\n",
              kSteps, static_cast<long long>(snapshot->totals.at(JobState::kQueued)),
              static_cast<long long>(snapshot->running),
              static_cast<long long>(snapshot->dead_letter));
}

// Many writers share group commits, in which some writes fail (duplicate ids) and must
// leave no trace in the index, while readers ask the queue questions.
TEST_F(SqliteQueueIndexTest, ConcurrentWritersLeaveTheIndexExact) {
  constexpr int kWriters = 8;
  constexpr int kOpsPerWriter = 150;
  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  std::vector<std::vector<std::string>> ids(kWriters);

  std::thread reader([&] {
    std::mt19937_64 rng(99);
    while (writing) {
      auto work = store_->WorkBefore(static_cast<int64_t>(rng() % 50));
      if (!work.ok() || work->jobs < 0) ++failures;
      auto position = store_->QueuePosition("job_000000000000000000000000");
      if (position.status().code() != StatusCode::kNotFound) ++failures;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937_64 rng(static_cast<uint64_t>(w) + 1);
      const std::string worker = "w" + std::to_string(w);
      std::vector<std::string>& mine = ids[w];
      for (int i = 0; i < kOpsPerWriter; ++i) {
        const uint64_t op = rng() % 10;
        Status status;
        if (op < 4 || mine.empty()) {
          Job job = MakeJob(static_cast<int64_t>(rng() % 50), 1000, 10, 5, 0);
          status = store_->Insert(job);
          mine.push_back(job.id);
        } else if (op < 5) {
          Job job = MakeJob(1, 1000, 10, 5, 0);
          job.id = mine[rng() % mine.size()];
          status = store_->Insert(job);
          if (status.code() == StatusCode::kConflict) status = Status::Ok();
        } else if (op < 7) {
          status = StatusOf(store_->ClaimNext(worker, 1));
        } else if (op < 8) {
          status = StatusOf(store_->Cancel(mine[rng() % mine.size()]));
        } else if (op < 9) {
          status = StatusOf(store_->ReapExpiredLeases(NowMs() + 1000, 3));
        } else {
          status = StatusOf(store_->ExpireOverdue(NowMs()));
        }
        if (!status.ok()) {
          ADD_FAILURE() << "op " << op << ": " << status.ToString();
          ++failures;
        }
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  writing = false;
  reader.join();
  EXPECT_EQ(failures.load(), 0);

  std::vector<int64_t> keys;
  for (int64_t key = -1; key <= 51; ++key) keys.push_back(key);
  std::vector<std::string> all_ids;
  for (const auto& mine : ids) all_ids.insert(all_ids.end(), mine.begin(), mine.end());
  ExpectExact(keys, all_ids, "after concurrent writes");
}

}  // namespace
}  // namespace glmq

namespace glmq {
namespace {

TEST_F(SqliteQueueIndexTest, SetQueuedCostMovesTheJobAndFailQueuedRemovesIt) {
  const Job a = MakeJob(100, 1, 10, 5, 0);
  const Job b = MakeJob(200, 2, 20, 5, 0);
  const Job c = MakeJob(300, 3, 30, 5, 0);
  for (const Job& job : {a, b, c}) ASSERT_TRUE(store_->Insert(job).ok());
  ExpectExact({150, 250, 1000}, {a.id, b.id, c.id}, "inserted");

  // The exact count of `c` is small: it moves to the front, with its new size.
  ASSERT_TRUE(store_->SetQueuedCost(c.id, 7, LengthClass::kShort, 50).ok());
  ExpectExact({60, 150, 1000}, {a.id, b.id, c.id}, "c re-costed");
  EXPECT_EQ(*store_->QueuePosition(c.id), 1);
  auto got = store_->Get(c.id, false);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->prompt_tokens, 7);
  EXPECT_EQ(got->order_key, 50);

  // `b` can never fit: it fails without running and leaves the queue.
  ASSERT_TRUE(store_->FailQueued(b.id, "prompt_too_long", "too long: 9 > 8").ok());
  ExpectExact({60, 250, 1000}, {a.id, b.id, c.id}, "b failed");
  auto failed = store_->Get(b.id, false);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state, JobState::kFailed);
  EXPECT_EQ(failed->error_code, "prompt_too_long");
  EXPECT_EQ(failed->attempts, 0);

  // Neither applies to a job that left the queue.
  auto claimed = store_->ClaimNext("w", 60'000);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  EXPECT_EQ((*claimed)->id, c.id);
  EXPECT_EQ(store_->SetQueuedCost(c.id, 9, LengthClass::kShort, 1).code(), StatusCode::kConflict);
  EXPECT_EQ(store_->FailQueued(c.id, "x", "y").code(), StatusCode::kConflict);
  EXPECT_EQ(store_->FailQueued(b.id, "x", "y").code(), StatusCode::kConflict);
  ExpectExact({60, 250, 1000}, {a.id, b.id, c.id}, "after claim");
}

}  // namespace
}  // namespace glmq
