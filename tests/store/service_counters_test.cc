#include "store/service_counters.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

using Tenants = std::vector<std::string>;

// The backlogged tenants, least served first.
Tenants Order(const ServiceCounters& counters) {
  Tenants order;
  for (const auto& [counter, tenant] : counters.Ranked()) order.push_back(tenant);
  return order;
}

TEST(ServiceCountersTest, TheLeastServedBackloggedTenantsAreNext) {
  ServiceCounters counters;
  EXPECT_TRUE(Order(counters).empty());
  counters.JoinBacklog("legal");
  counters.JoinBacklog("finance");
  EXPECT_EQ(Order(counters), (Tenants{"finance", "legal"})) << "a tie, in name order";
  counters.Serve("finance", 1000, 100);  // 1000 x 1 + 100 x 2
  EXPECT_EQ(counters.Counter("finance"), 1200);
  EXPECT_EQ(Order(counters), (Tenants{"legal", "finance"}));
  counters.Serve("legal", 0, 550);  // 1100
  EXPECT_EQ(Order(counters), (Tenants{"legal", "finance"}));
  counters.Serve("legal", 0, 100);  // 1300
  EXPECT_EQ(Order(counters), (Tenants{"finance", "legal"}));
  counters.LeaveBacklog("finance");
  EXPECT_EQ(Order(counters), Tenants{"legal"}) << "a lone backlogged tenant gets every claim";
}

TEST(ServiceCountersTest, ATenantThatTurnsBackloggedStartsAtTheLeastBackloggedCounter) {
  ServiceCounters counters;
  counters.JoinBacklog("a");
  counters.JoinBacklog("b");
  counters.Serve("a", 500, 0);
  counters.Serve("b", 800, 0);
  counters.JoinBacklog("c");  // never served: lifted to 500, not left at 0
  EXPECT_EQ(counters.Counter("c"), 500);
  // Joining again changes nothing.
  counters.Serve("c", 10, 0);
  counters.JoinBacklog("c");
  EXPECT_EQ(counters.Counter("c"), 510);
  // A tenant ahead of the backlogged ones keeps its counter.
  counters.LeaveBacklog("b");
  counters.JoinBacklog("b");
  EXPECT_EQ(counters.Counter("b"), 800);
}

TEST(ServiceCountersTest, WithNoneBackloggedANewcomerStartsAtTheGreatestCounter) {
  ServiceCounters counters;
  counters.JoinBacklog("heavy");
  counters.Serve("heavy", 10'000, 0);
  counters.LeaveBacklog("heavy");
  counters.JoinBacklog("light");
  EXPECT_EQ(counters.Counter("light"), 10'000) << "idle history earns no credit";
  counters.JoinBacklog("heavy");
  EXPECT_EQ(Order(counters), (Tenants{"heavy", "light"}));
}

TEST(ServiceCountersTest, AWeightDividesTheChargeAndBadWeightsCountAsOne) {
  ServiceCounters counters;
  counters.SetWeights({{"gold", 4}, {"zero", 0}, {"negative", -2}});
  EXPECT_EQ(counters.Cost("gold", 400, 200), 200);
  EXPECT_EQ(counters.Cost("zero", 400, 200), 800);
  EXPECT_EQ(counters.Cost("negative", 400, 200), 800);
  EXPECT_EQ(counters.Cost("unnamed", 400, -200), 0);
  counters.JoinBacklog("gold");
  counters.JoinBacklog("plain");
  // gold gets four times plain's tokens before its counter passes plain's.
  int gold_claims = 0;
  int plain_claims = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string next = Order(counters).front();
    counters.Serve(next, 100, 0);
    (next == "gold" ? gold_claims : plain_claims) += 1;
  }
  EXPECT_EQ(gold_claims, 40);
  EXPECT_EQ(plain_claims, 10);
}

}  // namespace
}  // namespace glmq
