// FailureLog: how a failure that repeats every second is logged. The first failure is
// logged in full; while the failures go on, one line every `repeat` says how many more
// there were; the first success after them says it works again, after how long. A store
// that is down for an hour then costs a few dozen lines instead of thousands, and the
// lines that matter (when it broke, why, when it came back) stand out. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/job.h"
#include "core/status.h"

namespace glmq {

class FailureLog {
 public:
  // `what` names the attempt, e.g. "claiming a job"; `level` is that of the failure lines.
  explicit FailureLog(std::string what, spdlog::level::level_enum level = spdlog::level::err,
                      std::chrono::milliseconds repeat = std::chrono::minutes(1));

  // Call after every attempt with its outcome.
  void Record(const Status& status, TimeMs now = NowMs());

 private:
  const std::string what_;
  const spdlog::level::level_enum level_;
  const int64_t repeat_ms_;
  std::mutex mu_;
  bool failing_ = false;      // guarded by mu_
  TimeMs failing_since_ = 0;  // guarded by mu_
  TimeMs last_logged_ = 0;    // guarded by mu_
  int64_t failures_ = 0;      // guarded by mu_: since failing_since_
  int64_t unlogged_ = 0;      // guarded by mu_: since last_logged_
};

}  // namespace glmq
