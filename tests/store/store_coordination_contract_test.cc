// The JobStore contract (store_contract.h), its part that coordinates processes: events
// that reach every listener, Idempotency-Key records, named leases and the worker registry.
#include <map>

#include "store/store_contract.h"

namespace glmq::contract {
namespace {

TEST_P(StoreContractTest, EventsReachEveryListener) {
  EventLog other_events;
  auto other = Open(other_events.Listener());
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  Job job = Insert(1, 1000);
  MustClaim("w1");
  ASSERT_TRUE(store_->Complete(job.id, "w1", Done(JobState::kSucceeded, "ok")).ok());
  const std::vector<JobState> lifecycle = {JobState::kQueued, JobState::kRunning,
                                           JobState::kSucceeded};
  // This store's own listener heard each change before the call returned, once, as its own.
  const std::vector<ChangeOrigin> here(3, ChangeOrigin::kHere);
  EXPECT_EQ(events_.For(job.id), lifecycle);
  EXPECT_EQ(events_.OriginsOf(job.id), here);
  if (redis()) {
    EXPECT_EQ(other_events.WaitFor(job.id, 3), lifecycle);
    EXPECT_EQ(other_events.OriginsOf(job.id), std::vector(3, ChangeOrigin::kElsewhere));
    // A change made through the other store reaches this one's listener.
    Job from_other = MakeJob(2, 1000);
    ASSERT_TRUE((*other)->Insert(from_other).ok());
    EXPECT_EQ(events_.WaitFor(from_other.id, 1), std::vector{JobState::kQueued});
    EXPECT_EQ(events_.OriginsOf(from_other.id), std::vector{ChangeOrigin::kElsewhere});
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_EQ(events_.For(job.id), lifecycle) << "no echo of its own events";
  }
}

TEST_P(StoreContractTest, AnEndedJobWithAWebhookIsDueOnceAndLeasedWhenClaimed) {
  auto insert_hooked = [&](int64_t order_key) {
    Job job = MakeJob(order_key, 1000);
    job.request.webhook_url = "http://127.0.0.1:9/hook?job=1";
    EXPECT_TRUE(store_->Insert(job).ok());
    return job;
  };
  auto claim = [&](TimeMs now, int64_t lease_ms) {
    auto due = store_->ClaimWebhooks(now, lease_ms, 10);
    EXPECT_TRUE(due.ok()) << due.status().ToString();
    std::map<std::string, int32_t> out;  // job id -> attempts
    if (due.ok()) {
      for (const auto& d : *due) out[d.job_id] = d.attempts;
    }
    return out;
  };
  const TimeMs now = NowMs();
  const Job succeeded = insert_hooked(1);
  const Job plain = Insert(2, 1000);
  const Job cancelled = insert_hooked(3);
  const Job still_queued = insert_hooked(4);
  EXPECT_EQ(MustGet(succeeded.id).request.webhook_url, succeeded.request.webhook_url);
  EXPECT_TRUE(claim(now, 60000).empty()) << "due before the job ended";

  EXPECT_EQ(MustClaim("w1").id, succeeded.id);
  ASSERT_TRUE(store_->Complete(succeeded.id, "w1", Done(JobState::kSucceeded, "ok")).ok());
  EXPECT_EQ(MustClaim("w1").id, plain.id);
  ASSERT_TRUE(store_->Complete(plain.id, "w1", Done(JobState::kSucceeded, "ok")).ok());
  ASSERT_TRUE(store_->Cancel(cancelled.id).ok());  // ended while queued

  const std::map<std::string, int32_t> first = {{succeeded.id, 1}, {cancelled.id, 1}};
  EXPECT_EQ(claim(now, 60000), first);
  EXPECT_TRUE(claim(now + 1000, 60000).empty()) << "claimed again inside its lease";
  const std::map<std::string, int32_t> second = {{succeeded.id, 2}, {cancelled.id, 2}};
  EXPECT_EQ(claim(now + 60000, 1000), second) << "not due again once its lease ran out";

  ASSERT_TRUE(store_->RetryWebhook(succeeded.id, now + 500000).ok());
  ASSERT_TRUE(store_->EndWebhook(cancelled.id).ok());
  EXPECT_TRUE(claim(now + 400000, 1000).empty());
  const std::map<std::string, int32_t> third = {{succeeded.id, 3}};
  EXPECT_EQ(claim(now + 500000, 1000), third);
  // A claim deferred (what it announces has not happened yet) is no try.
  ASSERT_TRUE(store_->DeferWebhook(succeeded.id, now + 600000).ok());
  EXPECT_TRUE(claim(now + 599000, 1000).empty());
  EXPECT_EQ(claim(now + 600000, 1000), third);
  ASSERT_TRUE(store_->EndWebhook(succeeded.id).ok());
  ASSERT_TRUE(store_->RetryWebhook(succeeded.id, now).ok());  // an ended one stays ended
  ASSERT_TRUE(store_->DeferWebhook(succeeded.id, now).ok());
  EXPECT_TRUE(claim(now + 1000000000, 1000).empty());
  EXPECT_EQ(MustGet(still_queued.id).state, JobState::kQueued);
}

TEST_P(StoreContractTest, IdempotencyKeys) {
  using Kind = JobStore::IdempotencyState::Kind;
  const TimeMs now = NowMs();
  const JobStore::IdempotencyClaim claim{.key = "tenant-a\nkey-1", .body_sha256 = "aaaa"};
  const JobStore::IdempotencyClaim other_body{.key = claim.key, .body_sha256 = "bbbb"};
  auto begin = [&](const JobStore::IdempotencyClaim& c, TimeMs at, int64_t in_flight_ms = 30000) {
    auto state = store_->BeginIdempotent(c, at, in_flight_ms);
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    return state.ok() ? *state : JobStore::IdempotencyState{};
  };
  EXPECT_EQ(begin(claim, now).kind, Kind::kReserved);
  EXPECT_EQ(begin(claim, now).kind, Kind::kInFlight);
  EXPECT_EQ(begin(other_body, now).kind, Kind::kMismatch);

  // The job and its answer land together; a duplicate id writes neither.
  Job job = MakeJob(1, 1000);
  ASSERT_TRUE(store_->InsertIdempotent(job, claim, 202, R"({"id":"x"})", 86'400'000).ok());
  EXPECT_EQ(MustGet(job.id).state, JobState::kQueued);
  JobStore::IdempotencyState done = begin(claim, NowMs());
  EXPECT_EQ(done.kind, Kind::kDone);
  EXPECT_EQ(done.status, 202);
  EXPECT_EQ(done.response, R"({"id":"x"})");
  EXPECT_EQ(done.job_id, job.id);
  EXPECT_EQ(begin(other_body, NowMs()).kind, Kind::kMismatch);
  const JobStore::IdempotencyClaim dup{.key = "tenant-a\nkey-dup", .body_sha256 = "cc"};
  EXPECT_EQ(begin(dup, now).kind, Kind::kReserved);
  EXPECT_EQ(store_->InsertIdempotent(job, dup, 202, "{}", 86'400'000).code(),
            StatusCode::kConflict);
  EXPECT_EQ(begin(dup, now).kind, Kind::kInFlight) << "the failed insert recorded no answer";

  // Another tenant's same key is another key.
  EXPECT_EQ(begin({.key = "tenant-b\nkey-1", .body_sha256 = "aaaa"}, now).kind, Kind::kReserved);

  // A reservation whose request never finished lapses.
  const JobStore::IdempotencyClaim lapsing{.key = "tenant-a\nkey-2", .body_sha256 = "dd"};
  EXPECT_EQ(begin(lapsing, now, 1000).kind, Kind::kReserved);
  EXPECT_EQ(begin(lapsing, now + 500, 1000).kind, Kind::kInFlight);
  EXPECT_EQ(begin(lapsing, now + 1001, 1000).kind, Kind::kReserved);

  // A 4xx answer is replayed; an abandoned reservation frees the key.
  const JobStore::IdempotencyClaim refused{.key = "tenant-a\nkey-3", .body_sha256 = "ee"};
  EXPECT_EQ(begin(refused, now).kind, Kind::kReserved);
  ASSERT_TRUE(store_->FinishIdempotent(refused, 422, R"({"error":{}})", 1000).ok());
  JobStore::IdempotencyState replay = begin(refused, NowMs());
  EXPECT_EQ(replay.kind, Kind::kDone);
  EXPECT_EQ(replay.status, 422);
  EXPECT_EQ(replay.job_id, "");
  // Done records live ttl_ms.
  EXPECT_EQ(begin(refused, NowMs() + 60'000).kind, Kind::kReserved);

  const JobStore::IdempotencyClaim abandoned{.key = "tenant-a\nkey-4", .body_sha256 = "ff"};
  EXPECT_EQ(begin(abandoned, now).kind, Kind::kReserved);
  ASSERT_TRUE(store_->AbandonIdempotent(abandoned).ok());
  EXPECT_EQ(begin(abandoned, now).kind, Kind::kReserved);
  // Abandoning never drops an answer.
  ASSERT_TRUE(store_->AbandonIdempotent(claim).ok());
  EXPECT_EQ(begin(claim, NowMs()).kind, Kind::kDone);
}

TEST_P(StoreContractTest, NamedLeasesHaveOneHolder) {
  const TimeMs now = NowMs();
  auto acquire = [&](const std::string& name, const std::string& holder, TimeMs at) {
    auto held = store_->AcquireLease(name, holder, at, 1000);
    EXPECT_TRUE(held.ok()) << held.status().ToString();
    return held.ok() && *held;
  };
  EXPECT_TRUE(acquire("alerts", "a", now));
  EXPECT_FALSE(acquire("alerts", "b", now + 10));
  EXPECT_TRUE(acquire("alerts", "a", now + 500));  // renewed until now + 1500
  EXPECT_FALSE(acquire("alerts", "b", now + 1200));
  EXPECT_TRUE(acquire("alerts", "b", now + 1501));  // a stopped renewing: takeover
  EXPECT_FALSE(acquire("alerts", "a", now + 1600));
  EXPECT_TRUE(acquire("other", "a", now + 1600));
}

TEST_P(StoreContractTest, LiveWorkersCountsRecentHeartbeats) {
  const TimeMs now = NowMs();
  auto live = [&](TimeMs at) {
    auto n = store_->LiveWorkers(at);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(live(now), 0);
  ASSERT_TRUE(store_->WorkerHeartbeat("w1", now, 1000, {}).ok());
  ASSERT_TRUE(store_->WorkerHeartbeat("w2", now, 5000, {}).ok());
  ASSERT_TRUE(store_->WorkerHeartbeat("w2", now, 5000, {}).ok());  // same worker twice
  EXPECT_EQ(live(now), 2);
  EXPECT_EQ(live(now + 999), 2);
  EXPECT_EQ(live(now + 1000), 1);
  EXPECT_EQ(live(now + 5000), 0);
  ASSERT_TRUE(store_->WorkerHeartbeat("w1", now + 6000, 1000, {}).ok());
  EXPECT_EQ(live(now + 6000), 1);
}

TEST_P(StoreContractTest, LiveWorkersReportHowTheyWork) {
  const TimeMs now = NowMs();
  auto reports = [&](TimeMs at) {
    auto r = store_->LiveWorkerReports(at);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::map<std::string, WorkerReport> by_worker;
    if (r.ok()) {
      for (const WorkerReport& w : *r) by_worker[w.worker] = w;
    }
    return by_worker;
  };
  EXPECT_TRUE(reports(now).empty());
  const WorkerReport fast{.worker = "",
                          .prefill_tokens_per_second = 1234.5,
                          .decode_tokens_per_second = 88.25,
                          .single_decode_tokens_per_second = 30,
                          .completion_ratio = 0.375,
                          .running_prompt_tokens_left = 500'000,
                          .running_max_tokens_left = 2048,
                          .free_sequences = 3,
                          .sequence_tokens = 1'048'576};
  WorkerReport slow = fast;
  slow.prefill_tokens_per_second = 10;
  ASSERT_TRUE(store_->WorkerHeartbeat("w1", now, 1000, slow).ok());
  ASSERT_TRUE(store_->WorkerHeartbeat("w2", now, 5000, slow).ok());
  ASSERT_TRUE(store_->WorkerHeartbeat("w1", now, 1000, fast).ok());  // the latest counts
  auto live = reports(now);
  ASSERT_EQ(live.size(), 2u);
  WorkerReport want = fast;
  want.worker = "w1";  // the name comes from the heartbeat
  EXPECT_EQ(live["w1"], want);
  EXPECT_EQ(live["w2"].prefill_tokens_per_second, 10);
  // A worker past its ttl reports nothing, though it may come back.
  live = reports(now + 1000);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live.count("w2"), 1u);
  EXPECT_TRUE(reports(now + 5000).empty());
  ASSERT_TRUE(store_->WorkerHeartbeat("w1", now + 6000, 1000, fast).ok());
  EXPECT_EQ(reports(now + 6000).size(), 1u);
}

}  // namespace
}  // namespace glmq::contract
