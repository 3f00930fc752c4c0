// What the alerting parts pass around: one alert of one rule, as notifiers send it.
//
// The evaluator (alert/evaluator.h) owns the state machine and produces Notifications; the
// dispatcher (alert/dispatcher.h) sends them to each channel off the evaluator's thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/job.h"

namespace glmq {

enum class AlertSeverity { kWarning, kCritical };
const char* AlertSeverityName(AlertSeverity severity);  // "warning" | "critical"

struct Alert {
  std::string rule;  // e.g. "queue_depth"; also labels["alertname"]
  AlertSeverity severity = AlertSeverity::kWarning;
  bool firing = true;  // false: this is the resolved notice
  // Identity: alertname, severity, rule-specific labels (e.g. class="long") and the
  // rule's configured labels. Sorted, so equal sets compare equal.
  std::map<std::string, std::string> labels;
  // summary, description (human text with the measured value and the threshold).
  std::map<std::string, std::string> annotations;
  double value = 0;         // the measured value that crossed the threshold
  double threshold = 0;     // the threshold it crossed
  TimeMs starts_at = 0;     // when it began firing
  TimeMs ends_at = 0;       // when it resolved; 0 while firing
  std::string fingerprint;  // stable hash of `labels` (hex), as Alertmanager's
};

// One message to every channel: the alerts that changed or are due a repeat.
struct Notification {
  std::vector<Alert> alerts;
  std::string group_key;     // e.g. "glmq/queue_depth"
  std::string external_url;  // where the dashboard is, for links; may be empty
  std::string receiver;      // the channel's configured name, filled in per channel
  // How many notifications this one stands for: above 1 for a digest that the dispatcher made
  // of a channel's rate-limit overflow, so that every message can say so.
  int merged_count = 1;
};

}  // namespace glmq
