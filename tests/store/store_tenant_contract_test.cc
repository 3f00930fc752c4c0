// The JobStore contract (store_contract.h), its per-tenant part: fair share (claims go to
// the backlogged tenant with the least service counted: VTC, store/service_counters.h),
// the same in both stores and, on Redis, across the processes sharing it; and a tenant's
// own retention.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "store/store_contract.h"

namespace glmq::contract {
namespace {

class FairShareContract : public StoreContractTest {
 protected:
  // A job of `tenant` that sorts by `order_key`; each costs 100 prompt + 2 x 10 output = 120
  // weighted tokens at its claim.
  Job Queue(const std::string& tenant, int64_t order_key, int64_t prompt_tokens = 100) {
    Job job = MakeJob(order_key, /*created_at=*/1000 + order_key, prompt_tokens,
                      /*max_tokens=*/10);
    job.tenant = tenant;
    EXPECT_TRUE(store_->Insert(job).ok());
    return job;
  }

  // Claims until the queue is empty; each claim must be what Head said would run next.
  std::vector<std::string> ClaimAll(JobStore& store, const std::string& worker) {
    std::vector<std::string> tenants;
    while (true) {
      auto head = store.Head();
      EXPECT_TRUE(head.ok()) << head.status().ToString();
      auto claimed = store.ClaimNext(worker, 30000);
      EXPECT_TRUE(claimed.ok()) << claimed.status().ToString();
      if (!claimed.ok() || !head.ok() || !claimed->has_value()) {
        EXPECT_TRUE(head.ok() && !head->has_value()) << "Head saw a job the claim did not";
        return tenants;
      }
      EXPECT_TRUE(head->has_value());
      if (head->has_value()) EXPECT_EQ((*head)->order_key, (*claimed)->order_key);
      tenants.push_back((*claimed)->tenant);
    }
  }

  std::vector<std::string> ClaimAll() { return ClaimAll(*store_, "w1"); }
};

TEST_P(FairShareContract, BackloggedTenantsTakeTurnsWhateverTheirOrderKeys) {
  // finance's six jobs all sort before legal's two in the global order.
  for (int i = 0; i < 6; ++i) Queue("finance", i);
  Queue("legal", 100);
  Queue("legal", 101);
  // Equal counters and equal jobs go to the lesser name; then each tenant's claim puts it
  // behind.
  EXPECT_EQ(ClaimAll(), (std::vector<std::string>{"finance", "legal", "finance", "legal", "finance",
                                                  "finance", "finance", "finance"}));
}

TEST_P(FairShareContract, ALoneTenantGetsEveryClaimAndAReturningOneNoCreditForIdling) {
  for (int i = 0; i < 3; ++i) Queue("finance", i);
  EXPECT_EQ(ClaimAll(), (std::vector<std::string>(3, "finance")));
  // legal has never been served, but it starts where finance is (360), not at 0: with
  // both backlogged they alternate from the first claim.
  for (int i = 10; i < 13; ++i) Queue("finance", i);
  for (int i = 20; i < 23; ++i) Queue("legal", i);
  EXPECT_EQ(ClaimAll(),
            (std::vector<std::string>{"finance", "legal", "finance", "legal", "finance", "legal"}));
}

TEST_P(FairShareContract, ATenantThatTurnsBackloggedWinsATieWithASmallerJob) {
  for (int i = 0; i < 3; ++i) Queue("finance", i);
  EXPECT_EQ(MustClaim("w1").tenant, "finance");  // 120
  // legal joins at finance's 120: a tie, which legal's smaller job wins (a tie between
  // equal jobs would go to finance, the lesser name).
  Queue("legal", 50, /*prompt_tokens=*/20);
  EXPECT_EQ(ClaimAll(), (std::vector<std::string>{"legal", "finance", "finance"}));
}

TEST_P(FairShareContract, TheTokensAJobDidNotGenerateAreRefundedAtItsEnd) {
  Queue("finance", 0);
  Queue("legal", 1);
  Queue("finance", 2);
  Queue("legal", 3);
  // Both charged 120.
  const Job f = MustClaim("w1");
  const Job l = MustClaim("w1");
  ASSERT_EQ(f.tenant, "finance");
  ASSERT_EQ(l.tenant, "legal");
  // legal's job generated 4 of its 10: 2 x 6 = 12 back, so legal is next although a tie
  // would go to finance.
  Completion done = Done(JobState::kSucceeded, "ok");
  done.usage.completion_tokens = 4;
  ASSERT_TRUE(store_->Complete(l.id, "w1", done).ok());
  done.usage.completion_tokens = 10;
  ASSERT_TRUE(store_->Complete(f.id, "w1", done).ok());
  EXPECT_EQ(ClaimAll(), (std::vector<std::string>{"legal", "finance"}));
}

TEST_P(FairShareContract, AWeightGivesATenantItsMultipleOfTheClaims) {
  ASSERT_TRUE(store_->SetTenantSettings({.weights = {{"legal", 3}}, .retention_ms = {}}).ok());
  for (int i = 0; i < 8; ++i) Queue("finance", i);
  for (int i = 0; i < 8; ++i) Queue("legal", 100 + i);
  const std::vector<std::string> order = ClaimAll();
  ASSERT_EQ(order.size(), 16u);
  // While both are backlogged legal gets three claims for each of finance's.
  const std::vector<std::string> first(order.begin(), order.begin() + 8);
  EXPECT_EQ(std::count(first.begin(), first.end(), "legal"), 6) << ::testing::PrintToString(order);
  // Replaced, not merged: without weights they alternate again.
  ASSERT_TRUE(store_->SetTenantSettings({}).ok());
  for (int i = 0; i < 2; ++i) Queue("finance", 200 + i);
  for (int i = 0; i < 2; ++i) Queue("legal", 300 + i);
  const std::vector<std::string> again = ClaimAll();
  EXPECT_EQ(std::count(again.begin(), again.begin() + 2, "legal"), 1)
      << ::testing::PrintToString(again);
}

TEST_P(FairShareContract, WithFairShareOffClaimsFollowTheGlobalOrder) {
  store_->SetFairShare(false);
  for (int i = 0; i < 3; ++i) Queue("finance", i);
  Queue("legal", 100);
  EXPECT_EQ(ClaimAll(), (std::vector<std::string>{"finance", "finance", "finance", "legal"}));
}

TEST_P(FairShareContract, AJobWhoseSizeIsSettledKeepsItsTenantsTurn) {
  Queue("finance", 0);
  Queue("finance", 1);
  const Job l = Queue("legal", 2);
  MustClaim("w1");  // finance: 120
  // legal's only job is re-priced (its tenant's queue empties and fills again at once): it
  // must not count as legal turning backlogged anew, which would lift it to finance's 120
  // and give finance the next claim (a tie goes to the lesser name).
  ASSERT_TRUE(store_->SetQueuedCost(l.id, 100, LengthClass::kShort, 2).ok());
  Queue("legal", 3);
  EXPECT_EQ(ClaimAll(), (std::vector<std::string>{"legal", "finance", "legal"}));
}

TEST_P(FairShareContract, AClaimForShortJobsTakesTheLeastServedTenantWhoseNextJobIsShort) {
  const JobStore::ClaimLimit short_only{.prompt_tokens_below = 1000};
  Queue("finance", 0, /*prompt_tokens=*/5000);
  Queue("finance", 1, /*prompt_tokens=*/5000);
  auto none = store_->ClaimNext("w1", 30000, short_only);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value()) << "only long jobs are queued";
  EXPECT_FALSE(store_->Head(short_only)->has_value());
  // legal's short job: a tie at 0 that the smaller job wins.
  Queue("legal", 10, /*prompt_tokens=*/50);
  EXPECT_EQ(MustClaim("w1").tenant, "legal");  // legal 70, finance 0
  const Job second = Queue("legal", 11, /*prompt_tokens=*/50);
  // finance is least served, but its next job is long: the short claim passes it.
  auto head = store_->Head(short_only);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->order_key, 11);
  auto claimed = store_->ClaimNext("w1", 30000, short_only);
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status().ToString();
  EXPECT_EQ((*claimed)->id, second.id);
  // Unlimited, finance's turn.
  EXPECT_EQ(MustClaim("w1").tenant, "finance");
  // Without fair share the queue's first decides: a long job, so no short claim.
  store_->SetFairShare(false);
  Queue("legal", 12, /*prompt_tokens=*/50);
  none = store_->ClaimNext("w1", 30000, short_only);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(MustClaim("w1").tenant, "finance");
  claimed = store_->ClaimNext("w1", 30000, short_only);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  EXPECT_EQ((*claimed)->order_key, 12);
}

TEST_P(FairShareContract, AClaimPassesOverPromptsTooLongForItAndTakesTheNextShorterOne) {
  const JobStore::ClaimLimit up_to_4k{.pass_over_from = 4096};
  Queue("finance", 0, /*prompt_tokens=*/50'000);
  const Job f1 = Queue("finance", 1, /*prompt_tokens=*/100);
  Queue("legal", 2, /*prompt_tokens=*/9'000);
  const Job l1 = Queue("legal", 3, /*prompt_tokens=*/200);
  // Fair share: each tenant's next job past the long ones; finance's is the smaller.
  auto head = store_->Head(up_to_4k);
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->order_key, 1);
  auto claimed = store_->ClaimNext("w1", 30000, up_to_4k);
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status().ToString();
  EXPECT_EQ((*claimed)->id, f1.id);
  // Global order: the first job shorter than the limit.
  store_->SetFairShare(false);
  claimed = store_->ClaimNext("w1", 30000, up_to_4k);
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status().ToString();
  EXPECT_EQ((*claimed)->id, l1.id);
  // Only long jobs left: nothing for this claim, both for an unlimited one.
  auto none = store_->ClaimNext("w1", 30000, up_to_4k);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_FALSE(store_->Head(up_to_4k)->has_value());
  EXPECT_EQ(MustClaim("w1").order_key, 0);
  EXPECT_EQ(MustClaim("w1").order_key, 2);
}

TEST_P(FairShareContract, ATenantsOwnRetentionDecidesWhenItsEndedJobsGo) {
  ASSERT_TRUE(
      store_->SetTenantSettings({.weights = {}, .retention_ms = {{"legal", 1}, {"archive", 0}}})
          .ok());
  std::vector<Job> jobs{Queue("finance", 0), Queue("legal", 1), Queue("archive", 2)};
  for (int i = 0; i < 3; ++i) {
    const Job claimed = MustClaim("w1");
    ASSERT_TRUE(store_->Complete(claimed.id, "w1", Done(JobState::kSucceeded, "ok")).ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const TimeMs day = 24 * 3600 * 1000;
  // The default retention (a day) keeps finance's job; legal's 1 ms has passed.
  ASSERT_TRUE(store_->DeleteEnded(NowMs() - day, 100).ok());
  EXPECT_TRUE(store_->Get(jobs[0].id).ok());
  EXPECT_EQ(store_->Get(jobs[1].id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Get(jobs[2].id).ok());
  if (redis()) return;  // Redis expires jobs by itself, after RedisStoreOptions::retention_ms
  // Past the default retention: finance's goes, archive's (0: kept) stays.
  ASSERT_TRUE(store_->DeleteEnded(NowMs() + 1, 100).ok());
  EXPECT_EQ(store_->Get(jobs[0].id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Get(jobs[2].id).ok());
}

TEST_P(FairShareContract, ProcessesSharingRedisShareTheCounters) {
  if (!redis()) GTEST_SKIP() << "one process owns a SQLite store";
  auto other = Open(nullptr);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  for (int i = 0; i < 4; ++i) Queue("finance", i);
  for (int i = 0; i < 4; ++i) Queue("legal", 100 + i);
  std::vector<std::string> order;
  for (int i = 0; i < 8; ++i) {
    JobStore& claimer = i % 2 == 0 ? *store_ : **other;
    auto claimed = claimer.ClaimNext("w" + std::to_string(i % 2), 30000);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    order.push_back((*claimed)->tenant);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"finance", "legal", "finance", "legal", "finance",
                                             "legal", "finance", "legal"}));
}

INSTANTIATE_TEST_SUITE_P(Stores, FairShareContract,
                         ::testing::Values(Backend::kSqlite, Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Redis";
                         });

}  // namespace
}  // namespace glmq::contract
