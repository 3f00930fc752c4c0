#include "api/rate_limit.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

using std::chrono::milliseconds;

TEST(RateLimiterTest, AllowsTheBurstThenTheRate) {
  RateLimiter limiter(/*rate=*/2, /*burst=*/3);
  const auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Acquire("a", t0), 0) << i;
  EXPECT_NEAR(limiter.Acquire("a", t0), 0.5, 1e-9);  // one token comes back every 0.5 s
  EXPECT_NEAR(limiter.Acquire("a", t0 + milliseconds(250)), 0.25, 1e-9);
  EXPECT_EQ(limiter.Acquire("a", t0 + milliseconds(500)), 0);
  EXPECT_GT(limiter.Acquire("a", t0 + milliseconds(500)), 0);
  // Idle long enough, a full burst again, and no more than that.
  const auto later = t0 + std::chrono::seconds(60);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Acquire("a", later), 0) << i;
  EXPECT_GT(limiter.Acquire("a", later), 0);
}

TEST(RateLimiterTest, ClientsHaveBucketsOfTheirOwn) {
  RateLimiter limiter(1, 1);
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_EQ(limiter.Acquire("a", t0), 0);
  EXPECT_GT(limiter.Acquire("a", t0), 0);
  EXPECT_EQ(limiter.Acquire("b", t0), 0);
  EXPECT_EQ(limiter.clients(), 2u);
}

TEST(RateLimiterTest, ForgetsClientsWhoseBucketsRefilled) {
  RateLimiter limiter(1000, 1);
  const auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 5000; ++i) limiter.Acquire("client " + std::to_string(i), t0);
  // Later, the full buckets of clients long gone are dropped.
  for (int i = 0; i < 5000; ++i) limiter.Acquire("x", t0 + std::chrono::seconds(10));
  EXPECT_LT(limiter.clients(), 100u);
}

}  // namespace
}  // namespace glmq
