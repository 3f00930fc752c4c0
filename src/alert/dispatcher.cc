#include "alert/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "alert/payloads.h"

namespace glmq {
namespace {

TimeMs SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TimeMs WindowMs(const RateLimit& limit) {
  return static_cast<TimeMs>(std::ceil(limit.per_seconds * 1000));
}

// A notification waiting in a channel's queue.
struct Queued {
  Notification notification;
  // It found the rate limit full: when the limit allows, everything queued goes out as one
  // digest rather than one message each.
  bool waited = false;
};

// A digest counts each original notification once, however often it is merged again.
uint64_t Originals(const std::deque<Queued>& queue) {
  uint64_t n = 0;
  for (const Queued& q : queue) n += q.notification.merged_count > 1 ? 0 : 1;
  return n;
}

Queued MergeQueue(std::deque<Queued>& queue) {
  std::vector<Notification> parts;
  bool waited = false;
  for (Queued& q : queue) {
    parts.push_back(std::move(q.notification));
    waited = waited || q.waited;
  }
  queue.clear();
  return {MergeNotifications(parts), waited};
}

}  // namespace

std::vector<RateLimit> DefaultRateLimits(std::string_view type) {
  if (type == "dingtalk" || type == "wecom") return {{20, 60}};
  if (type == "feishu") return {{5, 1}, {100, 60}};
  if (type == "slack") return {{1, 1}};
  return {};
}

// One channel: its queue (shared with Enqueue under mu_) and the thread that drains it.
class Dispatcher::Channel {
 public:
  Channel(DispatchChannel channel, const DispatcherOptions& options)
      : notifier_(std::move(channel.notifier)),
        limits_(std::move(channel.rate_limits)),
        options_(options) {
    stats_.channel = notifier_->name();
    stats_.type = notifier_->type();
    thread_ = std::thread([this] { Run(); });
  }

  ~Channel() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  void Enqueue(Notification n) {
    n.receiver = notifier_->name();
    uint64_t merged = 0;
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= options_.max_queued) {
        merged = Originals(queue_);
        stats_.merged += merged;
        queue_.push_back(MergeQueue(queue_));
      }
      TimeMs now = options_.clock();
      queue_.push_back({std::move(n), RateReadyAt(now) > now});
    }
    wake_.notify_all();
    Emit("merged", merged);
  }

  bool WaitIdle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return idle_.wait_until(lock, deadline, [this] { return queue_.empty() && !busy_; });
  }

  ChannelStats Stats() const {
    std::lock_guard lock(mu_);
    ChannelStats s = stats_;
    s.pending = queue_.size() + (busy_ ? 1 : 0);
    return s;
  }

 private:
  // Sender thread. `current_`, `attempts_` and `retry_at_` are its own; the rest is shared
  // with Enqueue and Stats under mu_.
  void Run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (!current_ && queue_.empty()) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        continue;
      }
      TimeMs now = options_.clock();
      TimeMs due = RateReadyAt(now);
      if (current_) due = std::max(due, retry_at_);
      if (due > now) {
        wake_.wait_for(lock, std::min<std::chrono::milliseconds>(
                                 std::chrono::milliseconds(due - now), options_.max_sleep));
        continue;
      }
      uint64_t merged = 0;
      if (!current_) {
        Queued next;
        if (queue_.front().waited && queue_.size() > 1) {
          merged = Originals(queue_);
          stats_.merged += merged;
          next = MergeQueue(queue_);
        } else {
          next = std::move(queue_.front());
          queue_.pop_front();
        }
        current_ = std::move(next.notification);
        attempts_ = 0;
      }
      sent_at_.push_back(now);
      if (RateReadyAt(now) > now) {
        for (Queued& q : queue_) q.waited = true;
      }
      busy_ = true;
      lock.unlock();
      Emit("merged", merged);
      Status s = notifier_->Send(*current_);
      ++attempts_;
      lock.lock();
      std::string outcome = Settle(s);
      lock.unlock();
      Emit(outcome, 1);
      lock.lock();
      // Only now, so that Flush returns with the observer up to date.
      busy_ = current_.has_value();
      idle_.notify_all();
    }
    // Stopping: what is left is lost, and says so.
    uint64_t left = queue_.size() + (current_ ? 1 : 0);
    if (left > 0) {
      stats_.failed += left;
      spdlog::error("alert channel \"{}\": {} notification(s) not sent at shutdown", stats_.channel,
                    left);
    }
    queue_.clear();
    current_.reset();
    busy_ = false;
    idle_.notify_all();
    lock.unlock();
    Emit("failed", left);
  }

  // Records the result of one attempt on current_ (under mu_); returns the outcome.
  std::string Settle(const Status& s) {
    if (s.ok()) {
      ++stats_.sent;
      current_.reset();
      return "sent";
    }
    bool retryable = s.code() != StatusCode::kInvalidArgument;
    if (retryable && attempts_ < options_.max_attempts) {
      double backoff = std::min(options_.max_backoff_seconds,
                                options_.initial_backoff_seconds * std::ldexp(1.0, attempts_ - 1));
      retry_at_ = options_.clock() + static_cast<TimeMs>(backoff * 1000);
      ++stats_.retried;
      spdlog::warn("{} (attempt {} of {}; retrying in {}s)", s.message(), attempts_,
                   options_.max_attempts, backoff);
      return "retried";
    }
    ++stats_.failed;
    spdlog::error("{} (gave up after {} attempt(s); {} alert(s) not delivered)", s.message(),
                  attempts_, current_->alerts.size());
    current_.reset();
    return "failed";
  }

  // When the rate limits allow the next attempt: now, or when the oldest send that keeps a
  // window full leaves it. Also forgets sends older than every window. Under mu_.
  TimeMs RateReadyAt(TimeMs now) {
    TimeMs longest = 0;
    TimeMs ready = now;
    for (const RateLimit& limit : limits_) {
      TimeMs window = WindowMs(limit);
      longest = std::max(longest, window);
      auto first_inside = std::upper_bound(sent_at_.begin(), sent_at_.end(), now - window);
      size_t inside = static_cast<size_t>(sent_at_.end() - first_inside);
      size_t max = static_cast<size_t>(limit.max_messages);
      if (inside >= max) ready = std::max(ready, sent_at_[sent_at_.size() - max] + window);
    }
    while (!sent_at_.empty() && sent_at_.front() <= now - longest) sent_at_.pop_front();
    return ready;
  }

  void Emit(const std::string& outcome, uint64_t times) {
    if (!options_.observer) return;
    for (uint64_t i = 0; i < times; ++i) options_.observer(stats_.channel, outcome);
  }

  const std::unique_ptr<Notifier> notifier_;
  const std::vector<RateLimit> limits_;
  const DispatcherOptions& options_;

  mutable std::mutex mu_;
  std::condition_variable wake_;  // the sender: new work or stop
  std::condition_variable idle_;  // Flush: a message settled
  std::deque<Queued> queue_;
  std::deque<TimeMs> sent_at_;  // attempt times, ascending
  bool busy_ = false;
  bool stopping_ = false;
  ChannelStats stats_;

  std::optional<Notification> current_;
  int attempts_ = 0;
  TimeMs retry_at_ = 0;

  std::thread thread_;  // last: starts after everything it reads
};

Dispatcher::Dispatcher(std::vector<DispatchChannel> channels, DispatcherOptions options)
    : options_(std::move(options)) {
  if (!options_.clock) options_.clock = SteadyNowMs;
  options_.max_attempts = std::max(options_.max_attempts, 1);
  options_.max_queued = std::max<size_t>(options_.max_queued, 1);
  for (DispatchChannel& c : channels) {
    channels_.push_back(std::make_unique<Channel>(std::move(c), options_));
  }
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::Enqueue(const Notification& n) {
  if (n.alerts.empty()) return;
  for (auto& c : channels_) c->Enqueue(n);
}

bool Dispatcher::Flush(std::chrono::steady_clock::time_point deadline) {
  bool all = true;
  for (auto& c : channels_) all = c->WaitIdle(deadline) && all;
  return all;
}

std::vector<ChannelStats> Dispatcher::Stats() const {
  std::vector<ChannelStats> out;
  for (const auto& c : channels_) out.push_back(c->Stats());
  return out;
}

Result<std::unique_ptr<Dispatcher>> MakeDispatcher(const std::vector<ChannelConfig>& configs,
                                                   DispatcherOptions options, NotifierDeps deps) {
  std::vector<DispatchChannel> channels;
  std::set<std::string> names;
  for (const ChannelConfig& config : configs) {
    if (!names.insert(config.name).second) {
      return InvalidArgument("alert channel \"" + config.name + "\": name is used twice");
    }
    GLMQ_ASSIGN_OR_RETURN(std::unique_ptr<Notifier> notifier, MakeNotifier(config, deps));
    channels.push_back(
        {std::move(notifier), config.rate_limits.value_or(DefaultRateLimits(config.type))});
  }
  return std::make_unique<Dispatcher>(std::move(channels), std::move(options));
}

}  // namespace glmq
