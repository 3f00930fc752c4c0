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

class SqliteJobStoreTest : public ::testing::Test {
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

  // States the listener reported for one job, in order.
  std::vector<JobState> EventsFor(const std::string& id) {
    std::vector<JobState> states;
    for (const Event& e : Events()) {
      if (e.id == id) states.push_back(e.state);
    }
    return states;
  }

  static Job MakeJob(int64_t order_key, TimeMs created_at, int64_t prompt_tokens = 100,
                     int32_t max_tokens = 50) {
    return MakeTestJob(order_key, created_at, prompt_tokens, max_tokens);
  }
  Job InsertJob(int64_t order_key, TimeMs created_at, int64_t prompt_tokens = 100,
                int32_t max_tokens = 50) {
    return InsertTestJob(*store_, order_key, created_at, prompt_tokens, max_tokens);
  }
  Job MustGet(const std::string& id) { return glmq::MustGet(*store_, id); }
  Job MustClaim(const std::string& worker, int64_t lease_ms = 30000) {
    return glmq::MustClaim(*store_, worker, lease_ms);
  }

  fs::path dir_;
  std::string db_path_;
  std::unique_ptr<SqliteJobStore> store_;
  std::mutex events_mu_;
  std::vector<Event> events_;
};

TEST_F(SqliteJobStoreTest, InsertAndGetRoundTripEveryField) {
  Job job;
  job.id = NewJobId();
  // 10 MB of mixed ASCII, CJK and emoji, with an embedded NUL: stored byte for byte.
  std::string text = "长文档 📄 begin\n";
  text.push_back('\0');
  while (text.size() < 10 * 1024 * 1024) text += "第一章：GLM-4 读一百万个 token。 🚀 ascii tail. ";
  job.request.text = text;
  job.request.question = "文档里说了什么？ «quoted» ✓";
  job.request.messages = {{"system", "你是助手"}, {"user", "héllo \"wörld\" 😀"}};
  job.request.sampling.max_tokens = 777;
  job.request.sampling.temperature = 0.3f;
  job.request.sampling.top_p = 0.9f;
  job.request.sampling.seed = 18446744073709551557ull;
  job.request.sampling.stop = {"</s>", "。", "\n\n"};
  job.request.priority = -7;
  job.request.timeout_seconds = 120.5;
  job.prompt_tokens = 2'500'000;
  job.length_class = LengthClass::kLong;
  job.order_key = 1'700'000'123'456;
  job.created_at = 1'700'000'000'001;
  job.deadline_at = 1'700'000'120'501;
  job.estimated_wait_seconds = 42.25;
  ASSERT_TRUE(store_->Insert(job).ok());

  Job got = MustGet(job.id);
  EXPECT_EQ(got.id, job.id);
  EXPECT_EQ(got.state, JobState::kQueued);
  EXPECT_EQ(got.request.text.size(), text.size());
  EXPECT_TRUE(got.request.text == text);  // not EXPECT_EQ: a 10 MB diff is no help
  EXPECT_EQ(got.request.question, job.request.question);
  ASSERT_EQ(got.request.messages.size(), 2u);
  EXPECT_EQ(got.request.messages[0].role, "system");
  EXPECT_EQ(got.request.messages[0].content, "你是助手");
  EXPECT_EQ(got.request.messages[1].content, "héllo \"wörld\" 😀");
  EXPECT_EQ(got.request.sampling.max_tokens, 777);
  EXPECT_EQ(got.request.sampling.temperature, 0.3f);
  EXPECT_EQ(got.request.sampling.top_p, 0.9f);
  EXPECT_EQ(got.request.sampling.seed, job.request.sampling.seed);
  EXPECT_EQ(got.request.sampling.stop, job.request.sampling.stop);
  EXPECT_EQ(got.request.priority, -7);
  EXPECT_EQ(got.request.timeout_seconds, 120.5);
  EXPECT_EQ(got.prompt_tokens, job.prompt_tokens);
  EXPECT_EQ(got.length_class, LengthClass::kLong);
  EXPECT_EQ(got.order_key, job.order_key);
  EXPECT_EQ(got.created_at, job.created_at);
  EXPECT_EQ(got.deadline_at, job.deadline_at);
  EXPECT_EQ(got.estimated_wait_seconds, 42.25);
  EXPECT_EQ(got.started_at, 0);
  EXPECT_EQ(got.finished_at, 0);
  EXPECT_EQ(got.attempts, 0);
  EXPECT_FALSE(got.cancel_requested);
  EXPECT_FALSE(got.dead_letter);

  // Without the request: the small fields come back, the document and messages do not.
  auto light = store_->Get(job.id, /*with_request=*/false);
  ASSERT_TRUE(light.ok());
  EXPECT_TRUE(light->request.text.empty());
  EXPECT_TRUE(light->request.messages.empty());
  EXPECT_EQ(light->request.question, job.request.question);
  EXPECT_EQ(light->request.sampling.max_tokens, 777);
  EXPECT_EQ(light->prompt_tokens, job.prompt_tokens);

  EXPECT_EQ(EventsFor(job.id), std::vector<JobState>{JobState::kQueued});
}

TEST_F(SqliteJobStoreTest, InsertRejectsDuplicatesAndBadInput) {
  Job job = InsertJob(1, 1000);
  EXPECT_EQ(store_->Insert(job).code(), StatusCode::kConflict);

  Job no_id = MakeJob(1, 1000);
  no_id.id.clear();
  EXPECT_EQ(store_->Insert(no_id).code(), StatusCode::kInvalidArgument);

  Job bad_utf8 = MakeJob(1, 1000);
  bad_utf8.request.question = std::string("\xff\xfe bad", 6);
  EXPECT_EQ(store_->Insert(bad_utf8).code(), StatusCode::kInvalidArgument);

  Job running = MakeJob(1, 1000);
  running.state = JobState::kRunning;
  EXPECT_EQ(store_->Insert(running).code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(store_->Get("job_000000000000000000000000").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(EventsFor(job.id).size(), 1u);  // the rejected duplicate published nothing
}

TEST_F(SqliteJobStoreTest, ListIsNewestFirstWithCursorAndStateFilter) {
  std::vector<Job> jobs;
  for (int i = 0; i < 7; ++i) jobs.push_back(InsertJob(/*order_key=*/i, /*created_at=*/1000 + i));

  auto page1 = store_->List({.state = std::nullopt, .limit = 3, .after = ""});
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->size(), 3u);
  EXPECT_EQ((*page1)[0].id, jobs[6].id);
  EXPECT_EQ((*page1)[1].id, jobs[5].id);
  EXPECT_EQ((*page1)[2].id, jobs[4].id);
  EXPECT_TRUE((*page1)[0].request.text.empty());  // listings carry no documents

  auto page2 = store_->List({.state = std::nullopt, .limit = 3, .after = jobs[4].id});
  ASSERT_TRUE(page2.ok());
  ASSERT_EQ(page2->size(), 3u);
  EXPECT_EQ((*page2)[0].id, jobs[3].id);
  EXPECT_EQ((*page2)[2].id, jobs[1].id);

  auto page3 = store_->List({.state = std::nullopt, .limit = 3, .after = jobs[1].id});
  ASSERT_TRUE(page3.ok());
  ASSERT_EQ(page3->size(), 1u);
  EXPECT_EQ((*page3)[0].id, jobs[0].id);

  auto past_end = store_->List({.state = std::nullopt, .limit = 3, .after = jobs[0].id});
  ASSERT_TRUE(past_end.ok());
  EXPECT_TRUE(past_end->empty());

  // Same created_at: insertion order breaks the tie, and the cursor still walks every job.
  Job twin_a = InsertJob(100, 5000);
  Job twin_b = InsertJob(101, 5000);
  auto twins = store_->List({.state = std::nullopt, .limit = 1, .after = ""});
  ASSERT_TRUE(twins.ok());
  ASSERT_EQ(twins->size(), 1u);
  EXPECT_EQ((*twins)[0].id, twin_b.id);
  twins = store_->List({.state = std::nullopt, .limit = 1, .after = twin_b.id});
  ASSERT_TRUE(twins.ok());
  ASSERT_EQ(twins->size(), 1u);
  EXPECT_EQ((*twins)[0].id, twin_a.id);

  Job claimed = MustClaim("w1");
  EXPECT_EQ(claimed.id, jobs[0].id);
  auto running = store_->List({.state = JobState::kRunning, .limit = 50, .after = ""});
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->size(), 1u);
  EXPECT_EQ((*running)[0].id, jobs[0].id);
  auto queued = store_->List({.state = JobState::kQueued, .limit = 2, .after = jobs[5].id});
  ASSERT_TRUE(queued.ok());
  ASSERT_EQ(queued->size(), 2u);
  EXPECT_EQ((*queued)[0].id, jobs[4].id);
  EXPECT_EQ((*queued)[1].id, jobs[3].id);

  auto all = store_->List({.state = std::nullopt, .limit = 0, .after = ""});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 9u);  // limit 0 means the default page, which holds them all

  EXPECT_EQ(store_->List({.state = std::nullopt, .limit = 3, .after = "job_nope"}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(SqliteJobStoreTest, ClaimNextTakesLowestOrderKeyThenOldest) {
  Job c = InsertJob(/*order_key=*/20, /*created_at=*/1);
  Job b = InsertJob(10, 5);
  Job a = InsertJob(10, 3);
  Job d = InsertJob(30, 0);

  const TimeMs before = NowMs();
  Job first = MustClaim("w1", 30000);
  EXPECT_EQ(first.id, a.id);
  EXPECT_EQ(first.state, JobState::kRunning);
  EXPECT_EQ(first.attempts, 1);
  EXPECT_GE(first.started_at, before);
  EXPECT_EQ(first.request.text, a.request.text);  // a claim carries the request
  EXPECT_EQ(first.request.question, "what?");
  EXPECT_EQ(MustClaim("w1").id, b.id);
  EXPECT_EQ(MustClaim("w2").id, c.id);
  EXPECT_EQ(MustClaim("w2").id, d.id);

  auto empty = store_->ClaimNext("w1", 30000);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());

  EXPECT_EQ(EventsFor(a.id), (std::vector<JobState>{JobState::kQueued, JobState::kRunning}));
  EXPECT_EQ(MustGet(a.id).state, JobState::kRunning);
}

TEST_F(SqliteJobStoreTest, ExpiredLeasesRequeueThenDeadLetter) {
  Job job = InsertJob(5, 1000);
  InsertJob(9, 1000);  // a later job, to check the redelivered one keeps its place

  Job first = MustClaim("w1", /*lease_ms=*/1000);
  ASSERT_EQ(first.id, job.id);
  const TimeMs started_at = first.started_at;

  auto reaped = store_->ReapExpiredLeases(NowMs(), /*max_deliveries=*/2);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 0);  // lease still valid

  // A heartbeat pushes the lease past a reap that would otherwise take it.
  ASSERT_TRUE(store_->Heartbeat("w1", 60000).ok());
  reaped = store_->ReapExpiredLeases(NowMs() + 5000, 2);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 0);
  ASSERT_TRUE(
      store_->UpdateProgress(job.id, "w1", {.prompt_tokens_read = 50, .completion_tokens = 3})
          .ok());

  // The worker dies: the lease runs out and the job is queued again, in its old place.
  reaped = store_->ReapExpiredLeases(NowMs() + 120000, 2);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  Job requeued = MustGet(job.id);
  EXPECT_EQ(requeued.state, JobState::kQueued);
  EXPECT_EQ(requeued.attempts, 1);
  EXPECT_EQ(requeued.order_key, 5);
  EXPECT_EQ(requeued.progress.prompt_tokens_read, 0);
  auto position = store_->QueuePosition(job.id);
  ASSERT_TRUE(position.ok());
  EXPECT_EQ(*position, 1);

  Job second = MustClaim("w2", 1000);
  ASSERT_EQ(second.id, job.id);
  EXPECT_EQ(second.attempts, 2);
  EXPECT_EQ(second.started_at, started_at);  // first start is kept

  // The first worker's late result is discarded.
  Completion late = MakeCompletion(JobState::kSucceeded, "late", "stop");
  EXPECT_EQ(store_->Complete(job.id, "w1", late).code(), StatusCode::kConflict);

  // Second delivery lost too: that was the last allowed.
  reaped = store_->ReapExpiredLeases(NowMs() + 120000, 2);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  Job dead = MustGet(job.id);
  EXPECT_EQ(dead.state, JobState::kFailed);
  EXPECT_TRUE(dead.dead_letter);
  EXPECT_EQ(dead.error_code, "dead_letter");
  EXPECT_GT(dead.finished_at, 0);
  EXPECT_EQ(store_->Complete(job.id, "w2", late).code(), StatusCode::kConflict);

  EXPECT_EQ(EventsFor(job.id),
            (std::vector<JobState>{JobState::kQueued, JobState::kRunning, JobState::kQueued,
                                   JobState::kRunning, JobState::kFailed}));
  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->dead_letter, 1);
}

TEST_F(SqliteJobStoreTest, ReapingACancelRequestedJobCancelsIt) {
  Job job = InsertJob(1, 1000);
  MustClaim("w1", 1000);
  ASSERT_TRUE(store_->Cancel(job.id).ok());
  auto reaped = store_->ReapExpiredLeases(NowMs() + 60000, 0);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  EXPECT_EQ(MustGet(job.id).state, JobState::kCancelled);
}

TEST_F(SqliteJobStoreTest, CompleteWritesAResultOnce) {
  Job job = InsertJob(1, 1000);
  MustClaim("w1");

  Completion done = MakeCompletion(JobState::kSucceeded, "答案是 42", "stop");
  done.usage = {.prompt_tokens = 120, .completion_tokens = 7};
  EXPECT_EQ(store_->Complete(job.id, "w2", done).code(), StatusCode::kConflict);
  ASSERT_TRUE(store_->Complete(job.id, "w1", done).ok());

  Job got = MustGet(job.id);
  EXPECT_EQ(got.state, JobState::kSucceeded);
  EXPECT_EQ(got.output, "答案是 42");
  EXPECT_EQ(got.finish_reason, "stop");
  EXPECT_EQ(got.usage.prompt_tokens, 120);
  EXPECT_EQ(got.usage.completion_tokens, 7);
  EXPECT_GT(got.finished_at, 0);

  Completion other = done;
  other.output = "a different answer";
  EXPECT_EQ(store_->Complete(job.id, "w1", other).code(), StatusCode::kConflict);
  EXPECT_EQ(MustGet(job.id).output, "答案是 42");

  EXPECT_EQ(store_->Complete("job_000000000000000000000000", "w1", done).code(),
            StatusCode::kNotFound);
  Completion not_terminal = MakeCompletion(JobState::kQueued, "", "");
  EXPECT_EQ(store_->Complete(job.id, "w1", not_terminal).code(), StatusCode::kInvalidArgument);

  Job failing = InsertJob(2, 1000);
  MustClaim("w1");
  Completion failed = MakeCompletion(JobState::kFailed, "", "error");
  failed.error_code = "engine_oom";
  failed.error_message = "KV cache full";
  ASSERT_TRUE(store_->Complete(failing.id, "w1", failed).ok());
  Job failed_job = MustGet(failing.id);
  EXPECT_EQ(failed_job.state, JobState::kFailed);
  EXPECT_EQ(failed_job.error_code, "engine_oom");
  EXPECT_EQ(failed_job.error_message, "KV cache full");
  EXPECT_FALSE(failed_job.dead_letter);

  EXPECT_EQ(EventsFor(job.id),
            (std::vector<JobState>{JobState::kQueued, JobState::kRunning, JobState::kSucceeded}));
}

TEST_F(SqliteJobStoreTest, CancelQueuedRunningTerminalAndUnknown) {
  Job running = InsertJob(1, 1000);
  Job queued = InsertJob(2, 1000);
  MustClaim("w1");

  auto cancelled = store_->Cancel(queued.id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  EXPECT_EQ(cancelled->finish_reason, "cancelled");
  EXPECT_GT(cancelled->finished_at, 0);

  auto flagged = store_->Cancel(running.id);
  ASSERT_TRUE(flagged.ok());
  EXPECT_EQ(flagged->state, JobState::kRunning);
  EXPECT_TRUE(flagged->cancel_requested);
  EXPECT_TRUE(MustGet(running.id).cancel_requested);

  // The engine notices and reports the job cancelled; that result is recorded.
  Completion stop = MakeCompletion(JobState::kCancelled, "partial", "cancelled");
  ASSERT_TRUE(store_->Complete(running.id, "w1", stop).ok());
  Job stopped = MustGet(running.id);
  EXPECT_EQ(stopped.state, JobState::kCancelled);
  EXPECT_EQ(stopped.output, "partial");

  // Terminal jobs come back unchanged.
  auto again = store_->Cancel(queued.id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state, JobState::kCancelled);
  EXPECT_EQ(again->finished_at, cancelled->finished_at);

  EXPECT_EQ(store_->Cancel("job_000000000000000000000000").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(EventsFor(queued.id), (std::vector<JobState>{JobState::kQueued, JobState::kCancelled}));
  EXPECT_EQ(EventsFor(running.id),
            (std::vector<JobState>{JobState::kQueued, JobState::kRunning, JobState::kCancelled}));
}

TEST_F(SqliteJobStoreTest, ExpireOverdueTouchesOnlyOverdueQueuedJobs) {
  const TimeMs now = NowMs();
  Job no_deadline = InsertJob(1, 1000);
  Job overdue = MakeJob(2, 1000);
  overdue.deadline_at = now - 1;
  ASSERT_TRUE(store_->Insert(overdue).ok());
  Job at_deadline = MakeJob(3, 1000);
  at_deadline.deadline_at = now;
  ASSERT_TRUE(store_->Insert(at_deadline).ok());
  Job in_time = MakeJob(4, 1000);
  in_time.deadline_at = now + 3'600'000;
  ASSERT_TRUE(store_->Insert(in_time).ok());
  Job running = MakeJob(0, 1000);
  running.deadline_at = now - 1;
  ASSERT_TRUE(store_->Insert(running).ok());
  ASSERT_EQ(MustClaim("w1").id, running.id);

  auto expired = store_->ExpireOverdue(now);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, 2);
  for (const Job& j : {overdue, at_deadline}) {
    Job got = MustGet(j.id);
    EXPECT_EQ(got.state, JobState::kExpired);
    EXPECT_EQ(got.finish_reason, "timeout");
    EXPECT_EQ(got.error_code, "timeout");
    EXPECT_EQ(got.finished_at, now);
    EXPECT_EQ(EventsFor(j.id).back(), JobState::kExpired);
  }
  EXPECT_EQ(MustGet(no_deadline.id).state, JobState::kQueued);
  EXPECT_EQ(MustGet(in_time.id).state, JobState::kQueued);
  EXPECT_EQ(MustGet(running.id).state, JobState::kRunning);

  expired = store_->ExpireOverdue(now);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, 0);
}

TEST_F(SqliteJobStoreTest, QueuePositionAndWorkBefore) {
  Job j30 = InsertJob(/*order_key=*/30, /*created_at=*/1, /*prompt_tokens=*/3000, 300);
  Job j10 = InsertJob(10, 2, 1000, 100);
  Job j20b = InsertJob(20, 9, 2500, 250);
  Job j20a = InsertJob(20, 4, 2000, 200);

  auto position = [&](const Job& j) {
    auto p = store_->QueuePosition(j.id);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : -1;
  };
  EXPECT_EQ(position(j10), 1);
  EXPECT_EQ(position(j20a), 2);
  EXPECT_EQ(position(j20b), 3);
  EXPECT_EQ(position(j30), 4);

  auto work = store_->WorkBefore(25);
  ASSERT_TRUE(work.ok());
  EXPECT_EQ(work->jobs, 3);
  EXPECT_EQ(work->prompt_tokens, 1000 + 2000 + 2500);
  EXPECT_EQ(work->max_tokens, 100 + 200 + 250);
  work = store_->WorkBefore(20);  // strictly lower keys only
  ASSERT_TRUE(work.ok());
  EXPECT_EQ(work->jobs, 1);
  work = store_->WorkBefore(0);
  ASSERT_TRUE(work.ok());
  EXPECT_EQ(work->jobs, 0);
  EXPECT_EQ(work->prompt_tokens, 0);

  MustClaim("w1");  // takes j10
  EXPECT_EQ(position(j10), 0);
  EXPECT_EQ(position(j20a), 1);
  EXPECT_EQ(position(j30), 3);
  work = store_->WorkBefore(1000);
  ASSERT_TRUE(work.ok());
  EXPECT_EQ(work->jobs, 3);  // running jobs are not ahead in the queue

  EXPECT_EQ(store_->QueuePosition("job_000000000000000000000000").status().code(),
            StatusCode::kNotFound);
}

TEST_F(SqliteJobStoreTest, SnapshotCountsPerClassAndState) {
  auto insert = [&](LengthClass c, TimeMs created_at, int64_t prompt_tokens, int32_t max_tokens) {
    Job job = MakeJob(created_at, created_at, prompt_tokens, max_tokens);
    job.length_class = c;
    EXPECT_TRUE(store_->Insert(job).ok());
    return job;
  };
  Job first_short = insert(LengthClass::kShort, 100, 10, 5);  // claimed below
  insert(LengthClass::kShort, 200, 20, 6);
  insert(LengthClass::kShort, 300, 30, 7);
  insert(LengthClass::kLong, 150, 500'000, 1000);
  Job cancelled = insert(LengthClass::kMedium, 400, 8000, 64);
  ASSERT_EQ(MustClaim("w1").id, first_short.id);
  ASSERT_TRUE(store_->Cancel(cancelled.id).ok());

  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  const ClassStats& short_stats = snapshot->classes.at(LengthClass::kShort);
  EXPECT_EQ(short_stats.queued, 2);
  EXPECT_EQ(short_stats.queued_prompt_tokens, 50);
  EXPECT_EQ(short_stats.queued_max_tokens, 13);
  EXPECT_EQ(short_stats.oldest_created_at, 200);
  const ClassStats& long_stats = snapshot->classes.at(LengthClass::kLong);
  EXPECT_EQ(long_stats.queued, 1);
  EXPECT_EQ(long_stats.queued_prompt_tokens, 500'000);
  EXPECT_EQ(long_stats.oldest_created_at, 150);
  const ClassStats& medium_stats = snapshot->classes.at(LengthClass::kMedium);
  EXPECT_EQ(medium_stats.queued, 0);
  EXPECT_EQ(medium_stats.oldest_created_at, 0);

  EXPECT_EQ(snapshot->running, 1);
  EXPECT_EQ(snapshot->dead_letter, 0);
  EXPECT_EQ(snapshot->totals.at(JobState::kQueued), 3);
  EXPECT_EQ(snapshot->totals.at(JobState::kRunning), 1);
  EXPECT_EQ(snapshot->totals.at(JobState::kCancelled), 1);
  EXPECT_EQ(snapshot->totals.at(JobState::kSucceeded), 0);
  EXPECT_EQ(snapshot->totals.size(), 6u);
}

// A large document is queued on an estimate of its length; the engine's exact count, in
// progress or in a successful result, replaces it even when the job started before the
// count after the 202 could land.
TEST_F(SqliteJobStoreTest, EngineCountReplacesAnEstimate) {
  Job first = InsertJob(1, 1000, /*prompt_tokens=*/5000);
  Job second = InsertJob(2, 1000, /*prompt_tokens=*/5000);
  MustClaim("w1");
  MustClaim("w1");
  ASSERT_TRUE(store_
                  ->UpdateProgress(
                      first.id, "w1",
                      {.prompt_tokens = 10678, .prompt_tokens_read = 2048, .completion_tokens = 0})
                  .ok());
  EXPECT_EQ(MustGet(first.id).prompt_tokens, 10678);
  // Unknown (0) leaves the count alone.
  ASSERT_TRUE(store_->UpdateProgress(first.id, "w1", {.prompt_tokens_read = 4096}).ok());
  EXPECT_EQ(MustGet(first.id).prompt_tokens, 10678);

  Completion done;
  done.state = JobState::kSucceeded;
  done.finish_reason = "length";
  done.usage = {.prompt_tokens = 9000, .completion_tokens = 1};
  ASSERT_TRUE(store_->Complete(second.id, "w1", done).ok());
  EXPECT_EQ(MustGet(second.id).prompt_tokens, 9000);

  // A job cancelled halfway through its prompt keeps the full count, not the part read.
  Completion cancelled;
  cancelled.state = JobState::kCancelled;
  cancelled.finish_reason = "cancelled";
  cancelled.usage = {.prompt_tokens = 4096};
  ASSERT_TRUE(store_->Complete(first.id, "w1", cancelled).ok());
  EXPECT_EQ(MustGet(first.id).prompt_tokens, 10678);
}

TEST_F(SqliteJobStoreTest, UpdateProgressOnlyWhileRunning) {
  Job job = InsertJob(1, 1000);
  EXPECT_EQ(store_->UpdateProgress(job.id, "w1", {.prompt_tokens_read = 1}).code(),
            StatusCode::kConflict);
  MustClaim("w1");
  ASSERT_TRUE(
      store_->UpdateProgress(job.id, "w1", {.prompt_tokens_read = 4096, .completion_tokens = 12})
          .ok());
  Job got = MustGet(job.id);
  EXPECT_EQ(got.progress.prompt_tokens_read, 4096);
  EXPECT_EQ(got.progress.completion_tokens, 12);
  EXPECT_EQ(store_->UpdateProgress("job_000000000000000000000000", "w1", {}).code(),
            StatusCode::kNotFound);
  // Progress is not a state change: no event.
  EXPECT_EQ(EventsFor(job.id).size(), 2u);
}

TEST_F(SqliteJobStoreTest, CheckWritableSucceeds) { EXPECT_TRUE(store_->CheckWritable().ok()); }

TEST_F(SqliteJobStoreTest, EverythingSurvivesReopen) {
  Job big = MakeJob(1, 1000);
  big.request.text.assign(3 * 1024 * 1024, 'x');
  ASSERT_TRUE(store_->Insert(big).ok());
  Job done = InsertJob(2, 1001);
  Job queued = InsertJob(3, 1002);
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
  EXPECT_EQ(pragma("PRAGMA user_version"), "2");
  sqlite3_close(db);
}

// A file written by schema version 1 (before idempotency keys) gains the new table on open
// and keeps its jobs.
TEST_F(SqliteJobStoreTest, OpenMigratesAVersion1File) {
  Job job = InsertJob(1, 1000);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE idempotency; PRAGMA user_version = 1;", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  OpenStore();
  EXPECT_EQ(MustGet(job.id).state, JobState::kQueued);
  const JobStore::IdempotencyClaim claim{.key = "t\nk", .body_sha256 = "ab"};
  auto begun = store_->BeginIdempotent(claim, NowMs(), 1000);
  ASSERT_TRUE(begun.ok()) << begun.status().ToString();
  EXPECT_EQ(begun->kind, JobStore::IdempotencyState::Kind::kReserved);
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
