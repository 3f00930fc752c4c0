// SubmitGuard: what may refuse a well-formed submit before anything is stored. Per tenant
// (TenantLimits, from the flags and the keys file's tenant lines): jobs queued, prompt
// tokens queued, tokens submitted per minute; over one, a 429 quota_exceeded naming the
// limit, with Retry-After. For the whole service: while the queue's predicted drain time is
// over --max-drain-seconds, a 503 overloaded with Retry-After, so that clients back off
// before the queue becomes an outage. A refused submit stores nothing.
//
// Tokens per minute are counted on the gateway that accepted them (like --rate-limit): a
// tenant's budget refills continuously, an accepted job takes its prompt + max tokens from
// it, and a submit waits while it is spent. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "api/asio.h"
#include "api/auth.h"
#include "store/job_store.h"

namespace glmq {

class SubmitGuard {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    TenantLimits defaults;
    double max_drain_seconds = 0;  // 0 = no overload guard
  };
  // `overrides` gives the keys file's per-tenant limits as they stand now (may be empty).
  SubmitGuard(Options options,
              std::function<std::shared_ptr<const TenantLimitOverrides>()> overrides);

  TenantLimits LimitsFor(const std::string& tenant) const;

  // Without blocking: the overload guard and the tokens per minute.
  std::optional<HttpResponse> CheckNow(const std::string& tenant,
                                       Clock::time_point now = Clock::now());
  // Whether CheckQueued has anything to check for this tenant (it reads the store).
  bool ChecksQueue(const std::string& tenant) const;
  // Blocking: the tenant's queued jobs and tokens against its limits. `seconds_for` prices
  // queued work in seconds (the Retry-After).
  std::optional<HttpResponse> CheckQueued(
      JobStore& store, const std::string& tenant,
      const std::function<double(const JobStore::WorkAhead&)>& seconds_for);

  // An accepted job: its tokens count against its tenant's tokens per minute.
  void Accepted(const std::string& tenant, int64_t tokens, Clock::time_point now = Clock::now());
  // The queue's predicted drain time, as last measured (the front end, every second).
  void SetDrainSeconds(double seconds) { drain_seconds_.store(seconds); }
  double max_drain_seconds() const { return options_.max_drain_seconds; }

 private:
  struct Budget {
    double tokens = 0;  // may go below zero: the job that spent it was accepted whole
    Clock::time_point at;
  };
  // The tenant's budget refilled up to `now`. Holds mu_.
  Budget& Refilled(const std::string& tenant, double per_minute, Clock::time_point now);
  const Options options_;
  const std::function<std::shared_ptr<const TenantLimitOverrides>()> overrides_;
  std::atomic<double> drain_seconds_{0};
  std::mutex mu_;
  std::unordered_map<std::string, Budget> budgets_;
};

}  // namespace glmq
