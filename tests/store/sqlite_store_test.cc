// What only the SQLite store has: reopening the file, WAL and the schema version, migrations,
// group commit under concurrent inserts. Behaviour both stores share is in
// store_contract_test.cc.
#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/store_test_support.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

Completion MakeCompletion(JobState state, std::string output, std::string finish_reason) {
  Completion completion;
  completion.state = state;
  completion.output = std::move(output);
  completion.finish_reason = std::move(finish_reason);
  return completion;
}

struct Event {
  std::string id;
  JobState state;
};

class SqliteJobStoreTest : public ::testing::Test, protected StoreTestHelpers {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "glmq_store_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_path_ = (dir_ / "jobs.db").string();
    OpenStore();
  }

  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  void OpenStore() {
    store_.reset();
    auto opened =
        SqliteJobStore::Open(db_path_, [this](const std::string& id, JobState state, ChangeOrigin) {
          std::lock_guard lock(events_mu_);
          events_.push_back({id, state});
        });
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  std::vector<Event> Events() {
    std::lock_guard lock(events_mu_);
    return events_;
  }

  JobStore& store() override { return *store_; }

  fs::path dir_;
  std::string db_path_;
  std::unique_ptr<SqliteJobStore> store_;
  std::mutex events_mu_;
  std::vector<Event> events_;
};

TEST_F(SqliteJobStoreTest, EverythingSurvivesReopen) {
  Job big = MakeJob(1, 1000);
  big.request.text.assign(3 * 1024 * 1024, 'x');
  ASSERT_TRUE(store_->Insert(big).ok());
  Job done = Insert(2, 1001);
  Job queued = Insert(3, 1002);
  ASSERT_EQ(MustClaim("w1").id, big.id);
  ASSERT_EQ(MustClaim("w1").id, done.id);
  ASSERT_TRUE(
      store_->Complete(done.id, "w1", MakeCompletion(JobState::kSucceeded, "ok", "stop")).ok());

  store_.reset();  // close, as a restart would
  OpenStore();

  Job got_big = MustGet(big.id);
  EXPECT_EQ(got_big.state, JobState::kRunning);
  EXPECT_EQ(got_big.request.text.size(), big.request.text.size());
  EXPECT_EQ(MustGet(done.id).output, "ok");
  EXPECT_EQ(MustGet(queued.id).state, JobState::kQueued);
  // The running job's lease survives the restart too, and can be reaped.
  auto reaped = store_->ReapExpiredLeases(NowMs() + 3'600'000, 5);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  EXPECT_EQ(MustClaim("w2").id, big.id);
}

TEST_F(SqliteJobStoreTest, DatabaseUsesWalAndRecordsSchemaVersion) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto pragma = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK);
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return value;
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA user_version"), "7");
  sqlite3_close(db);
}

// A file written by schema version 1 (before idempotency keys, webhooks, cached-token
// counts and tenants) gains the new tables and columns on open and keeps its jobs.
TEST_F(SqliteJobStoreTest, OpenMigratesAVersion1File) {
  Job job = Insert(1, 1000);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP INDEX jobs_finished; DROP INDEX jobs_tenant_created; "
                   "DROP INDEX jobs_tenant_state_created; DROP TABLE api_keys; "
                   "DROP TRIGGER usage_on_end; DROP TABLE usage; "
                   "ALTER TABLE jobs DROP COLUMN tenant; "
                   "DROP TRIGGER webhook_on_end; DROP TABLE webhooks; DROP TABLE idempotency; "
                   "ALTER TABLE jobs DROP COLUMN usage_cached_tokens; "
                   "ALTER TABLE jobs DROP COLUMN shared_prompt_tokens; PRAGMA user_version = 1;",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);

  OpenStore();
  EXPECT_EQ(MustGet(job.id).state, JobState::kQueued);
  EXPECT_EQ(MustGet(job.id).tenant, "");  // the implicit tenant's
  EXPECT_EQ(MustGet(job.id).shared_prompt_tokens, 0);
  EXPECT_EQ(MustClaim("w").id, job.id);
  Completion done;
  done.usage = {.prompt_tokens = 100, .completion_tokens = 5, .cached_tokens = 60};
  ASSERT_TRUE(store_->Complete(job.id, "w", done).ok());
  EXPECT_EQ(MustGet(job.id).usage.cached_tokens, 60);
  const JobStore::IdempotencyClaim claim{.key = "t\nk", .body_sha256 = "ab"};
  auto begun = store_->BeginIdempotent(claim, NowMs(), 1000);
  ASSERT_TRUE(begun.ok()) << begun.status().ToString();
  EXPECT_EQ(begun->kind, JobStore::IdempotencyState::Kind::kReserved);
  auto due = store_->ClaimWebhooks(NowMs(), 1000, 10);
  ASSERT_TRUE(due.ok()) << due.status().ToString();
  EXPECT_TRUE(due->empty());
}

// Retention: jobs that ended before the cutoff go, with their documents, answers, webhook
// records and idempotency keys, oldest first and a batch at a time; queued, running and
// recently ended jobs stay; the file gives the freed pages back.
TEST_F(SqliteJobStoreTest, DeleteEndedRemovesOldJobsWithEverythingTheyOwn) {
  auto page_count = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &stmt, nullptr), SQLITE_OK);
    const int64_t pages = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return pages;
  };
  std::vector<Job> ended;
  const JobStore::IdempotencyClaim claim{.key = "t\nk", .body_sha256 = "ab"};
  for (int i = 0; i < 30; ++i) {
    Job job = MakeJob(i, 1000 + i);
    job.request.text = std::string(200'000, 'a' + i % 26);
    if (i == 0) job.request.webhook_url = "http://127.0.0.1:9/hook";
    if (i == 1) {
      ASSERT_EQ(store_->BeginIdempotent(claim, NowMs(), 60'000)->kind,
                JobStore::IdempotencyState::Kind::kReserved);
      ASSERT_TRUE(store_->InsertIdempotent(job, claim, 202, "{}", 3'600'000).ok());
    } else {
      ASSERT_TRUE(store_->Insert(job).ok());
    }
    ASSERT_EQ(MustClaim("w").id, job.id);
    ASSERT_TRUE(
        store_->Complete(job.id, "w", MakeCompletion(JobState::kSucceeded, "x", "stop")).ok());
    ended.push_back(job);
  }
  ASSERT_EQ(store_->ClaimWebhooks(NowMs(), 1, 10)->size(), 1u);
  Job queued = Insert(100, 5000);
  Job running = Insert(101, 5001);
  ASSERT_EQ(MustClaim("w").id, queued.id);  // the lower order key first
  const int64_t pages_before = page_count();

  // Nothing ended before the cutoff of an hour ago.
  EXPECT_EQ(*store_->DeleteEnded(NowMs() - 3'600'000, 100), 0);
  const TimeMs later = NowMs() + 1000;
  EXPECT_EQ(*store_->DeleteEnded(later, 20), 20);
  EXPECT_EQ(*store_->DeleteEnded(later, 20), 10);
  EXPECT_EQ(*store_->DeleteEnded(later, 20), 0);
  for (const Job& job : ended) {
    EXPECT_EQ(store_->Get(job.id).status().code(), StatusCode::kNotFound) << job.id;
  }
  EXPECT_EQ(MustGet(queued.id).state, JobState::kRunning);
  EXPECT_EQ(MustGet(running.id).state, JobState::kQueued);
  EXPECT_TRUE(store_->ClaimWebhooks(NowMs() + 10'000, 1000, 10)->empty());
  // The key is free again: its job is gone.
  EXPECT_EQ(store_->BeginIdempotent(claim, NowMs(), 60'000)->kind,
            JobStore::IdempotencyState::Kind::kReserved);
  EXPECT_LT(page_count(), pages_before / 2) << "freed pages go back to the file system";
}

TEST_F(SqliteJobStoreTest, OpenReportsAnUnusablePath) {
  auto opened = SqliteJobStore::Open((dir_ / "missing" / "dir" / "jobs.db").string(), nullptr);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInternal);
}

TEST_F(SqliteJobStoreTest, ConcurrentInsertsAreAllStoredAndPublished) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::atomic<int> failures{0};

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Job job = MakeJob(i, NowMs(), 64, 16);
        if (!store_->Insert(job).ok()) ++failures;
        ids[t].push_back(job.id);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ perf     ] %d durable inserts from %d threads in %.3f s: %.0f inserts/s\n",
              kThreads * kPerThread, kThreads, seconds, kThreads * kPerThread / seconds);

  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> published;
  for (const Event& e : Events()) {
    if (e.state == JobState::kQueued) published.insert(e.id);
  }
  EXPECT_EQ(published.size(), static_cast<size_t>(kThreads * kPerThread));

  store_.reset();
  OpenStore();
  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->totals.at(JobState::kQueued), kThreads * kPerThread);
  for (const auto& per_thread : ids) {
    for (const std::string& id : per_thread) {
      ASSERT_TRUE(published.count(id)) << id;
      ASSERT_TRUE(store_->Get(id, false).ok()) << id;
    }
  }
}

}  // namespace
}  // namespace glmq
