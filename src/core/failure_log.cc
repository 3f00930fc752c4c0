#include "core/failure_log.h"

#include <utility>

namespace glmq {

FailureLog::FailureLog(std::string what, spdlog::level::level_enum level,
                       std::chrono::milliseconds repeat)
    : what_(std::move(what)), level_(level), repeat_ms_(repeat.count()) {}

void FailureLog::Record(const Status& status, TimeMs now) {
  std::lock_guard lock(mu_);
  if (status.ok()) {
    if (failing_) {
      spdlog::info("{} works again, after {:.1f} s and {} failed attempts", what_,
                   static_cast<double>(now - failing_since_) / 1000.0, failures_);
    }
    failing_ = false;
    return;
  }
  if (!failing_) {
    failing_ = true;
    failing_since_ = now;
    last_logged_ = now;
    failures_ = 1;
    unlogged_ = 0;
    spdlog::log(level_, "{} failed: {}", what_, status.ToString());
    return;
  }
  ++failures_;
  ++unlogged_;
  if (now - last_logged_ < repeat_ms_) return;
  spdlog::log(level_, "{} still failing for {:.0f} s ({} more failed attempts): {}", what_,
              static_cast<double>(now - failing_since_) / 1000.0, unlogged_, status.ToString());
  last_logged_ = now;
  unlogged_ = 0;
}

}  // namespace glmq
