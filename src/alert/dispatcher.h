// The dispatcher: takes notifications from the evaluator without blocking it and delivers them
// to every channel, each on its own sender thread so that a slow or dead channel delays no
// other.
//
// Per channel: a sliding-window rate limit (what does not fit waits, then goes out as one
// digest: nothing is dropped), retries with exponential backoff, and counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "alert/alert.h"
#include "alert/notifier.h"
#include "core/status.h"

namespace glmq {

// What the platforms allow: DingTalk and WeCom 20/min, Feishu 5/s and 100/min, Slack 1/s;
// none for webhook, email and log.
std::vector<RateLimit> DefaultRateLimits(std::string_view type);

struct ChannelStats {
  std::string channel;
  std::string type;
  uint64_t sent = 0;     // messages delivered (a digest counts once)
  uint64_t failed = 0;   // messages given up on (after the last attempt, or at shutdown)
  uint64_t retried = 0;  // attempts repeated after a failure
  uint64_t merged = 0;   // notifications folded into a digest
  size_t pending = 0;    // queued or being sent now
};

struct DispatcherOptions {
  // Monotonic milliseconds for rate limits and backoff; null: std::chrono::steady_clock.
  // Read by the senders and by Enqueue, so it must be thread-safe.
  std::function<TimeMs()> clock;
  int max_attempts = 5;  // per message, the first included
  double initial_backoff_seconds = 1;
  double max_backoff_seconds = 60;
  // A channel's queue past this is folded into one digest, bounding memory while a channel
  // is throttled or down.
  size_t max_queued = 1000;
  // How long a sender sleeps at most before reading the clock again; tests with a manual
  // clock set ~1 ms.
  std::chrono::milliseconds max_sleep{1000};
  // Called on a sender thread (and on Enqueue's for "merged") with outcome "sent", "failed",
  // "retried" or "merged", once per event; never under a lock. Must be cheap and thread-safe.
  using Observer = std::function<void(const std::string& channel, const std::string& outcome)>;
  Observer observer;
};

struct DispatchChannel {
  std::unique_ptr<Notifier> notifier;
  std::vector<RateLimit> rate_limits;  // empty: unlimited
};

class Dispatcher {
 public:
  explicit Dispatcher(std::vector<DispatchChannel> channels, DispatcherOptions options = {});
  // Stops every sender after its current attempt (bounded by the channel's timeout); what is
  // still queued is logged and counted as failed. Call Flush first to deliver it.
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Queues `n` for every channel and returns at once. Any thread.
  void Enqueue(const Notification& n);

  // Waits until every channel has nothing queued or in flight, or until `deadline`; true if
  // everything was delivered or given up on. Rate limits and backoff still apply.
  bool Flush(std::chrono::steady_clock::time_point deadline);

  std::vector<ChannelStats> Stats() const;

 private:
  class Channel;
  DispatcherOptions options_;
  std::vector<std::unique_ptr<Channel>> channels_;
};

// Builds every channel's notifier (failing on the first invalid one or a repeated name) with
// its configured or default rate limits.
Result<std::unique_ptr<Dispatcher>> MakeDispatcher(const std::vector<ChannelConfig>& configs,
                                                   DispatcherOptions options = {},
                                                   NotifierDeps deps = {});

}  // namespace glmq
