#include "api/submit_guard.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

using namespace std::chrono_literals;

TEST(SubmitGuardTest, TokensPerMinuteRefillAndAcceptedJobsSpendThem) {
  SubmitGuard guard(
      {.defaults = {.max_queued_jobs = 0, .max_queued_tokens = 0, .tokens_per_minute = 600},
       .max_drain_seconds = 0},
      nullptr);
  const auto t0 = SubmitGuard::Clock::now();
  EXPECT_FALSE(guard.CheckNow("a", t0).has_value());
  guard.Accepted("a", 900, t0);  // a job larger than the budget is accepted whole
  auto refused = guard.CheckNow("a", t0);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->result(), http::status::too_many_requests);
  // 300 tokens short: 10 tokens a second, so the budget is positive again after ~30 s.
  EXPECT_EQ((*refused)[http::field::retry_after], "31");
  EXPECT_TRUE(guard.CheckNow("a", t0 + 29s).has_value());
  EXPECT_FALSE(guard.CheckNow("a", t0 + 31s).has_value());
  EXPECT_FALSE(guard.CheckNow("b", t0).has_value());  // another tenant's budget
}

TEST(SubmitGuardTest, TheKeysFileSetsOneTenantsLimits) {
  TenantLimitOverrides overrides;
  auto parsed = ApiKeys::Parse(
      "tenant big max_queued=1000 tokens_per_minute=0\ntenant default max_queued=5\n", "keys",
      &overrides);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->empty());
  SubmitGuard guard(
      {.defaults = {.max_queued_jobs = 10, .max_queued_tokens = 0, .tokens_per_minute = 60},
       .max_drain_seconds = 0},
      [&] { return std::make_shared<const TenantLimitOverrides>(overrides); });
  EXPECT_EQ(guard.LimitsFor("big").max_queued_jobs, 1000);
  EXPECT_EQ(guard.LimitsFor("big").tokens_per_minute, 0);  // no limit for it
  EXPECT_EQ(guard.LimitsFor("").max_queued_jobs, 5);
  EXPECT_EQ(guard.LimitsFor("other").max_queued_jobs, 10);
  EXPECT_EQ(guard.LimitsFor("other").tokens_per_minute, 60);
  // A batch's limit is read with the others and kept apart from them.
  TenantLimitOverrides batch_overrides;
  ASSERT_TRUE(
      ApiKeys::Parse("tenant big batch_max_queued_tokens=5000\n", "keys", &batch_overrides).ok());
  EXPECT_EQ(
      LimitsOf(batch_overrides, "big", {.batch_max_queued_tokens = 7}).batch_max_queued_tokens,
      5000);
  EXPECT_EQ(LimitsOf(batch_overrides, "big", {.max_queued_tokens = 9}).max_queued_tokens, 9);
  EXPECT_EQ(
      LimitsOf(batch_overrides, "other", {.batch_max_queued_tokens = 7}).batch_max_queued_tokens,
      7);
  EXPECT_FALSE(ApiKeys::Parse("tenant big colour=3\n", "keys", &overrides).ok());
  EXPECT_FALSE(ApiKeys::Parse("tenant big max_queued=-1\n", "keys", &overrides).ok());
}

TEST(SubmitGuardTest, AQueueOverTheDrainLimitIs503UntilItDrains) {
  SubmitGuard guard({.defaults = {}, .max_drain_seconds = 60}, nullptr);
  EXPECT_FALSE(guard.CheckNow("a").has_value());
  guard.SetDrainSeconds(100);
  auto refused = guard.CheckNow("a");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->result(), http::status::service_unavailable);
  EXPECT_EQ((*refused)[http::field::retry_after], "40");
  guard.SetDrainSeconds(59);
  EXPECT_FALSE(guard.CheckNow("a").has_value());
}

}  // namespace
}  // namespace glmq
