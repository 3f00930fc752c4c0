#include "sched/job_stats.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace glmq {
namespace {

Percentiles Of(const std::deque<double>& samples) {
  Percentiles p;
  p.count = static_cast<int64_t>(samples.size());
  if (samples.empty()) return p;
  std::vector<double> v(samples.begin(), samples.end());
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  auto at = [&v](double q) {
    const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  };
  p.p50 = at(0.50);
  p.p95 = at(0.95);
  p.p99 = at(0.99);
  return p;
}

}  // namespace

void JobStats::Record(const JobEvent& event) {
  {
    std::lock_guard lock(mu_);
    std::deque<double>* into = event.kind == JobEvent::Kind::kStarted      ? &queue_wait_
                               : event.kind == JobEvent::Kind::kFirstToken ? &first_token_
                                                                           : &run_;
    into->push_back(event.seconds);
    while (into->size() > window_) into->pop_front();
  }
  if (listener_) listener_(event);
}

JobStatsSnapshot JobStats::Snapshot() const {
  std::lock_guard lock(mu_);
  return {Of(queue_wait_), Of(first_token_), Of(run_)};
}

}  // namespace glmq
