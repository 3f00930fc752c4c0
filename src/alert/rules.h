// Alert rules: what is measured, the levels that fire, and how long a level must hold.
//
// Loaded once from the [alerts] part of the config file (see LoadAlertConfig), validated,
// and passed by value to the evaluator. Defaults are the seed's thresholds.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "alert/notifier.h"
#include "core/status.h"

namespace glmq {

// The rules glmq evaluates. Each watches one signal (see AlertSignals).
enum class RuleKind {
  kQueueDepth,       // queued jobs per length class
  kDrainTime,        // predicted seconds to drain the queue at the measured throughput
  kOldestAge,        // age of the oldest queued job per class, seconds
  kRunningDuration,  // longest-running job, seconds
  kErrorRate,        // failed / finished jobs over a window, 0..1
  kNoWorker,         // work queued and no live engine
  kStalled,          // work queued and nothing finished or progressed for a window
  kStoreErrors,      // store writes refused over a window (disk full, store down)
  kDiskFree,         // free bytes on the data directory's file system: fires BELOW a level
  kBatchWindow,      // per running batch: the share of its window's time left it needs
};
inline constexpr RuleKind kAllRuleKinds[] = {
    RuleKind::kQueueDepth, RuleKind::kDrainTime,   RuleKind::kOldestAge, RuleKind::kRunningDuration,
    RuleKind::kErrorRate,  RuleKind::kNoWorker,    RuleKind::kStalled,   RuleKind::kStoreErrors,
    RuleKind::kDiskFree,   RuleKind::kBatchWindow,
};
const char* RuleKindName(RuleKind kind);  // the alertname: "queue_depth", ...

struct RuleConfig {
  RuleKind kind = RuleKind::kQueueDepth;
  bool enabled = true;
  // Fires at value >= level (disk_free: value < level). Unset: that severity is not used.
  std::optional<double> warning;
  std::optional<double> critical;
  int64_t for_ms = 60'000;         // the condition must hold this long before firing
  int64_t keep_firing_for_ms = 0;  // and keeps firing this long after it clears
  int64_t repeat_warning_ms = 15 * 60'000;
  int64_t repeat_critical_ms = 5 * 60'000;
  int64_t window_ms = 5 * 60'000;  // error_rate and stalled: the window looked at
  int64_t min_jobs = 20;           // error_rate: fewer finished jobs in the window say nothing
  std::map<std::string, std::string> labels;  // added to every alert of this rule
};

struct AlertConfig {
  int64_t interval_ms = 5'000;          // evaluation period
  std::string external_url;             // the dashboard's address, for links in messages
  std::vector<RuleConfig> rules;        // one per RuleKind, in kAllRuleKinds order
  std::vector<ChannelConfig> channels;  // where notifications go; "log" is always there
  int64_t history_size = 200;           // state changes kept for GET /v1/alerts
};

// The seed's rules: depth 50/100 (60 s), drain 300/900 s, oldest age 600/1800 s, running
// 300/600 s, error rate 10 %/30 % over 5 min with 20 jobs, no worker and stalled critical.
AlertConfig DefaultAlertConfig();

// Reads the [alerts] table of a TOML config file (absent: the defaults) and checks it;
// errors name the file and the key. An empty path gives the defaults.
Result<AlertConfig> LoadAlertConfig(const std::string& path);

// "90s", "5m", "1h", "250ms" or a number of seconds.
Result<int64_t> ParseDurationMs(const std::string& text);

}  // namespace glmq
