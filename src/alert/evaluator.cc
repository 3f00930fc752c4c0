#include "alert/evaluator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace glmq {
namespace {

using json = nlohmann::json;

std::string FormatValue(double v) {
  char buf[64];
  if (v == static_cast<double>(static_cast<int64_t>(v))) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  }
  return buf;
}

std::string Seconds(double s) { return FormatValue(std::round(s)) + " s"; }

}  // namespace

std::string Fingerprint(const std::map<std::string, std::string>& labels) {
  // FNV-1a over name=value pairs with separators no label can contain.
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  for (const auto& [name, value] : labels) {
    mix(name);
    mix(value);
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

AlertEvaluator::AlertEvaluator(AlertConfig config, const Silences* silences)
    : config_(std::move(config)), silences_(silences) {}

std::vector<AlertEvaluator::Condition> AlertEvaluator::Conditions(const AlertSignals& s) {
  // Windowed rules compare with the oldest sample still inside their window.
  samples_.push_back(
      {s.now, s.finished_total, s.failed_total, s.work_done_total, s.store_write_failures_total});
  int64_t longest_window = 0;
  for (const RuleConfig& r : config_.rules) longest_window = std::max(longest_window, r.window_ms);
  while (samples_.size() > 1 && s.now - samples_[1].at >= longest_window) samples_.pop_front();
  // The oldest sample inside the window (error rate: what happened within it).
  auto since = [this, &s](int64_t window_ms) -> const Sample& {
    for (const Sample& sample : samples_) {
      if (s.now - sample.at <= window_ms) return sample;
    }
    return samples_.back();
  };
  // The newest sample at least a window old (stalled: nothing changed since); null if the
  // window has not been watched whole yet.
  auto before = [this, &s](int64_t window_ms) -> const Sample* {
    const Sample* found = nullptr;
    for (const Sample& sample : samples_) {
      if (s.now - sample.at >= window_ms) found = &sample;
    }
    return found;
  };

  int64_t queued = 0;
  for (const auto& [c, stats] : s.classes) queued += stats.queued;

  std::vector<Condition> out;
  for (const RuleConfig& rule : config_.rules) {
    if (!rule.enabled) continue;
    auto check = [&](std::map<std::string, std::string> labels, double value,
                     const std::string& what) {
      for (AlertSeverity sev : {AlertSeverity::kCritical, AlertSeverity::kWarning}) {
        const std::optional<double>& level =
            sev == AlertSeverity::kCritical ? rule.critical : rule.warning;
        if (!level) continue;
        // disk_free warns as free space falls: below its levels, not above.
        if (rule.kind == RuleKind::kDiskFree ? value >= *level : value < *level) continue;
        out.push_back({&rule, sev, labels, value, *level, what});
      }
    };
    switch (rule.kind) {
      case RuleKind::kQueueDepth:
      case RuleKind::kOldestAge:
        for (const auto& [c, stats] : s.classes) {
          const std::string cls = LengthClassName(c);
          if (rule.kind == RuleKind::kQueueDepth) {
            check({{"class", cls}}, static_cast<double>(stats.queued),
                  FormatValue(static_cast<double>(stats.queued)) + " " + cls + " jobs queued");
          } else if (stats.queued > 0 && stats.oldest_created_at > 0) {
            const double age = (s.now - stats.oldest_created_at) / 1000.0;
            check({{"class", cls}}, age,
                  "the oldest queued " + cls + " job has waited " + Seconds(age));
          }
        }
        break;
      case RuleKind::kDrainTime:
        check({}, s.predicted_drain_seconds,
              "the queue drains in about " + Seconds(s.predicted_drain_seconds) +
                  " at the measured throughput");
        break;
      case RuleKind::kRunningDuration:
        check(
            {}, s.longest_running_seconds,
            "job " + s.longest_running_job + " has run for " + Seconds(s.longest_running_seconds));
        break;
      case RuleKind::kErrorRate: {
        const Sample& from = since(rule.window_ms);
        const int64_t finished = s.finished_total - from.finished;
        const int64_t failed = s.failed_total - from.failed;
        if (finished >= std::max<int64_t>(1, rule.min_jobs)) {
          const double rate = static_cast<double>(failed) / static_cast<double>(finished);
          check({}, rate,
                FormatValue(failed) + " of " + FormatValue(finished) + " jobs failed (" +
                    FormatValue(std::round(rate * 1000) / 10) + " %) in the last " +
                    Seconds(rule.window_ms / 1000.0));
        }
        break;
      }
      case RuleKind::kNoWorker:
        if (queued > 0 && s.workers_alive == 0) {
          check({}, 1, FormatValue(queued) + " jobs queued and no engine is alive to run them");
        }
        break;
      case RuleKind::kStoreErrors: {
        const int64_t refused = s.store_write_failures_total - since(rule.window_ms).store_failures;
        if (refused > 0) {
          check({}, static_cast<double>(refused),
                FormatValue(static_cast<double>(refused)) +
                    " store writes were refused in the last " + Seconds(rule.window_ms / 1000.0) +
                    " (disk full, or the store down): accepted work cannot be recorded");
        }
        break;
      }
      case RuleKind::kDiskFree:
        if (s.data_dir_free_bytes >= 0) {
          check({}, static_cast<double>(s.data_dir_free_bytes),
                FormatValue(std::round(s.data_dir_free_bytes / 1048576.0)) +
                    " MiB free on the data directory's file system");
        }
        break;
      case RuleKind::kBatchWindow:
        for (const BatchOutlook& b : s.batches) {
          if (b.estimated_finish_at <= 0) continue;
          const double left = static_cast<double>(std::max<TimeMs>(b.expires_at - s.now, 1));
          const double needs = static_cast<double>(b.estimated_finish_at - s.now) / left;
          check({{"batch", b.id}}, needs,
                "batch " + b.id + " is expected to finish in " +
                    Seconds((b.estimated_finish_at - s.now) / 1000.0) +
                    ", and its window closes in " + Seconds((b.expires_at - s.now) / 1000.0));
        }
        break;
      case RuleKind::kStalled: {
        const Sample* from = before(rule.window_ms);
        // Only once the whole window has been watched, and only while work waits.
        if (queued > 0 && from != nullptr && s.work_done_total == from->work_done &&
            s.finished_total == from->finished) {
          check({}, 1,
                FormatValue(queued) + " jobs queued and nothing progressed for " +
                    Seconds(rule.window_ms / 1000.0));
        }
        break;
      }
    }
  }
  return out;
}

bool AlertEvaluator::Inhibited(const Tracked& t) const {
  if (t.alert.severity != AlertSeverity::kWarning) return false;
  std::map<std::string, std::string> critical = t.alert.labels;
  critical["severity"] = AlertSeverityName(AlertSeverity::kCritical);
  auto it = tracked_.find(Fingerprint(critical));
  return it != tracked_.end() && it->second.firing;
}

void AlertEvaluator::Record(const Tracked& t, const char* event, TimeMs now) {
  if (config_.history_size <= 0) return;
  history_.push_front(
      {{"event", event},
       {"at", now / 1000.0},
       {"alertname", t.alert.rule},
       {"severity", AlertSeverityName(t.alert.severity)},
       {"labels", t.alert.labels},
       {"value", t.alert.value},
       {"threshold", t.alert.threshold},
       {"summary", t.alert.annotations.count("summary") ? t.alert.annotations.at("summary") : ""}});
  while (static_cast<int64_t>(history_.size()) > config_.history_size) history_.pop_back();
}

std::vector<Notification> AlertEvaluator::Evaluate(const AlertSignals& signals) {
  const TimeMs now = signals.now;
  std::map<std::string, std::vector<Alert>> to_send;  // by rule

  std::set<std::string> seen;
  for (Condition& c : Conditions(signals)) {
    std::map<std::string, std::string> labels = c.rule->labels;
    for (auto& [k, v] : c.labels) labels[k] = v;
    labels["alertname"] = RuleKindName(c.rule->kind);
    labels["severity"] = AlertSeverityName(c.severity);
    labels["service"] = "glmq";
    const std::string fp = Fingerprint(labels);
    seen.insert(fp);
    auto [it, fresh] = tracked_.try_emplace(fp);
    Tracked& t = it->second;
    if (fresh) {
      t.rule = c.rule;
      t.active_since = now;
      t.alert.rule = RuleKindName(c.rule->kind);
      t.alert.severity = c.severity;
      t.alert.labels = labels;
      t.alert.fingerprint = fp;
      Record(t, "pending", now);
    }
    t.last_true = now;
    t.alert.value = c.value;
    t.alert.threshold = c.threshold;
    t.alert.annotations["summary"] = c.summary;
    t.alert.annotations["value"] = FormatValue(c.value);
    t.alert.annotations["threshold"] = FormatValue(c.threshold);
    t.alert.annotations["description"] = std::string(AlertSeverityName(c.severity)) + ": " +
                                         c.summary + " (threshold " + FormatValue(c.threshold) +
                                         ")";
    if (!t.firing && now - t.active_since >= c.rule->for_ms) {
      t.firing = true;
      t.alert.firing = true;
      t.alert.starts_at = now;
      Record(t, "firing", now);
    }
  }

  for (auto it = tracked_.begin(); it != tracked_.end();) {
    Tracked& t = it->second;
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    if (!t.firing) {  // pending that cleared: nothing was said, nothing to say
      it = tracked_.erase(it);
      continue;
    }
    if (now - t.last_true < t.rule->keep_firing_for_ms) {
      ++it;
      continue;
    }
    t.alert.firing = false;
    t.alert.ends_at = now;
    Record(t, "resolved", now);
    // Whoever heard it fire hears it end, silenced or inhibited since or not.
    if (t.last_sent > 0) to_send[t.alert.rule].push_back(t.alert);
    it = tracked_.erase(it);
  }

  for (auto& [fp, t] : tracked_) {
    if (!t.firing || Inhibited(t)) continue;
    if (silences_ && !silences_->Matching(t.alert.labels, now).empty()) continue;
    const int64_t repeat = t.alert.severity == AlertSeverity::kCritical ? t.rule->repeat_critical_ms
                                                                        : t.rule->repeat_warning_ms;
    if (t.last_sent == 0 || now - t.last_sent >= repeat) {
      t.last_sent = now;
      to_send[t.alert.rule].push_back(t.alert);
    }
  }

  std::vector<Notification> out;
  for (auto& [rule, alerts] : to_send) {
    Notification n;
    n.alerts = std::move(alerts);
    n.group_key = "glmq/" + rule;
    n.external_url = config_.external_url;
    out.push_back(std::move(n));
  }
  return out;
}

json AlertEvaluator::ExportState() const {
  json alerts = json::array();
  for (const auto& [fp, t] : tracked_) {
    alerts.push_back({{"rule", t.alert.rule},
                      {"severity", AlertSeverityName(t.alert.severity)},
                      {"labels", t.alert.labels},
                      {"annotations", t.alert.annotations},
                      {"value", t.alert.value},
                      {"threshold", t.alert.threshold},
                      {"starts_at", t.alert.starts_at},
                      {"active_since", t.active_since},
                      {"last_true", t.last_true},
                      {"last_sent", t.last_sent},
                      {"firing", t.firing}});
  }
  return {{"version", 1}, {"alerts", alerts}};
}

void AlertEvaluator::ImportState(const json& state) {
  if (!state.is_object() || state.value("version", 0) != 1 || !state.contains("alerts")) return;
  tracked_.clear();
  for (const json& a : state["alerts"]) {
    const RuleConfig* rule = nullptr;
    for (const RuleConfig& r : config_.rules) {
      if (a.value("rule", "") == RuleKindName(r.kind)) rule = &r;
    }
    if (!rule || !a.contains("labels") || !a["labels"].is_object()) continue;  // rule removed
    Tracked t;
    t.rule = rule;
    t.alert.rule = RuleKindName(rule->kind);
    t.alert.severity =
        a.value("severity", "") == "critical" ? AlertSeverity::kCritical : AlertSeverity::kWarning;
    t.alert.labels = a["labels"].get<std::map<std::string, std::string>>();
    if (a.contains("annotations") && a["annotations"].is_object()) {
      t.alert.annotations = a["annotations"].get<std::map<std::string, std::string>>();
    }
    t.alert.value = a.value("value", 0.0);
    t.alert.threshold = a.value("threshold", 0.0);
    t.alert.starts_at = a.value("starts_at", TimeMs{0});
    t.alert.fingerprint = Fingerprint(t.alert.labels);
    t.active_since = a.value("active_since", TimeMs{0});
    t.last_true = a.value("last_true", TimeMs{0});
    t.last_sent = a.value("last_sent", TimeMs{0});
    t.firing = a.value("firing", false);
    t.alert.firing = t.firing;
    tracked_[t.alert.fingerprint] = std::move(t);
  }
}

std::vector<AlertView> AlertEvaluator::Active() const {
  std::vector<AlertView> out;
  const TimeMs now = samples_.empty() ? 0 : samples_.back().at;
  for (const auto& [fp, t] : tracked_) {
    AlertView v;
    v.alert = t.alert;
    v.pending = !t.firing;
    v.inhibited = Inhibited(t);
    if (silences_) v.silenced_by = silences_->Matching(t.alert.labels, now);
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const AlertView& a, const AlertView& b) {
    if (a.alert.severity != b.alert.severity) return a.alert.severity > b.alert.severity;
    return a.alert.labels < b.alert.labels;
  });
  return out;
}

}  // namespace glmq
