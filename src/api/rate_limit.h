// RateLimiter: a token bucket per client. Each client may make `rate` requests a second on
// average and `burst` at once; a request over that learns how long to wait (429 with
// Retry-After). Thread-safe. In distributed mode each gateway counts its own requests.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace glmq {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(double rate, double burst);

  // 0 when `client` may go now (the request is counted), else the seconds until it may.
  double Acquire(const std::string& client, Clock::time_point now = Clock::now());
  size_t clients() const;

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  const double rate_;
  const double burst_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  size_t acquired_since_prune_ = 0;
};

}  // namespace glmq
