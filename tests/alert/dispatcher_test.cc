#include "alert/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "alert/fake_transport.h"

namespace glmq {
namespace {

using std::chrono::milliseconds;

// Time moves only when a test says so.
struct ManualClock {
  std::atomic<TimeMs> now{1'000'000};
  void Advance(TimeMs ms) { now += ms; }
  std::function<TimeMs()> Fn() {
    return [this] { return now.load(); };
  }
};

// Counts the observer's events.
class Outcomes {
 public:
  std::function<void(const std::string&, const std::string&)> Fn() {
    return [this](const std::string& channel, const std::string& outcome) {
      std::lock_guard lock(mu_);
      ++counts_[channel + "/" + outcome];
    };
  }
  int Get(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(key);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;
};

// Polls `pred` for up to 5 s of real time.
bool WaitFor(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Gives a sender time to do what it should not.
void Settle() { std::this_thread::sleep_for(milliseconds(30)); }

std::string Seq(int i) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "s%02d", i);
  return buf;
}

Notification Numbered(int i) {
  Alert a;
  a.rule = "queue_depth";
  a.severity = AlertSeverity::kWarning;
  a.labels = {{"alertname", "queue_depth"}, {"severity", "warning"}, {"seq", Seq(i)}};
  a.annotations = {{"summary", "queue is long"}};
  a.starts_at = 1714564800000;
  Notification n;
  n.alerts = {a};
  n.group_key = "glmq/queue_depth";
  return n;
}

ChannelConfig Config(std::string name, std::string type) {
  ChannelConfig c;
  c.name = std::move(name);
  c.type = std::move(type);
  if (c.type != "log") c.url = "https://robot.example/send?token=t";
  return c;
}

DispatcherOptions Options(ManualClock& clock, Outcomes& outcomes) {
  DispatcherOptions o;
  o.clock = clock.Fn();
  o.max_sleep = milliseconds(1);
  o.observer = outcomes.Fn();
  return o;
}

std::unique_ptr<Dispatcher> Make(const std::vector<ChannelConfig>& configs,
                                 DispatcherOptions options, std::shared_ptr<HttpTransport> http) {
  NotifierDeps deps;
  deps.http = std::move(http);
  auto d = MakeDispatcher(configs, std::move(options), deps);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? std::move(d).value() : nullptr;
}

ChannelStats StatsOf(const Dispatcher& d, const std::string& channel) {
  for (const ChannelStats& s : d.Stats()) {
    if (s.channel == channel) return s;
  }
  ADD_FAILURE() << "no channel " << channel;
  return {};
}

TEST(DispatcherTest, DefaultRateLimitsFollowThePlatforms) {
  auto limits = [](std::string_view type) {
    std::vector<std::pair<int, double>> out;
    for (const RateLimit& r : DefaultRateLimits(type))
      out.push_back({r.max_messages, r.per_seconds});
    return out;
  };
  using V = std::vector<std::pair<int, double>>;
  EXPECT_EQ(limits("dingtalk"), (V{{20, 60}}));
  EXPECT_EQ(limits("wecom"), (V{{20, 60}}));
  EXPECT_EQ(limits("feishu"), (V{{5, 1}, {100, 60}}));
  EXPECT_EQ(limits("slack"), (V{{1, 1}}));
  EXPECT_TRUE(limits("webhook").empty());
  EXPECT_TRUE(limits("email").empty());
  EXPECT_TRUE(limits("log").empty());
}

TEST(DispatcherTest, DingTalkOverflowBecomesOneDigestAndNothingIsLost) {
  ManualClock clock;
  Outcomes outcomes;
  auto http = std::make_shared<FakeHttpTransport>();
  auto d = Make({Config("ding", "dingtalk")}, Options(clock, outcomes), http);
  for (int i = 0; i < 25; ++i) d->Enqueue(Numbered(i));

  ASSERT_TRUE(WaitFor([&] { return http->count() == 20; }));
  Settle();
  EXPECT_EQ(http->count(), 20u);
  EXPECT_EQ(StatsOf(*d, "ding").pending, 5u);
  clock.Advance(59'999);
  Settle();
  EXPECT_EQ(http->count(), 20u) << "the window of the first send has not passed yet";
  clock.Advance(1);
  ASSERT_TRUE(WaitFor([&] { return http->count() == 21; }));
  Settle();
  EXPECT_EQ(http->count(), 21u);

  auto requests = http->requests();
  std::multiset<std::string> seen;
  for (const HttpPostRequest& r : requests) {
    std::string text = nlohmann::json::parse(r.body)["markdown"]["text"];
    for (int i = 0; i < 25; ++i) {
      if (text.find("seq=" + Seq(i)) != std::string::npos) seen.insert(Seq(i));
    }
  }
  EXPECT_EQ(seen.size(), 25u) << "every alert exactly once";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 25u);
  nlohmann::json digest = nlohmann::json::parse(requests.back().body);
  EXPECT_EQ(digest["markdown"]["title"],
            "[FIRING:5] glmq digest of 5 notifications: queue_depth (warning)");
  std::string digest_text = digest["markdown"]["text"];
  for (int i = 20; i < 25; ++i) {
    EXPECT_NE(digest_text.find("seq=" + Seq(i)), std::string::npos) << i;
  }

  ChannelStats s = StatsOf(*d, "ding");
  EXPECT_EQ(s.type, "dingtalk");
  EXPECT_EQ(s.sent, 21u);
  EXPECT_EQ(s.merged, 5u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.retried, 0u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(outcomes.Get("ding/sent"), 21);
  EXPECT_EQ(outcomes.Get("ding/merged"), 5);
  EXPECT_EQ(outcomes.Get("ding/failed"), 0);
}

TEST(DispatcherTest, FeishuHonoursBothWindows) {
  ManualClock clock;
  Outcomes outcomes;
  auto http = std::make_shared<FakeHttpTransport>();
  ChannelConfig c = Config("fs", "feishu");
  auto d = Make({c}, Options(clock, outcomes), http);
  for (int i = 0; i < 7; ++i) d->Enqueue(Numbered(i));
  ASSERT_TRUE(WaitFor([&] { return http->count() == 5; }));
  Settle();
  EXPECT_EQ(http->count(), 5u);
  clock.Advance(1000);
  ASSERT_TRUE(WaitFor([&] { return http->count() == 6; }));
  Settle();
  EXPECT_EQ(http->count(), 6u);
  EXPECT_EQ(StatsOf(*d, "fs").merged, 2u);
}

TEST(DispatcherTest, ConfiguredLimitReplacesTheDefault) {
  ManualClock clock;
  Outcomes outcomes;
  auto http = std::make_shared<FakeHttpTransport>();
  ChannelConfig c = Config("hook", "webhook");
  c.rate_limits = std::vector<RateLimit>{{2, 10}};
  ChannelConfig unlimited = Config("ding", "dingtalk");
  unlimited.rate_limits = std::vector<RateLimit>{};
  auto d = Make({c, unlimited}, Options(clock, outcomes), http);
  for (int i = 0; i < 30; ++i) d->Enqueue(Numbered(i));
  // 30 to the unlimited DingTalk channel, 2 (then a wait) to the webhook.
  ASSERT_TRUE(WaitFor([&] { return http->count() == 32; }));
  Settle();
  EXPECT_EQ(StatsOf(*d, "hook").sent, 2u);
  EXPECT_EQ(StatsOf(*d, "ding").sent, 30u);
  clock.Advance(10'000);
  ASSERT_TRUE(WaitFor([&] { return StatsOf(*d, "hook").sent == 3; }));
  nlohmann::json digest = nlohmann::json::parse(http->requests().back().body);
  EXPECT_EQ(digest["alerts"].size(), 28u);
  EXPECT_EQ(digest["groupKey"], "glmq/queue_depth");
}

TEST(DispatcherTest, RetriesWithExponentialBackoff) {
  ManualClock clock;
  Outcomes outcomes;
  auto http = std::make_shared<FakeHttpTransport>();
  for (int i = 0; i < 3; ++i) http->Script(HttpPostResponse{503, "busy"});
  auto d = Make({Config("hook", "webhook")}, Options(clock, outcomes), http);
  d->Enqueue(Numbered(0));
  ASSERT_TRUE(WaitFor([&] { return http->count() == 1; }));
  for (TimeMs backoff : {1000, 2000, 4000}) {
    // The retry's time is set from the clock once the failed try is judged: advancing the
    // clock before that would move the retry with it (a race seen under load).
    ASSERT_TRUE(WaitFor([&] { return StatsOf(*d, "hook").retried == http->count(); }));
    clock.Advance(backoff - 1);
    Settle();
    EXPECT_EQ(outcomes.Get("hook/retried"), static_cast<int>(http->count()));
    size_t before = http->count();
    clock.Advance(1);
    ASSERT_TRUE(WaitFor([&] { return http->count() == before + 1; })) << backoff;
  }
  ASSERT_TRUE(WaitFor([&] { return StatsOf(*d, "hook").sent == 1; }));
  ChannelStats s = StatsOf(*d, "hook");
  EXPECT_EQ(s.retried, 3u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(outcomes.Get("hook/retried"), 3);
  EXPECT_EQ(outcomes.Get("hook/sent"), 1);
  // Every attempt carried the same notification.
  for (const HttpPostRequest& r : http->requests()) {
    EXPECT_EQ(nlohmann::json::parse(r.body)["alerts"][0]["labels"]["seq"], "s00");
  }
}

TEST(DispatcherTest, GivesUpAfterMaxAttemptsAndMovesOn) {
  ManualClock clock;
  Outcomes outcomes;
  auto http = std::make_shared<FakeHttpTransport>();
  for (int i = 0; i < 3; ++i) http->Script(Status(StatusCode::kUnavailable, "refused"));
  DispatcherOptions o = Options(clock, outcomes);
  o.max_attempts = 3;
  o.initial_backoff_seconds = 10;
  o.max_backoff_seconds = 15;
  auto d = Make({Config("hook", "webhook")}, std::move(o), http);
  d->Enqueue(Numbered(0));
  d->Enqueue(Numbered(1));
  ASSERT_TRUE(WaitFor([&] { return http->count() == 1; }));
  clock.Advance(10'000);
  ASSERT_TRUE(WaitFor([&] { return http->count() == 2; }));
  clock.Advance(14'999);  // capped at 15 s, not 20
  Settle();
  EXPECT_EQ(http->count(), 2u);
  clock.Advance(1);
  // The third attempt fails for good; the next notification goes out at once.
  ASSERT_TRUE(WaitFor([&] { return http->count() == 4; }));
  ASSERT_TRUE(WaitFor([&] { return StatsOf(*d, "hook").sent == 1; }));
  ChannelStats s = StatsOf(*d, "hook");
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.retried, 2u);
  EXPECT_EQ(outcomes.Get("hook/failed"), 1);
  EXPECT_EQ(nlohmann::json::parse(http->requests()[3].body)["alerts"][0]["labels"]["seq"], "s01");
}

TEST(DispatcherTest, RefusedRequestIsNotRetried) {
  ManualClock clock;
  Outcomes outcomes;
  auto http = std::make_shared<FakeHttpTransport>();
  http->Script(HttpPostResponse{404, "no_service"});
  auto d = Make({Config("slack", "slack")}, Options(clock, outcomes), http);
  d->Enqueue(Numbered(0));
  ASSERT_TRUE(WaitFor([&] { return StatsOf(*d, "slack").failed == 1; }));
  EXPECT_EQ(StatsOf(*d, "slack").retried, 0u);
  EXPECT_EQ(http->count(), 1u);
}

// Holds every POST until released.
class GateTransport : public HttpTransport {
 public:
  Result<HttpPostResponse> Post(const HttpPostRequest&) override {
    std::unique_lock lock(mu_);
    ++calls_;
    cv_.wait(lock, [this] { return open_; });
    return HttpPostResponse{200, "ok"};
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int calls_ = 0;
};

TEST(DispatcherTest, AHungChannelBlocksNeitherTheCallerNorOtherChannels) {
  auto gate = std::make_shared<GateTransport>();
  auto fake = std::make_shared<FakeHttpTransport>();
  std::vector<DispatchChannel> channels;
  auto hung = MakeNotifier(Config("hung", "webhook"), {gate, nullptr, nullptr});
  auto fine = MakeNotifier(Config("fine", "webhook"), {fake, nullptr, nullptr});
  ASSERT_TRUE(hung.ok() && fine.ok());
  channels.push_back({std::move(hung).value(), {}});
  channels.push_back({std::move(fine).value(), {}});
  Dispatcher d(std::move(channels));
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) d.Enqueue(Numbered(i));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // The other channel delivers everything while this one hangs.
  ASSERT_TRUE(WaitFor([&] { return fake->count() == 100; }));
  EXPECT_FALSE(d.Flush(std::chrono::steady_clock::now() + milliseconds(20)));
  EXPECT_EQ(gate->calls(), 1);
  EXPECT_EQ(StatsOf(d, "hung").pending, 100u);
  gate->Open();
  EXPECT_TRUE(d.Flush(std::chrono::steady_clock::now() + std::chrono::seconds(5)));
  EXPECT_EQ(StatsOf(d, "hung").sent, 100u);
}

TEST(DispatcherTest, FlushDeliversEverythingOnUnlimitedChannels) {
  Outcomes outcomes;
  DispatcherOptions o;
  o.observer = outcomes.Fn();
  auto http = std::make_shared<FakeHttpTransport>();
  auto d = Make({Config("hook", "webhook"), Config("log", "log")}, std::move(o), http);
  for (int i = 0; i < 10; ++i) d->Enqueue(Numbered(i));
  d->Enqueue(Notification{});  // nothing to say: not sent
  EXPECT_TRUE(d->Flush(std::chrono::steady_clock::now() + std::chrono::seconds(5)));
  EXPECT_EQ(StatsOf(*d, "hook").sent, 10u);
  EXPECT_EQ(StatsOf(*d, "log").sent, 10u);
  EXPECT_EQ(outcomes.Get("log/sent"), 10);
  // The receiver is each channel's own name.
  EXPECT_EQ(nlohmann::json::parse(http->requests()[0].body)["receiver"], "hook");
}

TEST(DispatcherTest, LongQueueIsFoldedIntoADigest) {
  ManualClock clock;
  Outcomes outcomes;
  auto http = std::make_shared<FakeHttpTransport>();
  DispatcherOptions o = Options(clock, outcomes);
  o.max_queued = 3;
  ChannelConfig c = Config("hook", "webhook");
  c.rate_limits = std::vector<RateLimit>{{1, 60}};
  auto d = Make({c}, std::move(o), http);
  d->Enqueue(Numbered(0));
  ASSERT_TRUE(WaitFor([&] { return http->count() == 1; }));
  for (int i = 1; i < 10; ++i) d->Enqueue(Numbered(i));
  EXPECT_LE(StatsOf(*d, "hook").pending, 3u);
  clock.Advance(60'000);
  ASSERT_TRUE(WaitFor([&] { return http->count() == 2; }));
  nlohmann::json digest = nlohmann::json::parse(http->requests()[1].body);
  ASSERT_EQ(digest["alerts"].size(), 9u);
  for (int i = 1; i < 10; ++i) EXPECT_EQ(digest["alerts"][i - 1]["labels"]["seq"], Seq(i));
  ASSERT_TRUE(WaitFor([&] { return StatsOf(*d, "hook").sent == 2; }));
  EXPECT_EQ(StatsOf(*d, "hook").merged, 9u);
  EXPECT_EQ(outcomes.Get("hook/merged"), 9);
}

TEST(DispatcherTest, ShutdownCountsWhatIsLeftAsFailed) {
  ManualClock clock;
  Outcomes outcomes;
  auto http = std::make_shared<FakeHttpTransport>();
  ChannelConfig c = Config("hook", "webhook");
  c.rate_limits = std::vector<RateLimit>{{1, 60}};
  auto d = Make({c}, Options(clock, outcomes), http);
  for (int i = 0; i < 3; ++i) d->Enqueue(Numbered(i));
  ASSERT_TRUE(WaitFor([&] { return http->count() == 1; }));
  EXPECT_FALSE(d->Flush(std::chrono::steady_clock::now() + milliseconds(20)));
  d.reset();
  EXPECT_EQ(outcomes.Get("hook/sent"), 1);
  EXPECT_EQ(outcomes.Get("hook/failed"), 2);
}

TEST(DispatcherTest, MakeDispatcherRejectsBadAndRepeatedChannels) {
  auto d = MakeDispatcher({Config("a", "log"), Config("a", "webhook")});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "alert channel \"a\": name is used twice");
  d = MakeDispatcher({Config("a", "pager")});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("type \"pager\""), std::string::npos);
}

}  // namespace
}  // namespace glmq
