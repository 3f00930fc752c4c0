#include "core/periodic.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace glmq {
namespace {

using namespace std::chrono_literals;

TEST(PeriodicTest, TicksAtOnceThenEveryPeriod) {
  std::atomic<int> ticks{0};
  {
    Periodic periodic(20ms, [&] { ++ticks; });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (ticks.load() < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_GE(ticks.load(), 3);
  }
  const int at_end = ticks.load();
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(ticks.load(), at_end) << "a tick after the destructor returned";
}

TEST(PeriodicTest, StopsWithoutWaitingOutThePeriod) {
  std::atomic<int> ticks{0};
  const auto start = std::chrono::steady_clock::now();
  {
    Periodic periodic(std::chrono::hours(1), [&] { ++ticks; });
    const auto deadline = start + 5s;
    while (ticks.load() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
  }
  EXPECT_EQ(ticks.load(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

}  // namespace
}  // namespace glmq
