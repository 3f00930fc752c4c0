#include "alert/rules.h"

#include <toml++/toml.h>

#include <cmath>

namespace glmq {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;

RuleConfig Rule(RuleKind kind, std::optional<double> warning, std::optional<double> critical,
                int64_t for_ms) {
  RuleConfig r;
  r.kind = kind;
  r.warning = warning;
  r.critical = critical;
  r.for_ms = for_ms;
  return r;
}

// A duration key: a number of seconds or a string with a unit.
Result<int64_t> DurationValue(const toml::node& node, const std::string& where) {
  if (auto s = node.value_exact<std::string>()) {
    auto ms = ParseDurationMs(*s);
    if (!ms.ok()) return InvalidArgument(where + ": " + ms.status().message());
    return *ms;
  }
  if (auto n = node.value<double>()) {
    if (*n < 0 || !std::isfinite(*n)) return InvalidArgument(where + " must not be negative");
    return static_cast<int64_t>(std::llround(*n * 1000));
  }
  return InvalidArgument(where + " must be a duration such as \"60s\" or a number of seconds");
}

Result<double> NumberValue(const toml::node& node, const std::string& where) {
  if (auto n = node.value<double>(); n && std::isfinite(*n)) return *n;
  return InvalidArgument(where + " must be a number");
}

Result<std::string> StringValue(const toml::node& node, const std::string& where) {
  if (auto s = node.value_exact<std::string>()) return *s;
  return InvalidArgument(where + " must be a string");
}

Status ApplyRule(const toml::table& table, const std::string& where, RuleConfig* rule) {
  for (const auto& [k, node] : table) {
    const std::string key(k.str());
    const std::string at = where + "." + key;
    if (key == "enabled") {
      auto b = node.value_exact<bool>();
      if (!b) return InvalidArgument(at + " must be true or false");
      rule->enabled = *b;
    } else if (key == "warning" || key == "critical") {
      std::optional<double>& level = key == "warning" ? rule->warning : rule->critical;
      if (auto b = node.value_exact<bool>(); b && !*b) {
        level.reset();  // `warning = false` turns that severity off
        continue;
      }
      GLMQ_ASSIGN_OR_RETURN(level, NumberValue(node, at));
    } else if (key == "for") {
      GLMQ_ASSIGN_OR_RETURN(rule->for_ms, DurationValue(node, at));
    } else if (key == "keep-firing-for") {
      GLMQ_ASSIGN_OR_RETURN(rule->keep_firing_for_ms, DurationValue(node, at));
    } else if (key == "repeat-warning") {
      GLMQ_ASSIGN_OR_RETURN(rule->repeat_warning_ms, DurationValue(node, at));
    } else if (key == "repeat-critical") {
      GLMQ_ASSIGN_OR_RETURN(rule->repeat_critical_ms, DurationValue(node, at));
    } else if (key == "window") {
      GLMQ_ASSIGN_OR_RETURN(rule->window_ms, DurationValue(node, at));
    } else if (key == "min-jobs") {
      GLMQ_ASSIGN_OR_RETURN(double n, NumberValue(node, at));
      if (n < 0) return InvalidArgument(at + " must not be negative");
      rule->min_jobs = static_cast<int64_t>(n);
    } else if (key == "labels") {
      const toml::table* labels = node.as_table();
      if (!labels) return InvalidArgument(at + " must be a table of strings");
      for (const auto& [name, value] : *labels) {
        GLMQ_ASSIGN_OR_RETURN(rule->labels[std::string(name.str())],
                              StringValue(value, at + "." + std::string(name.str())));
      }
    } else {
      return InvalidArgument(where + ": unknown key '" + key + "'");
    }
  }
  if (rule->repeat_warning_ms <= 0 || rule->repeat_critical_ms <= 0) {
    return InvalidArgument(where + ": repeat intervals must be positive");
  }
  // disk_free fires below its levels: its critical level is the lower one.
  const bool below = rule->kind == RuleKind::kDiskFree;
  if (rule->warning && rule->critical &&
      (below ? *rule->critical > *rule->warning : *rule->critical < *rule->warning)) {
    return InvalidArgument(where + ": critical (" + std::to_string(*rule->critical) + ") is " +
                           (below ? "above" : "below") + " warning (" +
                           std::to_string(*rule->warning) + ")");
  }
  return Status::Ok();
}

Result<ChannelConfig> ParseChannel(const toml::table& table, const std::string& where) {
  ChannelConfig c;
  for (const auto& [k, node] : table) {
    const std::string key(k.str());
    const std::string at = where + "." + key;
    if (key == "to") {
      if (const toml::array* list = node.as_array()) {
        for (const toml::node& item : *list) {
          GLMQ_ASSIGN_OR_RETURN(std::string address, StringValue(item, at));
          c.to.push_back(std::move(address));
        }
      } else {
        GLMQ_ASSIGN_OR_RETURN(std::string address, StringValue(node, at));
        c.to.push_back(std::move(address));
      }
    } else if (key == "rate-limits") {
      // [{ max = 20, per = "1m" }, ...]; [] turns the type's default limits off.
      const toml::array* list = node.as_array();
      if (!list) return InvalidArgument(at + " must be an array of { max, per } tables");
      std::vector<RateLimit> limits;
      for (const toml::node& item : *list) {
        const toml::table* t = item.as_table();
        if (!t || !(*t)["max"] || !(*t)["per"]) {
          return InvalidArgument(at + ": each limit needs max (messages) and per (a duration)");
        }
        GLMQ_ASSIGN_OR_RETURN(double max, NumberValue(*(*t)["max"].node(), at + ".max"));
        GLMQ_ASSIGN_OR_RETURN(int64_t per_ms, DurationValue(*(*t)["per"].node(), at + ".per"));
        if (max < 1 || per_ms <= 0) return InvalidArgument(at + ": max and per must be positive");
        limits.push_back({static_cast<int>(max), per_ms / 1000.0});
      }
      c.rate_limits = std::move(limits);
    } else if (key == "starttls") {
      auto b = node.value_exact<bool>();
      if (!b) return InvalidArgument(at + " must be true or false");
      c.starttls = *b;
    } else if (key == "timeout") {
      GLMQ_ASSIGN_OR_RETURN(int64_t ms, DurationValue(node, at));
      c.timeout_seconds = ms / 1000.0;
    } else {
      std::string* field = key == "name"       ? &c.name
                           : key == "type"     ? &c.type
                           : key == "url"      ? &c.url
                           : key == "secret"   ? &c.secret
                           : key == "smtp-url" ? &c.smtp_url
                           : key == "username" ? &c.username
                           : key == "password" ? &c.password
                           : key == "from"     ? &c.from
                                               : nullptr;
      if (!field) return InvalidArgument(where + ": unknown key '" + key + "'");
      GLMQ_ASSIGN_OR_RETURN(*field, StringValue(node, at));
    }
  }
  if (c.name.empty()) c.name = c.type;
  return c;
}

}  // namespace

const char* RuleKindName(RuleKind kind) {
  switch (kind) {
    case RuleKind::kQueueDepth:
      return "queue_depth";
    case RuleKind::kDrainTime:
      return "drain_time";
    case RuleKind::kOldestAge:
      return "oldest_age";
    case RuleKind::kRunningDuration:
      return "running_duration";
    case RuleKind::kErrorRate:
      return "error_rate";
    case RuleKind::kNoWorker:
      return "no_worker";
    case RuleKind::kStalled:
      return "stalled";
    case RuleKind::kStoreErrors:
      return "store_errors";
    case RuleKind::kDiskFree:
      return "disk_free";
    case RuleKind::kBatchWindow:
      return "batch_window";
  }
  return "unknown";
}

AlertConfig DefaultAlertConfig() {
  AlertConfig c;
  c.rules = {
      Rule(RuleKind::kQueueDepth, 50, 100, kMinute),
      Rule(RuleKind::kDrainTime, 5 * 60, 15 * 60, kMinute),
      Rule(RuleKind::kOldestAge, 10 * 60, 30 * 60, kMinute),
      Rule(RuleKind::kRunningDuration, 300, 600, 0),
      Rule(RuleKind::kErrorRate, 0.10, 0.30, kMinute),
      // Conditions, not levels: 1 means "true".
      Rule(RuleKind::kNoWorker, std::nullopt, 1, 30 * kSecond),
      Rule(RuleKind::kStalled, std::nullopt, 1, 0),
      // Any refused write in the last minute: accepted work cannot be recorded.
      Rule(RuleKind::kStoreErrors, std::nullopt, 1, 0),
      // Bytes: a warning below 5 GiB free, critical below 1 GiB (a document is megabytes,
      // a saved prefix gigabytes).
      Rule(RuleKind::kDiskFree, 5.0 * (1 << 30), 1.0 * (1 << 30), kMinute),
      // A batch expected to need 80 % of the time its window has left warns; one expected to
      // finish after its window closes is critical, long before it expires.
      Rule(RuleKind::kBatchWindow, 0.8, 1.0, kMinute),
  };
  for (RuleConfig& r : c.rules) {
    if (r.kind == RuleKind::kStoreErrors) r.window_ms = kMinute;
  }
  return c;
}

Result<int64_t> ParseDurationMs(const std::string& text) {
  size_t used = 0;
  double number = 0;
  try {
    number = std::stod(text, &used);
  } catch (const std::exception&) {
    return InvalidArgument("'" + text + "' is not a duration (e.g. \"90s\", \"5m\", \"1h\")");
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1000;
  if (unit == "ms") scale = 1;
  if (unit == "m") scale = 60'000;
  if (unit == "h") scale = 3'600'000;
  if (scale == 0 || number < 0 || !std::isfinite(number)) {
    return InvalidArgument("'" + text + "' is not a duration (e.g. \"90s\", \"5m\", \"1h\")");
  }
  return static_cast<int64_t>(std::llround(number * scale));
}

Result<AlertConfig> LoadAlertConfig(const std::string& path) {
  AlertConfig config = DefaultAlertConfig();
  if (path.empty()) return config;
  toml::table file;
  try {
    file = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return InvalidArgument("cannot read config file " + path + ": " + std::string(e.description()));
  }
  const toml::table* alerts = file["alerts"].as_table();
  if (!alerts) return config;
  const std::string where = path + ": alerts";
  for (const auto& [k, node] : *alerts) {
    const std::string key(k.str());
    const std::string at = where + "." + key;
    if (key == "interval") {
      GLMQ_ASSIGN_OR_RETURN(config.interval_ms, DurationValue(node, at));
      if (config.interval_ms < 10) return InvalidArgument(at + " must be at least 10ms");
    } else if (key == "external-url") {
      GLMQ_ASSIGN_OR_RETURN(config.external_url, StringValue(node, at));
    } else if (key == "history-size") {
      GLMQ_ASSIGN_OR_RETURN(double n, NumberValue(node, at));
      config.history_size = std::max<int64_t>(0, static_cast<int64_t>(n));
    } else if (key == "rules") {
      const toml::table* rules = node.as_table();
      if (!rules) return InvalidArgument(at + " must be a table of rules");
      for (const auto& [name, rule_node] : *rules) {
        const std::string rule_name(name.str());
        RuleConfig* rule = nullptr;
        for (RuleConfig& r : config.rules) {
          if (rule_name == RuleKindName(r.kind)) rule = &r;
        }
        if (!rule) {
          return InvalidArgument(
              at + ": unknown rule '" + rule_name +
              "' (queue_depth, drain_time, oldest_age, running_duration, "
              "error_rate, no_worker, stalled, store_errors, disk_free, batch_window)");
        }
        const toml::table* table = rule_node.as_table();
        if (!table) return InvalidArgument(at + "." + rule_name + " must be a table");
        GLMQ_RETURN_IF_ERROR(ApplyRule(*table, at + "." + rule_name, rule));
      }
    } else if (key == "channels") {
      const toml::array* channels = node.as_array();
      if (!channels)
        return InvalidArgument(at + " must be an array of tables ([[alerts.channels]])");
      for (size_t i = 0; i < channels->size(); ++i) {
        const toml::table* table = (*channels)[i].as_table();
        const std::string item = at + "[" + std::to_string(i) + "]";
        if (!table) return InvalidArgument(item + " must be a table");
        GLMQ_ASSIGN_OR_RETURN(ChannelConfig channel, ParseChannel(*table, item));
        config.channels.push_back(std::move(channel));
      }
    } else {
      return InvalidArgument(where + ": unknown key '" + key + "'");
    }
  }
  return config;
}

}  // namespace glmq
