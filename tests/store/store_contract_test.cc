// The JobStore contract (store_contract.h): queueing, claims, leases, results and the
// queue's figures, on both stores. The coordination between processes is in
// store_coordination_contract_test.cc. Long (one test per promise of job_store.h, each run on
// both stores) and kept whole, so that one file says what every store must do.
#include "store/store_contract.h"

namespace glmq::contract {
namespace {

TEST_P(StoreContractTest, InsertAndGetRoundTripA10MbDocument) {
  Job job = MakeJob(1'700'000'123'456, 1'700'000'000'001, 2'500'000, 777);
  std::string text = "长文档 📄\n";
  text.push_back('\0');
  while (text.size() < 10 * 1024 * 1024) text += "第一章：GLM-4 读一百万个 token。 🚀 ascii. ";
  job.request.text = text;
  job.request.question = "文档里说了什么？ «quoted» ✓";
  job.request.messages = {{"system", "你是助手"}, {"user", "héllo \"wörld\" 😀"}};
  job.request.sampling.temperature = 0.3f;
  job.request.sampling.top_p = 0.9f;
  job.request.sampling.seed = 18446744073709551557ull;
  job.request.sampling.stop = {"</s>", "。", "\n\n"};
  job.request.priority = -7;
  job.request.timeout_seconds = 120.5;
  job.length_class = LengthClass::kLong;
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
  EXPECT_EQ(got.prompt_tokens, 2'500'000);
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
  EXPECT_EQ(events_.For(job.id), std::vector<JobState>{JobState::kQueued});

  // A claim carries the whole request.
  Job claimed = MustClaim("w1");
  EXPECT_TRUE(claimed.request.text == text);
  EXPECT_EQ(claimed.request.messages.size(), 2u);
}

TEST_P(StoreContractTest, InsertRejectsDuplicatesAndBadInput) {
  Job job = Insert(1, 1000);
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
  EXPECT_EQ(events_.For(job.id).size(), 1u);
}

// Where each job of an InsertBatch should land: its order key, the jobs before it, the wait
// it is told.
struct Placed {
  int64_t order_key = 0;
  int64_t jobs_ahead = 0;
  double told = 0;
};
void ExpectPlaced(JobStore& store, const std::vector<JobStore::NewJob>& batch,
                  const std::vector<Result<JobStore::Placement>>& placed,
                  const std::vector<Placed>& want) {
  ASSERT_EQ(placed.size(), batch.size());
  ASSERT_EQ(want.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(placed[i].ok()) << i << ": " << placed[i].status().ToString();
    EXPECT_EQ(batch[i].job.order_key, want[i].order_key) << i;
    EXPECT_EQ(placed[i]->ahead.jobs, want[i].jobs_ahead) << i;
    EXPECT_NEAR(batch[i].job.estimated_wait_seconds, want[i].told, 1e-9) << i;
    const Job stored = MustGet(store, batch[i].job.id);
    EXPECT_EQ(stored.order_key, want[i].order_key) << i;
    EXPECT_EQ(stored.estimated_wait_seconds, batch[i].job.estimated_wait_seconds) << i;
  }
}

TEST_P(StoreContractTest, APromisedJobIsOrderedByTheStartItIsPromised) {
  // 10 ms per prompt token, no free sequence.
  const WaitModel model{.seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  const Job a = Insert(1000, 1, 100, 1);   // 1 s of work
  const Job b = Insert(3000, 2, 200, 1);   // 2 s
  const Job c = Insert(10000, 3, 100, 1);  // 1 s
  std::vector<JobStore::NewJob> batch = {
      // From 1500: A is before it (1 s) -> 2500, where the work before it is still A.
      {MakeJob(1500, 4, 50, 1), model, 0.4},
      // From 2000: A (1 s) -> 3000; A, X and B (3.5 s) -> 5500 (B, at 3000, sorts before a
      // key of 3000 that arrived later, or just after it, either way).
      {MakeJob(2000, 5, 10, 1), model, 2.0},
      // No promise: the key as given.
      {MakeJob(2600, 6, 10, 1), model, std::nullopt},
      // At the tail: everything queued before it (4.7 s) -> 24700.
      {MakeJob(20000, 7, 10, 1), model, 1.0},
  };
  auto placed = store_->InsertBatch(batch);
  ExpectPlaced(*store_, batch, placed,
               {{2500, 1, 1.0 + 0.2}, {5500, 3, 3.5 + 1.0}, {2600, 2, 1.5}, {24700, 6, 4.7 + 0.5}});
  // Claims follow the promised keys.
  for (const std::string& id :
       {a.id, batch[0].job.id, batch[2].job.id, b.id, batch[1].job.id, c.id, batch[3].job.id}) {
    EXPECT_EQ(MustClaim("w1").id, id);
  }
}

TEST_P(StoreContractTest, AKeptEstimateMovesTheKeyEarlierToTheStartItIsTold) {
  // 10 ms per prompt token, no free sequence.
  const WaitModel model{.seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  const Job a = Insert(1000, 1, 100, 1);  // 1 s of work
  const Job b = Insert(5000, 2, 200, 1);  // 2 s
  std::vector<JobStore::NewJob> batch = {
      // Arrived at 1000 with 8 s of slack: A and B (3 s) before 9000 -> 4000; A (1 s)
      // before 4000 -> 2000, where A is still all.
      {MakeJob(9000, 3, 50, 1), model, std::nullopt, true, 8.0},
      // At the tail, told 3.5 s from 29000: later than its key, which stays.
      {MakeJob(30000, 4, 10, 1), model, std::nullopt, true, 1.0},
      // From 700: 3.5 s before 20700 -> 4200; A and the first (1.5 s) -> 2200.
      {MakeJob(20700, 5, 10, 1), model, std::nullopt, true, 20.0},
      // No kept slack: the key as given.
      {MakeJob(1500, 6, 10, 1), model, std::nullopt, true, std::nullopt},
      // Not measured (a batch's line): the key as given, nothing counted ahead.
      {MakeJob(9500, 7, 10, 1), model, std::nullopt, false, 8.0},
  };
  auto placed = store_->InsertBatch(batch);
  ExpectPlaced(*store_, batch, placed,
               {{2000, 1, 1.0}, {30000, 3, 3.5}, {2200, 2, 1.5}, {1500, 1, 1.0}, {9500, 0, 0.0}});
  for (const std::string& id : {a.id, batch[3].job.id, batch[0].job.id, batch[2].job.id, b.id,
                                batch[4].job.id, batch[1].job.id}) {
    EXPECT_EQ(MustClaim("w1").id, id);
  }
}

TEST_P(StoreContractTest, InsertBatchTellsTheWaitWithTheOvertakingForeseen) {
  // 10 ms per prompt token, no free sequence; jobs arriving later are expected to double the
  // wait until they have added 3 s (WaitModel::Told: the least of 2w and 3 + w).
  WaitModel model{.seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  model.overtaking[0] = {.intercept = 0, .slope = 2};
  model.overtaking[1] = {.intercept = 3, .slope = 1};
  model.overtaking_lines = 2;
  // Nothing ahead and a sequence free: it starts in the step in progress, overtaken by none.
  WaitModel clear = model;
  clear.when_clear = 0.25;
  std::vector<JobStore::NewJob> first = {{MakeJob(5, 1, 1, 1), clear, std::nullopt}};
  ASSERT_TRUE(store_->InsertBatch(first).at(0).ok());
  EXPECT_EQ(first[0].job.estimated_wait_seconds, 0.25);
  ASSERT_EQ(MustClaim("w1").id, first[0].job.id);

  Insert(10, 1, 100, 1);  // 1 s of work
  Insert(30, 2, 400, 1);  // 4 s
  std::vector<JobStore::NewJob> batch = {
      {MakeJob(20, 3, 50, 1), model, std::nullopt},  // 1 s ahead: told 2 s
      {MakeJob(40, 4, 10, 1), model, std::nullopt},  // the tail, 5.5 s ahead: told 8.5 s
  };
  auto placed = store_->InsertBatch(batch);
  ASSERT_EQ(placed.size(), batch.size());
  const double told[] = {2.0, 8.5};
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(placed[i].ok()) << i << ": " << placed[i].status().ToString();
    EXPECT_NEAR(batch[i].job.estimated_wait_seconds, told[i], 1e-9) << i;
    EXPECT_EQ(MustGet(batch[i].job.id).estimated_wait_seconds, batch[i].job.estimated_wait_seconds)
        << i;
  }
}

TEST_P(StoreContractTest, InsertBatchTellsAJobBehindAFullEngineWhenTheFirstRunningJobEnds) {
  // 60 s of running work, but the first running job ends in 1.5 s and the work ahead then
  // runs at half the engine (WaitModel::FirstEnd): the least of 60 + w and 1.5 + 2w.
  WaitModel model{.base_seconds = 60, .seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  model.first_end = WaitModel::FirstEnd{.seconds = 1.5, .slope = 2};
  std::vector<JobStore::NewJob> batch = {
      {MakeJob(10, 1, 100, 1), model, std::nullopt},    // nothing ahead: 1.5 s
      {MakeJob(20, 2, 50, 1), model, std::nullopt},     // the tail, 1 s ahead: 3.5 s
      {MakeJob(5, 3, 30, 1), model, std::nullopt},      // first in the queue: 1.5 s
      {MakeJob(30, 4, 10000, 1), model, std::nullopt},  // the tail, 1.8 s ahead: 5.1 s
      {MakeJob(40, 5, 10, 1), model, std::nullopt},     // 101.8 s ahead: 60 + 101.8 s
  };
  auto placed = store_->InsertBatch(batch);
  ASSERT_EQ(placed.size(), batch.size());
  const double told[] = {1.5, 3.5, 1.5, 5.1, 161.8};
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(placed[i].ok()) << i << ": " << placed[i].status().ToString();
    EXPECT_NEAR(batch[i].job.estimated_wait_seconds, told[i], 1e-9) << i;
    EXPECT_EQ(MustGet(batch[i].job.id).estimated_wait_seconds, batch[i].job.estimated_wait_seconds)
        << i;
  }
}

// A question on a document still being read waits for the reading (WaitModel::at_least),
// unless it starts in the step in progress.
TEST_P(StoreContractTest, InsertBatchTellsNoLessThanTheLeastWait) {
  WaitModel held{.base_seconds = 1, .seconds_per_prompt_token = 0.01};
  held.at_least = 7;
  WaitModel free_sequence = held;
  free_sequence.when_clear = 0.25;
  std::vector<JobStore::NewJob> batch = {
      {MakeJob(10, 1, 100, 1), free_sequence, std::nullopt},  // starts now: 0.25 s
      {MakeJob(20, 2, 100, 1), held, std::nullopt},           // 1 + 1 s, but 7 s at least
      {MakeJob(30, 3, 100, 1), held, std::nullopt},           // 1 + 2 s, but 7 s at least
  };
  for (int i = 0; i < 2; ++i) batch.push_back({MakeJob(40 + i, 4 + i, 1000, 1), held, {}});
  auto placed = store_->InsertBatch(batch);
  ASSERT_EQ(placed.size(), batch.size());
  const double told[] = {0.25, 7, 7, 7, 14};  // the last: 1 + 13 s ahead
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(placed[i].ok()) << i << ": " << placed[i].status().ToString();
    EXPECT_NEAR(batch[i].job.estimated_wait_seconds, told[i], 1e-9) << i;
  }
}

TEST_P(StoreContractTest, InsertBatchPlacesEachJobAndRefusesOnlyTheBadOnes) {
  const WaitModel model{.base_seconds = 1.5,
                        .seconds_per_prompt_token = 0.01,
                        .seconds_per_max_token = 0.1,
                        .when_clear = 0.25};
  // Nothing ahead and a free slot: the step in progress.
  std::vector<JobStore::NewJob> first = {{MakeJob(5, 1000, 40, 4), model, std::nullopt}};
  auto placed = store_->InsertBatch(first);
  ASSERT_EQ(placed.size(), 1u);
  ASSERT_TRUE(placed[0].ok()) << placed[0].status().ToString();
  EXPECT_EQ(placed[0]->position, 1);
  EXPECT_EQ(first[0].job.estimated_wait_seconds, 0.25);

  const Job j10 = Insert(10, 1001, 100, 50);
  Insert(20, 1002, 200, 60);
  Insert(30, 1003, 300, 70);
  Job no_id = MakeJob(12, 1004);
  no_id.id.clear();
  std::vector<JobStore::NewJob> batch = {
      {MakeJob(25, 1005, 1000, 7), model, std::nullopt},  // after 5, 10 and 20
      {j10, model, std::nullopt},                         // a duplicate id
      {no_id, model, std::nullopt},                       // invalid
      {MakeJob(15, 1006, 10, 3), model, std::nullopt},    // after 5 and 10
      {MakeJob(40, 1007, 1, 1), model,
       std::nullopt},  // after all, the batch's earlier jobs included
      {MakeJob(40, 1008, 9, 9), model, std::nullopt},  // the same id twice in one batch
  };
  batch.back().job.id = batch[4].job.id;
  batch.back().job.request.text = "a second job under a taken id";
  placed = store_->InsertBatch(batch);
  ASSERT_EQ(placed.size(), batch.size());
  EXPECT_EQ(placed[1].status().code(), StatusCode::kConflict);
  EXPECT_EQ(placed[2].status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(placed[5].status().code(), StatusCode::kConflict);
  EXPECT_EQ(MustGet(batch[4].job.id).request.text, batch[4].job.request.text);
  struct Want {
    size_t index;
    int64_t jobs, prompt_tokens, max_tokens;
  };
  for (const Want& w : {Want{0, 3, 340, 114}, Want{3, 2, 140, 54}, Want{4, 6, 1650, 194}}) {
    ASSERT_TRUE(placed[w.index].ok()) << w.index << ": " << placed[w.index].status().ToString();
    const JobStore::Placement& p = *placed[w.index];
    EXPECT_EQ(p.ahead.jobs, w.jobs) << w.index;
    EXPECT_EQ(p.ahead.prompt_tokens, w.prompt_tokens) << w.index;
    EXPECT_EQ(p.ahead.max_tokens, w.max_tokens) << w.index;
    EXPECT_EQ(p.position, w.jobs + 1) << w.index;
    const Job& job = batch[w.index].job;
    EXPECT_EQ(job.estimated_wait_seconds, model.Seconds(w.prompt_tokens, w.max_tokens));
    // The record keeps the estimate the caller was given, to the last bit.
    EXPECT_EQ(MustGet(job.id).estimated_wait_seconds, job.estimated_wait_seconds);
    EXPECT_EQ(MustGet(job.id).request.text, job.request.text);
    EXPECT_EQ(events_.For(job.id), std::vector<JobState>{JobState::kQueued});
  }
  // Positions now: 5, 10, 15, 20, 25, 30, 40.
  EXPECT_EQ(Position(batch[3].job.id), 3);
  EXPECT_EQ(Position(batch[0].job.id), 5);
  EXPECT_EQ(Position(batch[4].job.id), 7);
  EXPECT_EQ(MustGet(j10.id).created_at, 1001);  // the duplicate changed nothing
  EXPECT_EQ(events_.For(j10.id).size(), 1u);
}

// More jobs than one SQLite group commit takes (256): positions stay exact when a batch is
// split across transactions.
// A batch's lines are inserted without counting the work before them (their batch has the
// estimate): on Redis, counting it for a job that does not sort last walks the queue. The
// job is queued in its place all the same.
TEST_P(StoreContractTest, InsertBatchCountsNothingAheadOfAJobItIsToldNotToMeasure) {
  Insert(10, 1001, 100, 50);
  Insert(30, 1003, 300, 70);
  std::vector<JobStore::NewJob> batch = {{MakeJob(20, 1002, 7, 3), {}, std::nullopt},
                                         {MakeJob(25, 1004, 9, 3), {}, std::nullopt}};
  batch[0].measure = false;
  auto placed = store_->InsertBatch(batch);
  ASSERT_EQ(placed.size(), 2u);
  ASSERT_TRUE(placed[0].ok()) << placed[0].status().ToString();
  EXPECT_EQ(placed[0]->position, 1);  // not counted
  EXPECT_EQ(placed[0]->ahead.prompt_tokens, 0);
  ASSERT_TRUE(placed[1].ok()) << placed[1].status().ToString();
  EXPECT_EQ(placed[1]->position, 3);  // counted: 10, and the unmeasured 20
  EXPECT_EQ(placed[1]->ahead.prompt_tokens, 107);
  auto ahead = store_->WorkBefore(26);
  ASSERT_TRUE(ahead.ok()) << ahead.status().ToString();
  EXPECT_EQ(ahead->jobs, 3);  // in the queue in its place
}

TEST_P(StoreContractTest, InsertBatchOfManyJobsNumbersThemInOrder) {
  std::vector<JobStore::NewJob> batch;
  for (int i = 0; i < 300; ++i)
    batch.push_back({MakeJob(100 + i, 1000 + i, 2, 1), {}, std::nullopt});
  auto placed = store_->InsertBatch(batch);
  ASSERT_EQ(placed.size(), batch.size());
  for (size_t i = 0; i < placed.size(); ++i) {
    ASSERT_TRUE(placed[i].ok()) << i << ": " << placed[i].status().ToString();
    EXPECT_EQ(placed[i]->position, static_cast<int64_t>(i) + 1) << i;
    EXPECT_EQ(placed[i]->ahead.prompt_tokens, 2 * static_cast<int64_t>(i)) << i;
  }
}

TEST_P(StoreContractTest, ListPagesNewestFirstWithStateFilter) {
  std::vector<Job> jobs;
  for (int i = 0; i < 7; ++i) jobs.push_back(Insert(i, 1000 + i));
  EXPECT_EQ(ListIds(std::nullopt, 3), (std::vector{jobs[6].id, jobs[5].id, jobs[4].id}));
  EXPECT_EQ(ListIds(std::nullopt, 3, jobs[4].id),
            (std::vector{jobs[3].id, jobs[2].id, jobs[1].id}));
  EXPECT_EQ(ListIds(std::nullopt, 3, jobs[1].id), std::vector{jobs[0].id});
  EXPECT_TRUE(ListIds(std::nullopt, 3, jobs[0].id).empty());

  // Equal created_at: arrival breaks the tie.
  Job twin_a = Insert(100, 5000);
  Job twin_b = Insert(101, 5000);
  EXPECT_EQ(ListIds(std::nullopt, 1), std::vector{twin_b.id});
  EXPECT_EQ(ListIds(std::nullopt, 1, twin_b.id), std::vector{twin_a.id});

  ASSERT_EQ(MustClaim("w1").id, jobs[0].id);
  EXPECT_EQ(ListIds(JobState::kRunning, 50), std::vector{jobs[0].id});
  EXPECT_EQ(ListIds(JobState::kQueued, 2, jobs[5].id), (std::vector{jobs[4].id, jobs[3].id}));
  EXPECT_EQ(ListIds(std::nullopt, 0).size(), 9u);
  auto page =
      store_->List({.state = std::nullopt, .limit = 3, .after = "", .tenant = std::nullopt});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE((*page)[0].request.text.empty());  // listings carry no documents
  EXPECT_EQ(
      store_->List({.state = std::nullopt, .limit = 3, .after = "job_nope", .tenant = std::nullopt})
          .status()
          .code(),
      StatusCode::kInvalidArgument);

  // Without a filter, pages run across every state in creation order.
  ASSERT_TRUE(store_->Complete(jobs[0].id, "w1", Done(JobState::kSucceeded, "ok")).ok());
  ASSERT_EQ(MustClaim("w1").id, jobs[1].id);
  ASSERT_TRUE(store_->Cancel(jobs[2].id).ok());
  EXPECT_EQ(ListIds(std::nullopt, 4, twin_a.id),
            (std::vector{jobs[6].id, jobs[5].id, jobs[4].id, jobs[3].id}));
  EXPECT_EQ(ListIds(std::nullopt, 4, jobs[3].id),
            (std::vector{jobs[2].id, jobs[1].id, jobs[0].id}));
  EXPECT_EQ(ListIds(std::nullopt, 2, jobs[4].id), (std::vector{jobs[3].id, jobs[2].id}));
  EXPECT_EQ(ListIds(JobState::kCancelled, 5), std::vector{jobs[2].id});
}

TEST_P(StoreContractTest, EachTenantListsItsOwnJobsAndAnAdminListsAll) {
  store_->SetFairShare(false);  // the claim below takes the first in the global order
  const Job a1 = InsertFor("finance", 10);
  const Job b1 = InsertFor("legal", 11);
  const Job d1 = InsertFor("", 12);
  const Job a2 = InsertFor("finance", 13);
  auto ids = [&](std::optional<std::string> tenant, std::optional<JobState> state,
                 const std::string& after = "") {
    auto page = store_->List({.state = state, .limit = 10, .after = after, .tenant = tenant});
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> out;
    if (page.ok()) {
      for (const Job& j : *page) {
        if (tenant) {
          EXPECT_EQ(j.tenant, *tenant) << j.id;
        }
        out.push_back(j.id);
      }
    }
    return out;
  };
  EXPECT_EQ(ids("finance", std::nullopt), (std::vector{a2.id, a1.id}));
  EXPECT_EQ(ids("finance", std::nullopt, a2.id), std::vector{a1.id});
  EXPECT_EQ(ids("legal", JobState::kQueued), std::vector{b1.id});
  EXPECT_EQ(ids("", std::nullopt), std::vector{d1.id});
  EXPECT_TRUE(ids("nobody", std::nullopt).empty());
  EXPECT_EQ(ids(std::nullopt, std::nullopt), (std::vector{a2.id, d1.id, b1.id, a1.id}));

  // The tenant stays with the job through its states, and each listing follows it.
  ASSERT_EQ(MustClaim("w1").id, a1.id);
  EXPECT_EQ(ids("finance", JobState::kRunning), std::vector{a1.id});
  EXPECT_EQ(ids("finance", JobState::kQueued), std::vector{a2.id});
  ASSERT_TRUE(store_->Complete(a1.id, "w1", Done(JobState::kSucceeded, "ok")).ok());
  EXPECT_EQ(ids("finance", JobState::kSucceeded), std::vector{a1.id});
  EXPECT_TRUE(ids("legal", JobState::kSucceeded).empty());
  ASSERT_TRUE(store_->Cancel(b1.id).ok());
  EXPECT_EQ(ids("legal", JobState::kCancelled), std::vector{b1.id});
  auto got = store_->Get(a1.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->tenant, "finance");

  // Each tenant's queued work: what is queued, claimed jobs and cancelled ones gone.
  auto queued = [&](const std::string& tenant) {
    auto w = store_->QueuedOf(tenant);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::vector<int64_t>{w->jobs, w->prompt_tokens, w->max_tokens}
                  : std::vector<int64_t>{};
  };
  EXPECT_EQ(queued("finance"), (std::vector<int64_t>{1, 100, 50}));  // a2; a1 ran
  EXPECT_EQ(queued("legal"), (std::vector<int64_t>{0, 0, 0}));       // cancelled
  EXPECT_EQ(queued(""), (std::vector<int64_t>{1, 100, 50}));
  EXPECT_EQ(queued("nobody"), (std::vector<int64_t>{0, 0, 0}));

  if (redis()) {  // the tenant is part of a listing's key: no separator inside it
    Job bad = MakeJob(1, 1);
    bad.tenant = "fin:ance";
    EXPECT_EQ(store_->Insert(bad).code(), StatusCode::kInvalidArgument);
  }
}

TEST_P(StoreContractTest, UsageIsCountedPerTenantAndDayAsJobsEnd) {
  const Job a = InsertFor("finance", 1);
  const Job b = InsertFor("finance", 2);
  const Job c = InsertFor("legal", 3);
  ASSERT_EQ(MustClaim("w").id, a.id);
  Completion done = Done(JobState::kSucceeded, "ok");
  done.usage = {.prompt_tokens = 100, .completion_tokens = 7, .cached_tokens = 40};
  ASSERT_TRUE(store_->Complete(a.id, "w", done).ok());
  ASSERT_TRUE(store_->Cancel(b.id).ok());
  ASSERT_TRUE(store_->Cancel(c.id).ok());
  ASSERT_TRUE(store_->Cancel(c.id).ok());  // no change: counted once
  const int64_t today = NowMs() / 86'400'000;
  auto rows = store_->Usage(std::nullopt, today - 1, today + 1);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  const JobStore::UsageRow& f = (*rows)[0];
  EXPECT_EQ(f.tenant, "finance");
  EXPECT_EQ(f.day, today);
  EXPECT_EQ(f.succeeded, 1);
  EXPECT_EQ(f.cancelled, 1);
  EXPECT_EQ(f.failed + f.expired, 0);
  EXPECT_EQ(f.prompt_tokens, 100);
  EXPECT_EQ(f.cached_tokens, 40);
  EXPECT_EQ(f.completion_tokens, 7);
  EXPECT_EQ((*rows)[1].tenant, "legal");
  EXPECT_EQ((*rows)[1].cancelled, 1);
  auto legal = store_->Usage(std::string("legal"), today, today);
  ASSERT_TRUE(legal.ok());
  ASSERT_EQ(legal->size(), 1u);
  EXPECT_EQ((*legal)[0].cancelled, 1);
  auto before = store_->Usage(std::nullopt, today - 10, today - 1);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty());
  // Kept after the jobs are gone.
  ASSERT_TRUE(store_->DeleteEnded(NowMs() + 1, 100).ok());
  EXPECT_EQ(store_->Usage(std::nullopt, today, today)->size(), 2u);
}

TEST_P(StoreContractTest, ApiKeysAreAddedListedAndRemoved) {
  const JobStore::ApiKeyRecord a{.id = "key_a",
                                 .sha256 = std::string(64, 'a'),
                                 .tenant = "finance",
                                 .role = "submit",
                                 .name = "ci",
                                 .created_at = 1000};
  JobStore::ApiKeyRecord b = a;
  b.id = "key_b";
  b.sha256 = std::string(64, 'b');
  b.role = "read";
  b.created_at = 2000;
  ASSERT_TRUE(store_->AddApiKey(a).ok());
  ASSERT_TRUE(store_->AddApiKey(b).ok());
  JobStore::ApiKeyRecord same_hash = b;
  same_hash.id = "key_c";
  EXPECT_EQ(store_->AddApiKey(same_hash).code(), StatusCode::kConflict);
  JobStore::ApiKeyRecord same_id = a;
  same_id.sha256 = std::string(64, 'c');
  EXPECT_EQ(store_->AddApiKey(same_id).code(), StatusCode::kConflict);

  auto keys = store_->ApiKeys();
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].id, "key_a");
  EXPECT_EQ((*keys)[0].sha256, a.sha256);
  EXPECT_EQ((*keys)[0].tenant, "finance");
  EXPECT_EQ((*keys)[0].role, "submit");
  EXPECT_EQ((*keys)[0].name, "ci");
  EXPECT_EQ((*keys)[0].created_at, 1000);
  EXPECT_EQ((*keys)[1].role, "read");

  auto removed = store_->RemoveApiKey("key_a");
  ASSERT_TRUE(removed.ok() && *removed);
  removed = store_->RemoveApiKey("key_a");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
  keys = store_->ApiKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].id, "key_b");
  // A removed key's hash may be given again.
  EXPECT_TRUE(store_->AddApiKey(a).ok());
}

TEST_P(StoreContractTest, ClaimTakesLowestOrderKeyThenEarliestArrival) {
  Job c = Insert(/*order_key=*/20, /*created_at=*/1);
  Job b = Insert(10, 5);
  Job a = Insert(10, 3);
  Job a2 = Insert(10, 3);  // same key and time as `a`: arrival decides
  Job d = Insert(30, 0);
  const TimeMs before = NowMs();
  Job first = MustClaim("w1");
  EXPECT_EQ(first.id, a.id);
  EXPECT_EQ(first.state, JobState::kRunning);
  EXPECT_EQ(first.attempts, 1);
  EXPECT_GE(first.started_at, before);
  EXPECT_EQ(first.request.text, a.request.text);  // a claim carries the request
  EXPECT_EQ(first.request.question, "what?");
  EXPECT_EQ(MustGet(a.id).state, JobState::kRunning);
  EXPECT_EQ(MustClaim("w1").id, a2.id);
  EXPECT_EQ(MustClaim("w1").id, b.id);
  EXPECT_EQ(MustClaim("w2").id, c.id);
  EXPECT_EQ(MustClaim("w2").id, d.id);
  auto empty = store_->ClaimNext("w1", 30000);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  EXPECT_EQ(events_.For(a.id), (std::vector{JobState::kQueued, JobState::kRunning}));
}

TEST_P(StoreContractTest, LeasesExpireIntoTheOldPlaceThenDeadLetter) {
  Job job = Insert(5, 1000);
  Job later = Insert(9, 1000);
  Job first = MustClaim("w1", /*lease_ms=*/1000);
  ASSERT_EQ(first.id, job.id);

  auto reaped = store_->ReapExpiredLeases(NowMs(), /*max_deliveries=*/2);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 0);
  ASSERT_TRUE(store_->RenewLeases("w1", {job.id}, 60000).ok());
  reaped = store_->ReapExpiredLeases(NowMs() + 5000, 2);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 0) << "the heartbeat extended the lease";
  ASSERT_TRUE(store_->UpdateProgress(job.id, "w1", {.prompt_tokens_read = 50}).ok());

  reaped = store_->ReapExpiredLeases(NowMs() + 120000, 2);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  Job requeued = MustGet(job.id);
  EXPECT_EQ(requeued.state, JobState::kQueued);
  EXPECT_EQ(requeued.attempts, 1);
  EXPECT_EQ(requeued.order_key, 5);
  EXPECT_EQ(requeued.progress.prompt_tokens_read, 0);
  EXPECT_EQ(Position(job.id), 1);
  EXPECT_EQ(Position(later.id), 2);

  Job second = MustClaim("w2", 1000);
  ASSERT_EQ(second.id, job.id);
  EXPECT_EQ(second.attempts, 2);
  EXPECT_EQ(second.started_at, first.started_at);
  // The first worker's late result is discarded.
  EXPECT_EQ(store_->Complete(job.id, "w1", Done(JobState::kSucceeded, "late")).code(),
            StatusCode::kConflict);

  reaped = store_->ReapExpiredLeases(NowMs() + 120000, 2);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  Job dead = MustGet(job.id);
  EXPECT_EQ(dead.state, JobState::kFailed);
  EXPECT_TRUE(dead.dead_letter);
  EXPECT_EQ(dead.error_code, "dead_letter");
  EXPECT_GT(dead.finished_at, 0);
  EXPECT_EQ(store_->Complete(job.id, "w2", Done(JobState::kSucceeded, "late")).code(),
            StatusCode::kConflict);
  EXPECT_EQ(events_.For(job.id),
            (std::vector{JobState::kQueued, JobState::kRunning, JobState::kQueued,
                         JobState::kRunning, JobState::kFailed}));
  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->dead_letter, 1);
  EXPECT_EQ(snapshot->totals.at(JobState::kFailed), 1);
}

TEST_P(StoreContractTest, CompleteIsWriteOnce) {
  Job job = Insert(1, 1000);
  EXPECT_EQ(MustClaim("w1").worker, "w1");
  EXPECT_EQ(MustGet(job.id).worker, "w1");  // who holds it, while it runs
  Completion done = Done(JobState::kSucceeded, "答案是 42");
  done.usage = {.prompt_tokens = 120, .completion_tokens = 7, .cached_tokens = 100};
  EXPECT_EQ(store_->Complete(job.id, "w2", done).code(), StatusCode::kConflict);
  ASSERT_TRUE(store_->Complete(job.id, "w1", done).ok());
  Job got = MustGet(job.id);
  EXPECT_EQ(got.state, JobState::kSucceeded);
  EXPECT_EQ(got.output, "答案是 42");
  EXPECT_EQ(got.finish_reason, "stop");
  EXPECT_EQ(got.usage.prompt_tokens, 120);
  EXPECT_EQ(got.usage.completion_tokens, 7);
  EXPECT_EQ(got.usage.cached_tokens, 100);
  EXPECT_EQ(got.prompt_tokens, 120);
  EXPECT_GT(got.finished_at, 0);
  EXPECT_EQ(got.worker, "");
  Completion other = Done(JobState::kSucceeded, "another answer");
  EXPECT_EQ(store_->Complete(job.id, "w1", other).code(), StatusCode::kConflict);
  EXPECT_EQ(MustGet(job.id).output, "答案是 42");
  EXPECT_EQ(store_->Complete("job_000000000000000000000000", "w1", done).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->Complete(job.id, "w1", Done(JobState::kQueued, "")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(events_.For(job.id),
            (std::vector{JobState::kQueued, JobState::kRunning, JobState::kSucceeded}));

  Job failing = Insert(2, 1000);
  MustClaim("w1");
  Completion failed = Done(JobState::kFailed, "");
  failed.error_code = "engine_oom";
  failed.error_message = "KV cache full";
  ASSERT_TRUE(store_->Complete(failing.id, "w1", failed).ok());
  Job failed_job = MustGet(failing.id);
  EXPECT_EQ(failed_job.state, JobState::kFailed);
  EXPECT_EQ(failed_job.error_code, "engine_oom");
  EXPECT_EQ(failed_job.error_message, "KV cache full");
  EXPECT_FALSE(failed_job.dead_letter);
}

// A batch's lines are cancelled together: queued ones end, a running one is flagged, an
// unknown id is kNotFound, and each gets its own status.
TEST_P(StoreContractTest, CancelManyCancelsEachAsCancelWould) {
  Job running = Insert(1, 1000);
  Job queued = Insert(2, 1000);
  Job also_queued = Insert(3, 1000);
  MustClaim("w1");
  const std::vector<Status> statuses =
      store_->CancelMany({queued.id, running.id, "no-such-job", also_queued.id});
  ASSERT_EQ(statuses.size(), 4u);
  EXPECT_TRUE(statuses[0].ok());
  EXPECT_TRUE(statuses[1].ok());
  EXPECT_EQ(statuses[2].code(), StatusCode::kNotFound);
  EXPECT_TRUE(statuses[3].ok());
  EXPECT_EQ(MustGet(queued.id).state, JobState::kCancelled);
  EXPECT_EQ(MustGet(also_queued.id).state, JobState::kCancelled);
  EXPECT_EQ(MustGet(running.id).state, JobState::kRunning);
  EXPECT_TRUE(MustGet(running.id).cancel_requested);
  EXPECT_EQ(Position(queued.id), 0);
}

TEST_P(StoreContractTest, CancelQueuedRunningAndTerminal) {
  Job running = Insert(1, 1000);
  Job reaped = Insert(2, 1000);
  Job queued = Insert(3, 1000);
  MustClaim("w1");
  MustClaim("w2", 1000);

  auto cancelled = store_->Cancel(queued.id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  EXPECT_EQ(cancelled->finish_reason, "cancelled");
  EXPECT_GT(cancelled->finished_at, 0);
  EXPECT_EQ(Position(queued.id), 0);

  auto flagged = store_->Cancel(running.id);
  ASSERT_TRUE(flagged.ok());
  EXPECT_EQ(flagged->state, JobState::kRunning);
  EXPECT_TRUE(flagged->cancel_requested);
  EXPECT_TRUE(MustGet(running.id).cancel_requested);
  // The engine notices and reports the job cancelled; that result is recorded.
  ASSERT_TRUE(store_->Complete(running.id, "w1", Done(JobState::kCancelled, "partial")).ok());
  EXPECT_EQ(MustGet(running.id).state, JobState::kCancelled);
  EXPECT_EQ(MustGet(running.id).output, "partial");

  // A cancel-requested job whose lease runs out is cancelled, not queued again.
  ASSERT_TRUE(store_->Cancel(reaped.id).ok());
  auto moved = store_->ReapExpiredLeases(NowMs() + 60000, 0);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 1);
  EXPECT_EQ(MustGet(reaped.id).state, JobState::kCancelled);

  // A terminal job comes back unchanged.
  auto again = store_->Cancel(queued.id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state, JobState::kCancelled);
  EXPECT_EQ(again->finished_at, cancelled->finished_at);
  EXPECT_EQ(store_->Cancel("job_000000000000000000000000").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(events_.For(queued.id), (std::vector{JobState::kQueued, JobState::kCancelled}));
  EXPECT_EQ(events_.For(running.id),
            (std::vector{JobState::kQueued, JobState::kRunning, JobState::kCancelled}));
}

TEST_P(StoreContractTest, SetQueuedCostMovesTheJobAndFailQueuedEndsIt) {
  Job a = Insert(10, 1000, 100, 10);
  Job b = Insert(20, 1000, 100, 10);
  ASSERT_TRUE(store_->SetQueuedCost(b.id, 5000, LengthClass::kMedium, 5).ok());
  EXPECT_EQ(Position(b.id), 1);
  Job got = MustGet(b.id);
  EXPECT_EQ(got.prompt_tokens, 5000);
  EXPECT_EQ(got.length_class, LengthClass::kMedium);
  EXPECT_EQ(got.order_key, 5);
  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->classes.at(LengthClass::kMedium).queued_prompt_tokens, 5000);
  EXPECT_EQ(snapshot->classes.at(LengthClass::kShort).queued_prompt_tokens, 100);

  ASSERT_TRUE(store_->FailQueued(a.id, "too_long", "can never fit").ok());
  Job failed = MustGet(a.id);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.error_code, "too_long");
  EXPECT_EQ(failed.error_message, "can never fit");
  EXPECT_EQ(store_->FailQueued(a.id, "x", "y").code(), StatusCode::kConflict);
  MustClaim("w1");
  EXPECT_EQ(store_->SetQueuedCost(b.id, 1, LengthClass::kShort, 1).code(), StatusCode::kConflict);
  EXPECT_EQ(events_.For(a.id), (std::vector{JobState::kQueued, JobState::kFailed}));
}

// Questions on one document: the engine reads the document once, so the queue's work counts
// each follower's prompt less the tokens it takes from another's reading, from insert to
// claim, through a new count of its prompt and a hand-back, and leaves nothing behind.
TEST_P(StoreContractTest, TheQueuesWorkLeavesOutThePromptTokensAJobTakesFromAnother) {
  Insert(10, 1000, 1000, 10);  // reads the document
  Job follower = MakeJob(20, 1001, 1000, 10);
  follower.shared_prompt_tokens = 990;
  ASSERT_TRUE(store_->Insert(follower).ok());
  EXPECT_EQ(MustGet(follower.id).shared_prompt_tokens, 990);
  auto queued_prompt_tokens = [&] {
    auto snapshot = store_->Snapshot();
    EXPECT_TRUE(snapshot.ok());
    return snapshot.ok() ? snapshot->classes.at(LengthClass::kShort).queued_prompt_tokens : -1;
  };
  EXPECT_EQ(queued_prompt_tokens(), 1010);
  const WaitModel model{.seconds_per_prompt_token = 0.01};
  // At the queue's tail (the totals) and inside it (a walk): the same work ahead.
  std::vector<JobStore::NewJob> batch = {{MakeJob(30, 1002, 50, 5), model, std::nullopt},
                                         {MakeJob(25, 1003, 50, 5), model, std::nullopt}};
  auto placed = store_->InsertBatch(batch);
  ASSERT_TRUE(placed[0].ok() && placed[1].ok());
  EXPECT_EQ(placed[0]->ahead.prompt_tokens, 1010);
  EXPECT_EQ(placed[1]->ahead.prompt_tokens, 1010);
  EXPECT_DOUBLE_EQ(batch[0].job.estimated_wait_seconds, 10.1);
  auto before = store_->WorkBefore(25);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->prompt_tokens, 1010);
  EXPECT_EQ(queued_prompt_tokens(), 1110);

  // Counted again at twice the size, its document is still its share: 1,980 of 2,000.
  ASSERT_TRUE(store_->SetQueuedCost(follower.id, 2000, LengthClass::kShort, 20).ok());
  EXPECT_EQ(MustGet(follower.id).shared_prompt_tokens, 1980);
  EXPECT_EQ(queued_prompt_tokens(), 1120);

  MustClaim("w1");
  ASSERT_EQ(MustClaim("w1").id, follower.id);
  EXPECT_EQ(queued_prompt_tokens(), 100);
  ASSERT_TRUE(store_->Release(follower.id, "w1").ok());
  EXPECT_EQ(queued_prompt_tokens(), 120);
  while (queued_prompt_tokens() > 0) MustClaim("w1");
  EXPECT_EQ(queued_prompt_tokens(), 0);
  Job negative = MakeJob(40, 1004, 100, 10);
  negative.shared_prompt_tokens = -1;
  EXPECT_EQ(store_->Insert(negative).code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, ExpireOverdueTouchesOnlyOverdueQueuedJobs) {
  const TimeMs now = NowMs();
  Job no_deadline = Insert(1, 1000);
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
    EXPECT_EQ(events_.For(j.id).back(), JobState::kExpired);
  }
  EXPECT_EQ(MustGet(no_deadline.id).state, JobState::kQueued);
  EXPECT_EQ(MustGet(in_time.id).state, JobState::kQueued);
  EXPECT_EQ(MustGet(running.id).state, JobState::kRunning);
  expired = store_->ExpireOverdue(now);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, 0);
}

// Random jobs with many equal keys and times; every answer checked against a plain count.
TEST_P(StoreContractTest, QueuePositionAndWorkBeforeMatchABruteForceCount) {
  struct Entry {
    Job job;
    int arrival;
    bool queued = true;
  };
  std::mt19937 rng(7);
  std::vector<Entry> entries;
  for (int i = 0; i < 120; ++i) {
    Job job = MakeJob(rng() % 25, 1000 + rng() % 5, 1 + rng() % 5000, 1 + rng() % 300);
    // A third of them questions on a document another job reads: only the rest is work.
    if (i % 3 == 0) job.shared_prompt_tokens = rng() % job.prompt_tokens;
    ASSERT_TRUE(store_->Insert(job).ok());
    entries.push_back({job, i});
  }
  auto key = [](const Entry& e) {
    return std::make_tuple(e.job.order_key, e.job.created_at, e.arrival);
  };
  auto check = [&] {
    for (const Entry& e : entries) {
      int64_t expected = 0;
      if (e.queued) {
        expected = 1;
        for (const Entry& other : entries) expected += other.queued && key(other) < key(e);
      }
      ASSERT_EQ(Position(e.job.id), expected) << e.job.id;
    }
    for (int64_t k = -1; k <= 26; ++k) {
      JobStore::WorkAhead want;
      for (const Entry& e : entries) {
        if (e.queued && e.job.order_key < k) {
          ++want.jobs;
          want.prompt_tokens += e.job.prompt_tokens - e.job.shared_prompt_tokens;
          want.max_tokens += e.job.request.sampling.max_tokens;
        }
      }
      auto got = store_->WorkBefore(k);
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(got->jobs, want.jobs) << "order key " << k;
      EXPECT_EQ(got->prompt_tokens, want.prompt_tokens) << "order key " << k;
      EXPECT_EQ(got->max_tokens, want.max_tokens) << "order key " << k;
    }
  };
  check();
  // Claim the head a few times, cancel some from the middle, and ask again.
  for (int i = 0; i < 10; ++i) {
    Job claimed = MustClaim("w1");
    for (Entry& e : entries) e.queued = e.queued && e.job.id != claimed.id;
  }
  for (size_t i = 0; i < entries.size(); i += 7) {
    ASSERT_TRUE(store_->Cancel(entries[i].job.id).ok());
    entries[i].queued = false;
  }
  check();
  EXPECT_EQ(store_->QueuePosition("job_000000000000000000000000").status().code(),
            StatusCode::kNotFound);
}

TEST_P(StoreContractTest, SnapshotCountsPerClassAndState) {
  auto insert = [&](LengthClass c, TimeMs created_at, int64_t prompt_tokens, int32_t max_tokens) {
    Job job = MakeJob(created_at, created_at, prompt_tokens, max_tokens);
    job.length_class = c;
    EXPECT_TRUE(store_->Insert(job).ok());
    return job;
  };
  Job first_short = insert(LengthClass::kShort, 100, 10, 5);
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
  EXPECT_EQ(snapshot->classes.at(LengthClass::kMedium).queued, 0);
  EXPECT_EQ(snapshot->classes.at(LengthClass::kMedium).oldest_created_at, 0);
  EXPECT_EQ(snapshot->running, 1);
  EXPECT_EQ(snapshot->dead_letter, 0);
  EXPECT_EQ(snapshot->totals.at(JobState::kQueued), 3);
  EXPECT_EQ(snapshot->totals.at(JobState::kRunning), 1);
  EXPECT_EQ(snapshot->totals.at(JobState::kCancelled), 1);
  EXPECT_EQ(snapshot->totals.at(JobState::kSucceeded), 0);
  EXPECT_EQ(snapshot->totals.size(), 6u);
  EXPECT_EQ(snapshot->classes.size(), 3u);
}

// The order key of the next job, and its size (what the scheduler backfills with).
TEST_P(StoreContractTest, HeadIsTheNextJobsKeyAndSize) {
  auto head = store_->Head();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_FALSE(head->has_value());  // empty queue
  Insert(5, 1000);
  Insert(3, 2000, 777);
  Insert(9, 500);
  auto order_key = [this]() -> std::optional<int64_t> {
    auto h = store_->Head();
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    if (!h.ok() || !h->has_value()) return std::nullopt;
    return (*h)->order_key;
  };
  EXPECT_EQ(order_key(), std::optional<int64_t>(3));
  const std::optional<JobStore::QueueHead> first = *store_->Head();
  ASSERT_TRUE(first.has_value());
  const Job claimed = MustClaim("w1");
  EXPECT_EQ(claimed.order_key, 3);
  EXPECT_EQ(first->prompt_tokens, 777);
  EXPECT_EQ(first->prompt_tokens, claimed.prompt_tokens);
  EXPECT_EQ(first->max_tokens, claimed.request.sampling.max_tokens);
  EXPECT_EQ(order_key(), std::optional<int64_t>(5));
  MustClaim("w1");
  MustClaim("w1");
  EXPECT_FALSE(store_->Head()->has_value());
}

TEST_P(StoreContractTest, UpdateProgressOnlyWhileRunning) {
  Job job = Insert(1, 1000, /*prompt_tokens=*/5000);
  EXPECT_EQ(store_->UpdateProgress(job.id, "w1", {.prompt_tokens_read = 1}).code(),
            StatusCode::kConflict);
  MustClaim("w1");
  ASSERT_TRUE(store_
                  ->UpdateProgress(
                      job.id, "w1",
                      {.prompt_tokens = 6000, .prompt_tokens_read = 4096, .completion_tokens = 12})
                  .ok());
  Job got = MustGet(job.id);
  EXPECT_EQ(got.prompt_tokens, 6000);
  EXPECT_EQ(got.progress.prompt_tokens_read, 4096);
  EXPECT_EQ(got.progress.completion_tokens, 12);
  EXPECT_EQ(store_->UpdateProgress("job_000000000000000000000000", "w1", {}).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(events_.For(job.id).size(), 2u);  // progress is not a state change
  EXPECT_TRUE(store_->CheckWritable().ok());
  // A worker that does not hold the job (it lost its lease) cannot touch its progress.
  EXPECT_EQ(store_->UpdateProgress(job.id, "w2", {.prompt_tokens_read = 1}).code(),
            StatusCode::kConflict);
  EXPECT_EQ(MustGet(job.id).progress.prompt_tokens_read, 4096);
}

// The answer so far is the job's output while it runs; a run that ends without an outcome
// (handed back, or its lease lost) takes its text with it, and the outcome replaces it.
TEST_P(StoreContractTest, TheAnswerSoFarLastsAsLongAsItsRun) {
  Job job = Insert(1, 1000);
  MustClaim("w1");
  ASSERT_TRUE(
      store_->UpdateProgress(job.id, "w1", {.completion_tokens = 3, .text = "Hello, wor"}).ok());
  EXPECT_EQ(MustGet(job.id).output, "Hello, wor");
  ASSERT_TRUE(store_->Release(job.id, "w1").ok());
  EXPECT_EQ(MustGet(job.id).output, "");

  MustClaim("w2", /*lease_ms=*/1000);
  ASSERT_TRUE(store_->UpdateProgress(job.id, "w2", {.completion_tokens = 2, .text = "Bonj"}).ok());
  EXPECT_EQ(MustGet(job.id).output, "Bonj");
  ASSERT_TRUE(store_->ReapExpiredLeases(NowMs() + 5000, /*max_deliveries=*/0).ok());
  Job reaped = MustGet(job.id);
  EXPECT_EQ(reaped.state, JobState::kQueued);
  EXPECT_EQ(reaped.output, "");

  MustClaim("w3");
  ASSERT_TRUE(store_->UpdateProgress(job.id, "w3", {.completion_tokens = 1, .text = "abc"}).ok());
  ASSERT_TRUE(store_->Complete(job.id, "w3", Done(JobState::kSucceeded, "abcdef")).ok());
  EXPECT_EQ(store_->UpdateProgress(job.id, "w3", {.text = "abcdefgh"}).code(),
            StatusCode::kConflict);
  EXPECT_EQ(MustGet(job.id).output, "abcdef");
}

// A large document is queued on an estimate of its length; the engine's exact count, in
// progress or in a successful result, replaces it even when the job started before the
// count after the 202 could land.
TEST_P(StoreContractTest, EngineCountReplacesAnEstimate) {
  Job first = Insert(1, 1000, /*prompt_tokens=*/5000);
  Job second = Insert(2, 1000, /*prompt_tokens=*/5000);
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

  Completion done = Done(JobState::kSucceeded, "x");
  done.finish_reason = "length";
  done.usage = {.prompt_tokens = 9000, .completion_tokens = 1};
  ASSERT_TRUE(store_->Complete(second.id, "w1", done).ok());
  EXPECT_EQ(MustGet(second.id).prompt_tokens, 9000);

  // A job cancelled halfway through its prompt keeps the full count, not the part read.
  Completion cancelled = Done(JobState::kCancelled, "");
  cancelled.finish_reason = "cancelled";
  cancelled.usage = {.prompt_tokens = 4096};
  ASSERT_TRUE(store_->Complete(first.id, "w1", cancelled).ok());
  EXPECT_EQ(MustGet(first.id).prompt_tokens, 10678);
}

// Another store on the same data sees every change (for Redis: another process's).

// A worker renews only what its engine runs: a job it holds in the store but no longer runs
// (its outcome was lost, its sequence gone) is reaped when its lease runs out, and a cancel
// of such a job ends it then, instead of leaving it running forever.
TEST_P(StoreContractTest, RenewLeasesExtendsOnlyTheListedJobs) {
  Job runs = Insert(1, 1000);
  Job orphan = Insert(2, 1000);
  Job elsewhere = Insert(3, 1000);
  ASSERT_EQ(MustClaim("w1", /*lease_ms=*/1000).id, runs.id);
  ASSERT_EQ(MustClaim("w1", 1000).id, orphan.id);
  ASSERT_EQ(MustClaim("w2", 1000).id, elsewhere.id);
  ASSERT_TRUE(store_->Cancel(orphan.id).ok());
  ASSERT_TRUE(store_->RenewLeases("w1", {runs.id, elsewhere.id}, 600000).ok());
  auto reaped = store_->ReapExpiredLeases(NowMs() + 5000, /*max_deliveries=*/3);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 2) << "the unlisted job and w2's job (w1 cannot renew it) are reaped";
  EXPECT_EQ(MustGet(runs.id).state, JobState::kRunning);
  EXPECT_EQ(MustGet(orphan.id).state, JobState::kCancelled);
  EXPECT_EQ(MustGet(elsewhere.id).state, JobState::kQueued);
  EXPECT_TRUE(store_->RenewLeases("w1", {}, 600000).ok());
}

TEST_P(StoreContractTest, ReleaseHandsAJobBackWithoutCountingADelivery) {
  Job job = Insert(5, 1000);
  Job later = Insert(9, 1000);
  ASSERT_EQ(MustClaim("w1").id, job.id);
  ASSERT_TRUE(store_->UpdateProgress(job.id, "w1", {.prompt_tokens_read = 10}).ok());
  EXPECT_EQ(store_->Release(job.id, "w2").code(), StatusCode::kConflict);
  ASSERT_TRUE(store_->Release(job.id, "w1").ok());
  Job back = MustGet(job.id);
  EXPECT_EQ(back.state, JobState::kQueued);
  EXPECT_EQ(back.attempts, 0);
  EXPECT_EQ(back.progress.prompt_tokens_read, 0);
  EXPECT_EQ(Position(job.id), 1);
  EXPECT_EQ(Position(later.id), 2);
  EXPECT_EQ(store_->Release(job.id, "w1").code(), StatusCode::kConflict);
  EXPECT_EQ(store_->Release("job_000000000000000000000000", "w1").code(), StatusCode::kNotFound);
  // The worker's late renewal and result no longer touch it.
  ASSERT_TRUE(store_->RenewLeases("w1", {job.id}, 60000).ok());
  EXPECT_EQ(store_->Complete(job.id, "w1", Done(JobState::kSucceeded, "x")).code(),
            StatusCode::kConflict);
  Job again = MustClaim("w2");
  EXPECT_EQ(again.id, job.id);
  EXPECT_EQ(again.attempts, 1);
  EXPECT_EQ(events_.For(job.id), (std::vector{JobState::kQueued, JobState::kRunning,
                                              JobState::kQueued, JobState::kRunning}));
  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->totals.at(JobState::kQueued), 1);
  EXPECT_EQ(snapshot->classes.at(LengthClass::kShort).queued, 1);
}

TEST_P(StoreContractTest, ConcurrentClaimsTakeEachJobExactlyOnce) {
  constexpr int kJobs = 500;
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kJobs; i += kThreads) {
        if (!store_->Insert(MakeJob(i % 17, 1000 + i, 10, 5)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  threads.clear();
  ASSERT_EQ(failures.load(), 0);

  std::mutex mu;
  std::vector<std::string> claimed;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string worker = "w" + std::to_string(t);
      while (true) {
        auto job = store_->ClaimNext(worker, 60000);
        if (!job.ok()) {
          ++failures;
          return;
        }
        if (!job->has_value()) return;
        std::lock_guard lock(mu);
        claimed.push_back((*job)->id);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(),
            static_cast<size_t>(kJobs));
  auto snapshot = store_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->totals.at(JobState::kRunning), kJobs);
  EXPECT_EQ(snapshot->totals.at(JobState::kQueued), 0);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest,
                         ::testing::Values(Backend::kSqlite, Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Redis";
                         });

}  // namespace
}  // namespace glmq::contract
