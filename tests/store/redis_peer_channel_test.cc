#include "store/redis_peer_channel.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/redis_server.h"

namespace glmq {
namespace {

using std::chrono::milliseconds;

// What one member received, line by line.
struct Inbox {
  std::mutex mu;
  std::vector<std::string> lines;
  RedisPeerChannel::OnLines Sink() {
    return [this](std::string_view payload) {
      std::lock_guard lock(mu);
      while (!payload.empty()) {
        const size_t end = payload.find('\n');
        lines.emplace_back(payload.substr(0, end));
        payload.remove_prefix(end == std::string_view::npos ? payload.size() : end + 1);
      }
    };
  }
  // Waits up to 5 s for `n` lines.
  std::vector<std::string> WaitFor(size_t n) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mu);
        if (lines.size() >= n) return lines;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    std::lock_guard lock(mu);
    return lines;
  }
  size_t Count() {
    std::lock_guard lock(mu);
    return lines.size();
  }
};

class RedisPeerChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RedisServer::FindBinary().empty()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(redis_.Start()) << redis_.last_error();
  }
  std::unique_ptr<RedisPeerChannel> Join(Inbox& inbox) {
    auto c = RedisPeerChannel::Open(redis_.url(), "t:admission", inbox.Sink());
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  RedisServer redis_;
};

TEST_F(RedisPeerChannelTest, LinesReachTheOtherMembersAndNotTheSender) {
  Inbox a_in, b_in, c_in;
  auto a = Join(a_in), b = Join(b_in), c = Join(c_in);
  ASSERT_TRUE(a && b && c);
  for (int i = 0; i < 100; ++i) a->Send("line " + std::to_string(i));
  b->Send("from b");
  auto at_b = b_in.WaitFor(100);
  ASSERT_EQ(at_b.size(), 100u);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(at_b[static_cast<size_t>(i)], "line " + std::to_string(i));
  EXPECT_EQ(c_in.WaitFor(101).size(), 101u);
  EXPECT_EQ(a_in.WaitFor(1), std::vector<std::string>{"from b"});
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(a_in.Count(), 1u);  // its own 100 came back and were dropped
  EXPECT_EQ(b_in.Count(), 100u);
  // A burst goes out in fewer messages than lines.
  EXPECT_LT(a->published(), 100);
  EXPECT_EQ(a->dropped(), 0);
  EXPECT_EQ(a->sent(), 100);
  EXPECT_EQ(b->received(), 100);  // a's lines; its own "from b" is not counted
  EXPECT_EQ(a->received(), 1);
}

// A member alone on the channel publishes about once a second, which is also how soon it
// hears of a member joining: a single gateway pays nothing for the channel.
TEST_F(RedisPeerChannelTest, AMemberAloneKeepsQuietUntilAnotherJoins) {
  Inbox a_in, b_in;
  auto a = Join(a_in);
  ASSERT_TRUE(a);
  for (int i = 0; i < 50; ++i) {
    a->Send("unheard");
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_LE(a->published(), 2);  // the first, and perhaps the check a second later
  EXPECT_EQ(a->sent(), 0);       // none reached another member
  auto b = Join(b_in);
  ASSERT_TRUE(b);
  bool heard = false;
  for (int i = 0; i < 300 && !heard; ++i) {
    a->Send("heard");
    std::this_thread::sleep_for(milliseconds(10));
    std::lock_guard lock(b_in.mu);
    heard = !b_in.lines.empty();
  }
  ASSERT_TRUE(heard);  // within about a second of joining
  EXPECT_EQ(b_in.WaitFor(1).front(), "heard");
  EXPECT_GT(a->sent(), 0);
}

// Redis away: lines sent meanwhile are dropped and counted, nothing blocks; once it is back
// the members find each other again.
TEST_F(RedisPeerChannelTest, ItDropsWhileRedisIsAwayAndCarriesOnAfter) {
  Inbox a_in, b_in;
  auto a = Join(a_in), b = Join(b_in);
  ASSERT_TRUE(a && b);
  ASSERT_GE(redis_.Kill(SIGKILL), 0);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) a->Send("lost " + std::to_string(i));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(100));  // Send never waits
  for (int i = 0; i < 500 && a->dropped() < 10; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(a->dropped(), 10);
  ASSERT_TRUE(redis_.Restart()) << redis_.last_error();
  // The subscriber reconnects with a backoff of up to a second: send until one arrives.
  bool arrived = false;
  for (int i = 0; i < 50 && !arrived; ++i) {
    a->Send("back");
    arrived = !b_in.WaitFor(1).empty();
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(arrived);
  for (const std::string& line : b_in.WaitFor(1)) EXPECT_EQ(line, "back");
}

}  // namespace
}  // namespace glmq
