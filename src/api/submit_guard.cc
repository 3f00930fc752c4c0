#include "api/submit_guard.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "api/json_response.h"

namespace glmq {
namespace {

HttpResponse Refuse(ErrorCode code, const std::string& message, double retry_after) {
  HttpResponse res = ErrorResponse(code, message);
  const int64_t seconds =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::min(retry_after, 86400.0))));
  res.set(http::field::retry_after, std::to_string(seconds));
  return res;
}

std::string Named(const std::string& tenant) { return std::string(TenantName(tenant)); }

}  // namespace

SubmitGuard::SubmitGuard(Options options,
                         std::function<std::shared_ptr<const TenantLimitOverrides>()> overrides)
    : options_(options), overrides_(std::move(overrides)) {}

SubmitGuard::Budget& SubmitGuard::Refilled(const std::string& tenant, double per_minute,
                                           Clock::time_point now) {
  auto [it, fresh] = budgets_.try_emplace(tenant, Budget{per_minute, now});
  Budget& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(per_minute, b.tokens + elapsed * per_minute / 60.0);
    b.at = now;
  }
  return b;
}

TenantLimits SubmitGuard::LimitsFor(const std::string& tenant) const {
  if (!overrides_) return options_.defaults;
  const std::shared_ptr<const TenantLimitOverrides> overrides = overrides_();
  return overrides ? LimitsOf(*overrides, tenant, options_.defaults) : options_.defaults;
}

bool SubmitGuard::ChecksQueue(const std::string& tenant) const {
  const TenantLimits l = LimitsFor(tenant);
  return l.max_queued_jobs > 0 || l.max_queued_tokens > 0;
}

std::optional<HttpResponse> SubmitGuard::CheckNow(const std::string& tenant,
                                                  Clock::time_point now) {
  const double drain = drain_seconds_.load();
  if (options_.max_drain_seconds > 0 && drain > options_.max_drain_seconds) {
    return Refuse(ErrorCode::kOverloaded,
                  fmt::format("the queue would take {:.0f} s to drain, over the service's limit "
                              "of {:g} s (--max-drain-seconds); try again later",
                              drain, options_.max_drain_seconds),
                  drain - options_.max_drain_seconds);
  }
  const double per_minute = LimitsFor(tenant).tokens_per_minute;
  if (per_minute <= 0) return std::nullopt;
  std::lock_guard lock(mu_);
  Budget& b = Refilled(tenant, per_minute, now);
  if (b.tokens > 0) return std::nullopt;
  return Refuse(ErrorCode::kQuotaExceeded,
                fmt::format("tenant {} is over its limit of {:g} tokens per minute "
                            "(tokens_per_minute)",
                            Named(tenant), per_minute),
                (1 - b.tokens) * 60.0 / per_minute);
}

std::optional<HttpResponse> SubmitGuard::CheckQueued(
    JobStore& store, const std::string& tenant,
    const std::function<double(const JobStore::WorkAhead&)>& seconds_for) {
  const TenantLimits l = LimitsFor(tenant);
  if (l.max_queued_jobs <= 0 && l.max_queued_tokens <= 0) return std::nullopt;
  auto queued = store.QueuedOf(tenant);
  if (!queued.ok()) return ErrorResponse(queued.status());
  const JobStore::WorkAhead& q = *queued;
  // Retry-After: about one of its queued jobs' time through the engines.
  const double per_job = q.jobs > 0 ? seconds_for(q) / static_cast<double>(q.jobs) : 1.0;
  if (l.max_queued_jobs > 0 && q.jobs >= l.max_queued_jobs) {
    return Refuse(ErrorCode::kQuotaExceeded,
                  fmt::format("tenant {} has {} jobs queued, its limit (max_queued) is {}",
                              Named(tenant), q.jobs, l.max_queued_jobs),
                  per_job);
  }
  if (l.max_queued_tokens > 0 && q.prompt_tokens >= l.max_queued_tokens) {
    return Refuse(ErrorCode::kQuotaExceeded,
                  fmt::format("tenant {} has {} prompt tokens queued, its limit "
                              "(max_queued_tokens) is {}",
                              Named(tenant), q.prompt_tokens, l.max_queued_tokens),
                  per_job);
  }
  return std::nullopt;
}

void SubmitGuard::Accepted(const std::string& tenant, int64_t tokens, Clock::time_point now) {
  const double per_minute = LimitsFor(tenant).tokens_per_minute;
  if (per_minute <= 0) return;
  std::lock_guard lock(mu_);
  Budget& b = Refilled(tenant, per_minute, now);
  b.tokens -= static_cast<double>(tokens);
}

}  // namespace glmq
