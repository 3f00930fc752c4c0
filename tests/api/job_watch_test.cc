#include "api/job_watch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

namespace glmq {
namespace {

using std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(10);

// Runs one JobWait on a one-thread io_context the way a connection does: the wait is made,
// `between` runs (where the handler reads the job), then Wait(). Returns Wait()'s answer
// and how long the whole took.
struct Outcome {
  bool woken = false;
  double seconds = 0;
};

template <typename Between>
Outcome RunWait(JobWatchHub& hub, std::chrono::steady_clock::duration deadline, Between between) {
  asio::io_context io(1);
  Outcome outcome;
  const auto start = steady_clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        JobWait wait(hub, "job_1", co_await asio::this_coro::executor, start + deadline);
        co_await between();
        outcome.woken = co_await wait.Wait();
      },
      asio::detached);
  io.run();
  outcome.seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
  return outcome;
}

TEST(JobWatchTest, AChangeWhileTheJobIsReadIsNotLost) {
  // The change lands, and its wake-up runs on the connection's thread, after the wait was
  // registered but before Wait() starts the timer: Wait() must return at once.
  JobWatchHub hub;
  const Outcome outcome = RunWait(hub, kDeadline, [&hub]() -> asio::awaitable<void> {
    hub.Notify("job_1", JobState::kCancelled);
    // Let the posted wake-up run first, as it does when the read comes back after it.
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  });
  EXPECT_TRUE(outcome.woken);
  EXPECT_LT(outcome.seconds, 1.0);
  EXPECT_EQ(hub.size(), 0u);
}

TEST(JobWatchTest, AChangeDuringTheWaitWakesIt) {
  JobWatchHub hub;
  std::optional<std::thread> notifier;
  const Outcome outcome = RunWait(hub, kDeadline, [&]() -> asio::awaitable<void> {
    notifier.emplace([&hub] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      hub.Notify("job_1", JobState::kSucceeded);
    });
    co_return;
  });
  notifier->join();
  EXPECT_TRUE(outcome.woken);
  EXPECT_LT(outcome.seconds, 5.0);
}

TEST(JobWatchTest, OtherJobsDoNotWakeItAndTheTimeRunsOut) {
  JobWatchHub hub;
  const Outcome outcome =
      RunWait(hub, std::chrono::milliseconds(200), [&hub]() -> asio::awaitable<void> {
        hub.Notify("job_2", JobState::kRunning);
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      });
  EXPECT_FALSE(outcome.woken);
  EXPECT_GE(outcome.seconds, 0.2);
}

TEST(JobWatchTest, CloseWakesEveryWaiter) {
  JobWatchHub hub;
  const Outcome outcome = RunWait(hub, kDeadline, [&hub]() -> asio::awaitable<void> {
    hub.Close();
    co_return;
  });
  EXPECT_TRUE(outcome.woken);
  EXPECT_TRUE(hub.closed());
  EXPECT_LT(outcome.seconds, 1.0);
}

}  // namespace
}  // namespace glmq
