// JobStats: latency figures of recent jobs as the scheduler sees them (queue wait, time to
// first token, run time), for /v1/queue's percentiles and the metrics' histograms.
//
// Threads: the scheduler thread records; any thread reads a snapshot. One mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "core/job.h"

namespace glmq {

struct JobEvent {
  enum class Kind { kStarted, kFirstToken, kFinished };
  Kind kind = Kind::kStarted;
  std::string job_id;
  LengthClass length_class = LengthClass::kShort;
  double seconds = 0;  // started: queue wait; first token: since submit; finished: run time
  JobState state = JobState::kSucceeded;  // finished only
  JobUsage usage;                         // finished only
};

struct Percentiles {
  double p50 = 0, p95 = 0, p99 = 0;
  int64_t count = 0;  // samples they come from; 0 = no data (the figures mean nothing)
};

struct JobStatsSnapshot {
  Percentiles queue_wait_seconds;
  Percentiles time_to_first_token_seconds;
  Percentiles run_seconds;
};

class JobStats {
 public:
  explicit JobStats(size_t window = 1000) : window_(window) {}

  // Also forwarded to the listener (metrics), outside the lock.
  void Record(const JobEvent& event);
  void SetListener(std::function<void(const JobEvent&)> listener) {
    listener_ = std::move(listener);
  }
  JobStatsSnapshot Snapshot() const;

 private:
  const size_t window_;
  std::function<void(const JobEvent&)> listener_;  // set before the scheduler starts
  mutable std::mutex mu_;
  std::deque<double> queue_wait_, first_token_, run_;  // last `window_` of each, guarded by mu_
};

}  // namespace glmq
