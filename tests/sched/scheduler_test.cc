// The scheduler with a fake engine (tests/sched/fake_engine.h) over a real SQLite store:
// admission, the job held for KV and the backfilling around it, cancellation and deadlines
// of a held job, prompts tokenized once, the running work it publishes. Times are the fake
// engine's virtual seconds. About 500 lines: every test shares the fixture's store, engine
// and scheduler set-up.
#include "sched/scheduler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "sched/fake_engine.h"
#include "sched/policy.h"
#include "store/sqlite_store.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override {
    Close();
    fs::remove_all(dir_);
  }
  void Close() {
    scheduler_.reset();
    engine_.reset();
    store_.reset();
  }
  // A fresh store in a fresh directory.
  void Open() {
    Close();
    dir_ = fs::temp_directory_path() /
           ("glmq-scheduler-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto store = SqliteJobStore::Open((dir_ / "glmq.db").string(), nullptr);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  // A queued job whose prompt is `prompt_tokens` long (the fake tokenizer's count), placed
  // by `order_key`.
  Job Add(const std::string& name, int64_t order_key, int64_t prompt_tokens, int32_t max_tokens,
          double timeout_seconds = 0) {
    Job job;
    job.id = NewJobId();
    job.order_key = order_key;
    job.created_at = NowMs();
    job.request.text =
        name +
        std::string(
            static_cast<size_t>(prompt_tokens - FakeTokenizer::kTemplateTokens) - name.size(), '.');
    job.request.sampling.max_tokens = max_tokens;
    if (timeout_seconds > 0) job.deadline_at = job.created_at + std::llround(timeout_seconds * 1e3);
    job.prompt_tokens = FakeTokenizer::Tokens(job.request);
    EXPECT_EQ(job.prompt_tokens, prompt_tokens);
    const Status s = store_->Insert(job);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return job;
  }

  void Start(FakeEngineOptions engine_options, bool backfill,
             const std::function<void(SchedulerOptions&)>& tweak = {}) {
    if (!engine_) engine_ = std::make_unique<FakeEngine>(engine_options);
    SeedMeter(engine_options);
    SchedulerOptions options;
    options.backfill = backfill;
    options.housekeeping_interval_ms = 50;
    options.tokens_once = tokens_once_;
    if (tweak) tweak(options);
    scheduler_ = std::make_unique<Scheduler>(*store_, *engine_, meter_, options);
    scheduler_->Start();
  }

  // The fake's true rates: a step of a full prompt budget reads budget / its cost.
  void SeedMeter(const FakeEngineOptions& engine_options) {
    const double step = engine_options.step_seconds +
                        engine_options.prefill_budget * engine_options.prompt_token_seconds;
    meter_.Seed(engine_options.prefill_budget / step, 1.0 / engine_options.step_seconds);
  }

  // Waits until every job has ended; returns their final records.
  std::map<std::string, Job> WaitAll(const std::vector<Job>& jobs) {
    std::map<std::string, Job> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      out.clear();
      for (const Job& j : jobs) {
        auto got = store_->Get(j.id, false);
        if (got.ok() && IsTerminal(got->state)) out[j.id] = *got;
      }
      if (out.size() == jobs.size()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(out.size(), jobs.size()) << "not every job ended";
    scheduler_->Shutdown();
    return out;
  }

  int DocumentReadsWhileQuestionsWait(bool kept);

  fs::path dir_;
  std::unique_ptr<SqliteJobStore> store_;
  std::unique_ptr<FakeEngine> engine_;
  ThroughputMeter meter_;
  std::unique_ptr<Scheduler> scheduler_;
  PromptTokensOnce* tokens_once_ = nullptr;
};

// 10,000 KV tokens: a 4,000-token document runs, an 8,000-token one is held (both do not
// fit), and short questions sort behind the held one.
struct HeldScene {
  Job running, held;
  std::vector<Job> shorts;
  std::vector<Job> all() const {
    std::vector<Job> v{running, held};
    v.insert(v.end(), shorts.begin(), shorts.end());
    return v;
  }
};

class HeldJobTest : public SchedulerTest {
 protected:
  HeldScene Scene(int shorts) {
    HeldScene s;
    s.running = Add("running", 1, 4000, 10);
    s.held = Add("held", 2, 8000, 10);
    for (int i = 0; i < shorts; ++i)
      s.shorts.push_back(Add("short" + std::to_string(i), 3 + i, 50, 20));
    return s;
  }
};

TEST_F(SchedulerTest, RunsQueuedJobsToTheirEnd) {
  std::vector<Job> jobs{Add("a", 1, 100, 5), Add("b", 2, 200, 8), Add("c", 3, 50, 3)};
  Start({}, true);
  auto done = WaitAll(jobs);
  for (const Job& j : jobs) {
    EXPECT_EQ(done[j.id].state, JobState::kSucceeded) << j.id;
    auto result = store_->Get(j.id);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->output, "answer of " + j.id);
    EXPECT_EQ(result->usage.prompt_tokens, j.prompt_tokens);
  }
}

TEST_F(HeldJobTest, QuestionsBehindAHeldDocumentRunBeforeItWithoutDelayingIt) {
  const HeldScene scene = Scene(4);
  Start({}, /*backfill=*/true);
  auto done = WaitAll(scene.all());
  for (const Job& j : scene.all()) EXPECT_EQ(done[j.id].state, JobState::kSucceeded);
  const auto admitted = engine_->admitted_at();
  const auto ended = engine_->ended_at();
  const double held_start = admitted.at(scene.held.id);
  for (const Job& s : scene.shorts) {
    EXPECT_LT(admitted.at(s.id), held_start) << "a question waited for the held document";
    EXPECT_LE(ended.at(s.id), held_start);
  }
  // The held document starts the moment the document whose KV it needs ends: no backfilled
  // job holds memory it needs.
  EXPECT_DOUBLE_EQ(held_start, ended.at(scene.running.id));
  // Its prompt was tokenized once, however often it asked for memory.
  EXPECT_EQ(engine_->fake_tokenizer().TimesTokenized(scene.held.request.text), 1);
}

TEST_F(HeldJobTest, WithoutBackfillingNothingPassesTheHeldDocument) {
  const HeldScene scene = Scene(4);
  Start({}, /*backfill=*/false);
  auto done = WaitAll(scene.all());
  for (const Job& j : scene.all()) EXPECT_EQ(done[j.id].state, JobState::kSucceeded);
  const auto admitted = engine_->admitted_at();
  const auto ended = engine_->ended_at();
  const double held_start = admitted.at(scene.held.id);
  EXPECT_DOUBLE_EQ(held_start, ended.at(scene.running.id));
  for (const Job& s : scene.shorts) EXPECT_GE(admitted.at(s.id), held_start);
}

// Backfilled questions delay the held document by the engine time they take (their prompts
// share the prefill budget), not by holding its memory: it starts no later than without
// backfilling plus the steps their prompts took.
TEST_F(SchedulerTest, BackfillingDelaysTheHeldDocumentOnlyByTheQuestionsOwnReading) {
  const FakeEngineOptions engine_options;
  auto held_start = [&](bool backfill) {
    Open();
    // Keys are times: the questions sort behind both documents (an hour later), and the
    // running one's prompt does not yield to them (its virtual deadline is seconds away).
    const TimeMs t = NowMs();
    std::vector<Job> jobs{Add("running", t + 1, 4000, 10), Add("held", t + 2, 8000, 10)};
    for (int i = 0; i < 4; ++i) {
      jobs.push_back(Add("q" + std::to_string(i), t + 3'600'000 + i, 50, 20));
    }
    Start(engine_options, backfill);
    WaitAll(jobs);
    return engine_->admitted_at().at(jobs[1].id);
  };
  const double with = held_start(true);
  const double without = held_start(false);
  const double question_prompt_steps = 4.0 * 50 / engine_options.prefill_budget;
  const double step_cost = engine_options.step_seconds +
                           engine_options.prefill_budget * engine_options.prompt_token_seconds;
  EXPECT_GE(with, without);
  EXPECT_LE(with, without + question_prompt_steps * step_cost + 1e-9)
      << "with backfilling " << with << " s, without " << without << " s";
}

// A job behind the held one that would outlast the running document and needs memory the
// held one needs does not start before it.
TEST_F(SchedulerTest, AJobThatWouldDelayTheHeldOneWaits) {
  const Job running = Add("running", 1, 4000, 10);
  const Job held = Add("held", 2, 9000, 10);       // leaves 990 KV tokens spare
  const Job long_job = Add("long", 3, 1500, 500);  // 2,000 KV tokens, ~55 s of decoding
  Start({}, true);
  WaitAll({running, held, long_job});
  const auto admitted = engine_->admitted_at();
  EXPECT_DOUBLE_EQ(admitted.at(held.id), engine_->ended_at().at(running.id));
  EXPECT_GE(admitted.at(long_job.id), admitted.at(held.id));
}

TEST_F(SchedulerTest, AHeldJobCancelledWhileItWaitsEndsAndUnblocksTheQueue) {
  FakeEngineOptions slow;
  slow.prefill_budget = 10;  // the running document takes 400 steps of 1 ms
  slow.sleep_per_step_ms = 1;
  const Job running = Add("running", 1, 4000, 10);
  const Job held = Add("held", 2, 8000, 10);
  const Job after = Add("after", 3, 50, 5);
  Start(slow, /*backfill=*/false);
  // Held: claimed (running in the store) but not in the engine.
  for (int i = 0; i < 2000; ++i) {
    auto h = store_->Get(held.id, false);
    if (h.ok() && h->state == JobState::kRunning) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(store_->Cancel(held.id).ok());
  scheduler_->RequestStop(held.id);
  auto done = WaitAll({running, held, after});
  EXPECT_EQ(done[held.id].state, JobState::kCancelled);
  EXPECT_EQ(done[after.id].state, JobState::kSucceeded);
  EXPECT_EQ(engine_->admitted_at().count(held.id), 0u);
}

TEST_F(SchedulerTest, AHeldJobWhoseDeadlinePassesExpires) {
  FakeEngineOptions slow;
  slow.prefill_budget = 10;  // 400 steps of 1 ms: longer than the held job's 50 ms
  slow.sleep_per_step_ms = 1;
  const Job running = Add("running", 1, 4000, 10);
  const Job held = Add("held", 2, 8000, 10, /*timeout_seconds=*/0.05);
  Start(slow, false);
  auto done = WaitAll({running, held});
  EXPECT_EQ(done[held.id].state, JobState::kExpired);
  EXPECT_EQ(done[running.id].state, JobState::kSucceeded);
}

// A large document is tokenized on a thread of its own: the engine goes on with the job
// beside it meanwhile, and the tokens are made once.
TEST_F(SchedulerTest, ALargePromptIsTokenizedOnceWhileTheEngineGoesOn) {
  FakeEngineOptions options;
  options.kv_tokens = 300'000;
  options.prefill_budget = 2000;
  options.sleep_per_step_ms = 1;
  engine_ = std::make_unique<FakeEngine>(options);
  engine_->fake_tokenizer().SetSlow(100'000, 1000);
  const Job running = Add("running", 1, 4000, 10);  // 12 steps of 1 ms
  const Job large = Add("large", 2, 200'000, 10);
  Start(options, true);
  auto done = WaitAll({running, large});
  EXPECT_EQ(done[running.id].state, JobState::kSucceeded);
  EXPECT_EQ(done[large.id].state, JobState::kSucceeded);
  EXPECT_LT(engine_->ended_real().at(running.id),
            engine_->fake_tokenizer().TokenizedAt(large.request.text))
      << "the engine waited for the large prompt's tokens";
  EXPECT_EQ(engine_->fake_tokenizer().TimesTokenized(large.request.text), 1);
}

// In glmq serve admission's settle step tokenizes a large document after its 202 and the
// scheduler takes those tokens: whether the settle step is done when the job is claimed or
// still tokenizing, the document is tokenized once, and the job runs.
TEST_F(SchedulerTest, TheTokensTheSettleStepMadeAreTheOnesTheEngineGets) {
  FakeEngineOptions options;
  options.kv_tokens = 300'000;
  engine_ = std::make_unique<FakeEngine>(options);
  engine_->fake_tokenizer().SetSlow(100'000, 500);
  PromptTokensOnce once(engine_->fake_tokenizer(), size_t{64} << 20);
  tokens_once_ = &once;
  const Job settled = Add("settled", 1, 150'000, 5);
  ASSERT_TRUE(once.CountAndKeep(settled.id, settled.request).ok());
  const Job settling = Add("settling", 2, 160'000, 5);
  auto settle = std::async(std::launch::async,
                           [&] { return once.CountAndKeep(settling.id, settling.request); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // it is tokenizing (500 ms)
  Start(options, true);
  auto done = WaitAll({settled, settling});
  ASSERT_TRUE(settle.get().ok());
  for (const Job& j : {settled, settling}) {
    EXPECT_EQ(done[j.id].state, JobState::kSucceeded);
    EXPECT_EQ(engine_->fake_tokenizer().TimesTokenized(j.request.text), 1) << j.id;
  }
  EXPECT_EQ(once.taken(), 2);
  EXPECT_EQ(once.kept_bytes(), 0u);
}

// A document already reading yields its prompt to the questions queued after it that sort
// before it: it reads nothing while one waits and another sequence has work, and goes on
// once none sorts before it. Each job's key is its virtual deadline (arrival + its service
// time at the fake's rates), the document's its arrival instead when `kept` (the start it
// was told, kept: it starts at once). Returns the steps that read the document meanwhile.
int SchedulerTest::DocumentReadsWhileQuestionsWait(bool kept) {
  FakeEngineOptions options;
  options.parallel = 2;
  options.sleep_per_step_ms = 1;
  SeedMeter(options);
  const ThroughputSnapshot rates = meter_.Snapshot();
  const auto deadline = [&rates](int64_t prompt_tokens, int32_t max_tokens) {
    return NowMs() +
           std::llround(1000 * SlackSeconds(PolicyOptions{}, rates, prompt_tokens, max_tokens));
  };
  const Job question = Add("question", deadline(50, 200), 50, 200);  // generates for 200 steps
  const Job document = Add("document", kept ? NowMs() : deadline(5000, 5), 5000, 5);
  Start(options, true);
  for (int i = 0; i < 5000 && engine_->admitted_at().count(document.id) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(engine_->admitted_at().count(document.id), 1u);
  // Two questions that sort before the document, with no sequence free for them. The
  // clock is read once the first is in the store: a slow insert (fsync under load) lets
  // the engine step on meanwhile, reading the document as it should.
  const Job second = Add("second", deadline(50, 20), 50, 20);
  const double queued_at = engine_->now();
  const Job third = Add("third", deadline(50, 20), 50, 20);
  auto done = WaitAll({question, document, second, third});
  for (const Job& j : {question, document, second, third}) {
    EXPECT_EQ(done[j.id].state, JobState::kSucceeded);
  }
  const double third_started = engine_->admitted_at().at(third.id);
  const double step = options.step_seconds + options.prefill_budget * options.prompt_token_seconds;
  int read_meanwhile = 0;
  const auto read_at = engine_->read_at();  // by value: not a temporary's vector
  for (double t : read_at.at(document.id)) {
    // A step or two for the scheduler to see the queue, then nothing until the last starts.
    if (t > queued_at + 2 * step && t < third_started) ++read_meanwhile;
  }
  EXPECT_GT(engine_->ended_at().at(document.id), third_started);
  return read_meanwhile;
}

TEST_F(SchedulerTest, ARunningDocumentYieldsToQuestionsThatSortBeforeIt) {
  EXPECT_EQ(DocumentReadsWhileQuestionsWait(/*kept=*/false), 0);
}

// A document told it starts at once has its key moved to its arrival (kept estimates), so
// no later question sorts before it in the queue; once it runs, its prompt still yields to
// the questions due before its virtual deadline (arrival + its service time, ~5.6 s here),
// as it would have without the move. Before, it read on beside them: on a CPU every step
// then carried its chunk, and a question's tokens came several times slower.
TEST_F(SchedulerTest, ADocumentKeptToItsToldStartStillYieldsToTheQuestionsAfterIt) {
  EXPECT_EQ(DocumentReadsWhileQuestionsWait(/*kept=*/true), 0);
}

// The store refuses writes (a full disk, a store restarting) when a job ends: its outcome
// is kept and written once the store takes writes again. Before, it was dropped with a
// warning and the job stayed `running` for good, its lease renewed by every heartbeat.
TEST_F(SchedulerTest, DocumentsLeaveTheShortSlotToAQuestionThatComesAfterThem) {
  FakeEngineOptions slow;
  slow.kv_tokens = 100'000;
  slow.parallel = 2;
  slow.sleep_per_step_ms = 5;  // a document reads 100 tokens a step: 20 steps, 100+ ms
  const std::vector<Job> documents{Add("doc1", 1, 2000, 5), Add("doc2", 2, 2000, 5),
                                   Add("doc3", 3, 2000, 5)};
  Start(slow, true, [](SchedulerOptions& o) {
    o.short_slots = 1;
    o.short_prompt_tokens = 1000;
  });
  // One document runs; the second sequence stays free although two more are queued.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto running =
      store_->List({.state = JobState::kRunning, .limit = 10, .after = "", .tenant = std::nullopt});
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->size(), 1u);
  // A question, first in the queue as short work is: it gets the kept sequence at once (with
  // none kept, both would run documents until one ends).
  const Job question = Add("question", 0, 50, 3);
  scheduler_->Wake();  // as serve's store listener does for a new job
  std::vector<Job> all = documents;
  all.push_back(question);
  auto done = WaitAll(all);
  // It ended before the first document.
  EXPECT_LT(done[question.id].finished_at, done[documents[0].id].finished_at);
  // The documents ran one at a time (a claim may be a moment ahead of the write of the
  // outcome before it).
  constexpr TimeMs kWriteLag = 20;
  EXPECT_GE(done[documents[1].id].started_at + kWriteLag, done[documents[0].id].finished_at);
  EXPECT_GE(done[documents[2].id].started_at + kWriteLag, done[documents[1].id].finished_at);
}

TEST_F(SchedulerTest, AnOutcomeTheStoreRefusesIsKeptAndWrittenWhenItRecovers) {
  Job job = Add("q", 1, 100, 30);
  Start({.sleep_per_step_ms = 20}, true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline &&
         store_->Get(job.id, false)->state != JobState::kRunning) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  store_->InjectWriteFault(true);
  while (std::chrono::steady_clock::now() < deadline && !engine_->ended_real().contains(job.id)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(engine_->ended_real().contains(job.id)) << "the engine never finished the job";
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // a few refused tries
  EXPECT_GT(store_->write_health().Now().failures_total, 0);
  EXPECT_EQ(store_->Get(job.id, false)->state, JobState::kRunning);
  store_->InjectWriteFault(false);
  auto done = WaitAll({job});
  EXPECT_EQ(done[job.id].state, JobState::kSucceeded);
  EXPECT_EQ(store_->Get(job.id)->output, "answer of " + job.id);
}

TEST_F(SchedulerTest, AJobThatCanNeverFitFailsWithoutRunning) {
  const Job big = Add("big", 1, 9995, 10);  // 10,005 > 10,000 KV tokens
  const Job ok = Add("ok", 2, 100, 5);
  Start({}, true);
  auto done = WaitAll({big, ok});
  EXPECT_EQ(done[big.id].state, JobState::kFailed);
  EXPECT_EQ(done[big.id].error_code, "prompt_too_long");
  EXPECT_EQ(done[ok.id].state, JobState::kSucceeded);
  EXPECT_EQ(engine_->admitted_at().count(big.id), 0u);
}

// In a fleet, a job too long for this worker goes back to the queue while a live worker
// holds it (not a delivery), and fails here once none does.
TEST_F(SchedulerTest, AJobTooLongHereGoesBackWhileALargerWorkerHoldsIt) {
  const Job big = Add("big", 1, 9995, 10);  // 10,005 > 10,000 KV tokens
  std::atomic<bool> larger_live{true};
  std::atomic<int> asked{0};
  Start({}, true, [&](SchedulerOptions& o) {
    o.held_elsewhere = [&](int64_t kv_tokens) {
      if (kv_tokens == 10'005) ++asked;
      return larger_live.load();
    };
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && asked.load() < 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(asked.load(), 2) << "claimed once and again after the pause";
  const Job waiting = *store_->Get(big.id, false);
  EXPECT_FALSE(IsTerminal(waiting.state)) << JobStateName(waiting.state);
  EXPECT_EQ(engine_->admitted_at().count(big.id), 0u);
  larger_live = false;  // the larger worker is gone: it fails here
  auto done = WaitAll({big});
  EXPECT_EQ(done[big.id].state, JobState::kFailed);
  EXPECT_EQ(done[big.id].error_code, "prompt_too_long");
  EXPECT_EQ(done[big.id].attempts, 1);  // its trips back to the queue were not deliveries
}

// While a larger worker is live, claims pass over prompts that cannot fit here, so the
// jobs behind such a document run here instead of waiting for it to leave the queue.
TEST_F(SchedulerTest, ClaimsPassOverPromptsTooLongHereWhileALargerWorkerIsLive) {
  const Job big = Add("big", 1, 12'000, 10);  // sorts first, and cannot fit here
  const Job ok = Add("ok", 2, 100, 5);
  std::atomic<bool> larger_live{true};
  Start({}, true, [&](SchedulerOptions& o) {
    o.held_elsewhere = [&](int64_t) { return larger_live.load(); };
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline &&
         store_->Get(ok.id, false)->state != JobState::kSucceeded) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(store_->Get(ok.id, false)->state, JobState::kSucceeded);
  EXPECT_EQ(store_->Get(big.id, false)->state, JobState::kQueued);  // never claimed here
  larger_live = false;
  auto done = WaitAll({big, ok});
  EXPECT_EQ(done[big.id].error_code, "prompt_too_long");
}

// A question on a document another running job is still reading takes the document from it
// (the prefix cache): the running work counts the document once, and the first end foreseen
// is after the document is read, not after the question's few tokens.
TEST_F(SchedulerTest, AJobWaitingForAnotherToReadTheirDocumentCountsOnlyItsOwnTokens) {
  const std::string document(1000, 'd');
  std::vector<Job> jobs;
  // The second answers in the step that reads its last prompt token: unless it waited, it
  // would end first, at once.
  for (const auto& [question, max_tokens] : {std::pair{"first?", 5}, {"second?", 1}}) {
    Job job;
    job.id = NewJobId();
    job.order_key = static_cast<int64_t>(jobs.size()) + 1;
    job.created_at = NowMs();
    job.request.text = document;
    job.request.question = question;
    job.request.sampling.max_tokens = max_tokens;
    job.prompt_tokens = FakeTokenizer::Tokens(job.request);
    ASSERT_TRUE(store_->Insert(job).ok());
    jobs.push_back(job);
  }
  FakeEngineOptions engine_options;
  engine_options.parallel = 2;
  engine_options.share_documents = true;
  engine_options.sleep_per_step_ms = 20;  // ten steps read the document: 200 ms to look
  Start(engine_options, /*backfill=*/true);

  // Work published while the first job had read at most 800 of the document's 1,000 tokens
  // (the fake's records are read after it): the second was waiting.
  std::optional<RunningWork> seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    const RunningWork w = scheduler_->running_work();
    const auto read = engine_->read_at();
    const auto first = read.find(jobs[0].id);
    if (first != read.end() && first->second.size() > 8) break;
    if (w.sequences == 2 && w.first_end_at > 0) seen = w;
  }
  ASSERT_TRUE(seen.has_value()) << "never saw both jobs run while the document was read";
  // Of the second job, only its question and the template's tokens are left to read.
  const int64_t own = jobs[1].prompt_tokens - static_cast<int64_t>(document.size());
  EXPECT_GT(seen->prompt_tokens_left, own);
  EXPECT_LE(seen->prompt_tokens_left, jobs[0].prompt_tokens + own);
  // At least 200 tokens of the document were left, at 100 a step of 0.11 s.
  const double first_end = static_cast<double>(seen->first_end_at - seen->loop_at) / 1000;
  EXPECT_GE(first_end, 0.2) << "foreseen as if the second job read only its question now";
  auto done = WaitAll(jobs);
  for (const Job& j : jobs) EXPECT_EQ(done[j.id].state, JobState::kSucceeded);
}

}  // namespace
}  // namespace glmq
