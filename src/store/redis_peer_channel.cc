#include "store/redis_peer_channel.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "core/job.h"

namespace glmq {

Result<std::unique_ptr<RedisPeerChannel>> RedisPeerChannel::Open(std::string_view url,
                                                                 std::string channel,
                                                                 OnLines on_lines) {
  constexpr double kTimeoutSeconds = 5;
  GLMQ_ASSIGN_OR_RETURN(redis::Endpoint endpoint, redis::Endpoint::Parse(url));
  std::unique_ptr<RedisPeerChannel> c(
      new RedisPeerChannel(channel, NewJobId().substr(4, 16), std::move(on_lines)));
  c->pool_ = std::make_unique<redis::Pool>(endpoint, 1, kTimeoutSeconds);
  RedisPeerChannel* raw = c.get();
  c->subscriber_ = std::make_unique<redis::Subscriber>(
      endpoint, std::move(channel), kTimeoutSeconds,
      [raw](std::string_view payload) { raw->OnMessage(payload); });
  GLMQ_RETURN_IF_ERROR(c->subscriber_->Start());
  c->thread_ = std::thread([raw] { raw->Loop(); });
  return c;
}

RedisPeerChannel::~RedisPeerChannel() {
  subscriber_.reset();  // no line reaches on_lines_ once the destructor runs
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void RedisPeerChannel::Send(std::string_view line) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || pending_.size() + line.size() + 1 > kMaxPendingBytes) {
      dropped_.fetch_add(1);
      return;
    }
    const bool first = pending_.empty();
    pending_.append(line);
    pending_.push_back('\n');
    if (!first) return;  // the thread was woken for the first
  }
  cv_.notify_one();
}

void RedisPeerChannel::OnMessage(std::string_view payload) {
  const size_t newline = payload.find('\n');
  if (newline == std::string_view::npos) return;
  if (payload.substr(0, newline) == tag_) return;  // this member's own
  const std::string_view lines = payload.substr(newline + 1);
  received_.fetch_add(std::count(lines.begin(), lines.end(), '\n'));
  on_lines_(lines);
}

void RedisPeerChannel::Loop() {
  bool failing = false;
  // Other members as the last PUBLISH counted them (its receivers less this one); -1 until
  // the first. While none, lines are let go until the next check.
  int64_t others = -1;
  auto next_check = std::chrono::steady_clock::now();
  while (true) {
    std::string message = tag_ + '\n';
    int64_t lines = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;                               // stopping, and everything sent
      cv_.wait_for(lock, kGather, [this] { return stopping_; });  // let a burst gather
      // Whole lines, up to kMaxMessageBytes (one longer line goes alone).
      size_t cut = pending_.size();
      if (cut > kMaxMessageBytes) {
        cut = pending_.rfind('\n', kMaxMessageBytes - 1);
        cut = cut == std::string::npos ? pending_.find('\n') + 1 : cut + 1;
      }
      lines = std::count(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(cut), '\n');
      message.append(pending_, 0, cut);
      pending_.erase(0, cut);
    }
    const auto now = std::chrono::steady_clock::now();
    if (others == 0 && now < next_check) continue;  // no one else to tell
    auto reply = pool_->Command({"PUBLISH", channel_, message}, redis::Retry::kNo);
    Status status =
        reply.ok() && reply->is_error() ? redis::ErrorReplyStatus(reply->str) : reply.status();
    if (status.ok()) {
      published_.fetch_add(1);
      others = std::max<int64_t>(reply->integer - 1, 0);
      if (others > 0) sent_.fetch_add(lines);
      next_check = now + kAloneCheck;
      if (failing) spdlog::info("redis peer channel {}: publishing again", channel_);
      failing = false;
    } else {
      dropped_.fetch_add(lines);
      if (!failing) {
        spdlog::warn("redis peer channel {}: {} line(s) not published: {}", channel_, lines,
                     status.message());
      }
      failing = true;
    }
  }
}

}  // namespace glmq
