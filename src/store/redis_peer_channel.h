// A channel of lines among the processes sharing one Redis (gateways: admission's notes to
// each other, admission/peer_notes.h), over pub/sub. A line sent reaches the other members
// within milliseconds; a member's own lines come back to it and are dropped.
//
// Sending never blocks the caller on Redis: lines are buffered and a thread of the channel's
// own publishes what gathered in kGather in one PUBLISH (a burst of submits costs Redis a
// command every few milliseconds). A member alone on the channel (PUBLISH reached no one
// else) publishes no more than once every kAloneCheck, which is also how soon it notices a
// member joining. Pub/sub is at most once: lines published while a member reconnects are
// lost to it, and lines buffered when Redis cannot be reached are dropped (counted in
// dropped()). Fit for hints, never for state.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/status.h"
#include "store/redis_client.h"

namespace glmq {

class RedisPeerChannel {
 public:
  // Lines of one message from another member, '\n'-separated.
  using OnLines = std::function<void(std::string_view lines)>;
  static constexpr std::chrono::milliseconds kGather{2};
  static constexpr std::chrono::milliseconds kAloneCheck{1000};
  // Most bytes one PUBLISH carries; more pending are sent in the next.
  static constexpr size_t kMaxMessageBytes = 256 * 1024;
  // Most bytes buffered while Redis is slow or away; lines beyond are dropped.
  static constexpr size_t kMaxPendingBytes = 4 * 1024 * 1024;

  // Joins `channel` on the Redis at `url` (subscribed before it returns).
  static Result<std::unique_ptr<RedisPeerChannel>> Open(std::string_view url, std::string channel,
                                                        OnLines on_lines);
  ~RedisPeerChannel();
  RedisPeerChannel(const RedisPeerChannel&) = delete;
  RedisPeerChannel& operator=(const RedisPeerChannel&) = delete;

  // Queues one line (without '\n') for the other members.
  void Send(std::string_view line);

  int64_t sent() const { return sent_.load(); }            // lines published to others
  int64_t published() const { return published_.load(); }  // PUBLISHes that carried them
  int64_t dropped() const { return dropped_.load(); }      // lines never sent
  int64_t received() const { return received_.load(); }    // other members' lines

 private:
  RedisPeerChannel(std::string channel, std::string tag, OnLines on_lines)
      : channel_(std::move(channel)), tag_(std::move(tag)), on_lines_(std::move(on_lines)) {}
  void OnMessage(std::string_view payload);
  void Loop();

  const std::string channel_;
  const std::string tag_;  // "<tag>\n" starts each message this member publishes
  const OnLines on_lines_;
  std::unique_ptr<redis::Pool> pool_;
  std::unique_ptr<redis::Subscriber> subscriber_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;    // guarded by mu_: lines, each ending in '\n'
  bool stopping_ = false;  // guarded by mu_
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> published_{0};
  std::atomic<int64_t> received_{0};
  std::atomic<int64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace glmq
