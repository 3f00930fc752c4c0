#include "api/rate_limit.h"

#include <algorithm>

namespace glmq {
namespace {

// Full buckets are forgotten now and then: a client that comes back gets a full one anyway.
constexpr size_t kPruneEvery = 4096;

}  // namespace

RateLimiter::RateLimiter(double rate, double burst) : rate_(rate), burst_(std::max(1.0, burst)) {}

double RateLimiter::Acquire(const std::string& client, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (++acquired_since_prune_ >= kPruneEvery) {
    acquired_since_prune_ = 0;
    std::erase_if(buckets_, [&](const auto& item) {
      const double idle = std::chrono::duration<double>(now - item.second.at).count();
      return item.second.tokens + idle * rate_ >= burst_;
    });
  }
  auto [it, fresh] = buckets_.try_emplace(client, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed) * rate_);
    b.at = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return (1.0 - b.tokens) / rate_;
}

size_t RateLimiter::clients() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace glmq
