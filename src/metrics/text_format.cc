#include "metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace glmq::metrics {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Status ValidateMetricName(std::string_view name) {
  if (name.empty()) return InvalidArgument("metric name is empty");
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || c == ':' || (i > 0 && IsAsciiDigit(c));
    if (!ok) return InvalidArgument("invalid metric name \"" + std::string(name) + "\"");
  }
  return Status::Ok();
}

Status ValidateLabelName(std::string_view name) {
  if (name.empty()) return InvalidArgument("label name is empty");
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAsciiLetter(c) || c == '_' || (i > 0 && IsAsciiDigit(c));
    if (!ok) return InvalidArgument("invalid label name \"" + std::string(name) + "\"");
  }
  if (name.starts_with("__")) {
    return InvalidArgument("label name \"" + std::string(name) + "\" is reserved");
  }
  return Status::Ok();
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Counters of tokens and jobs are integers; print them as such. Past 2^53 a double no
  // longer holds every integer, so the shortest round-trip form is the honest one.
  constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53
  if (value == std::trunc(value) && std::fabs(value) < kExactIntegerLimit) {
    // -0.0 prints as "0": the sign of a zero means nothing to a scraper.
    return std::to_string(static_cast<int64_t>(value));
  }
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) {  // cannot happen with 32 bytes; keep a parsable fallback
    std::snprintf(buf, sizeof(buf), "%.17g", value);
    return buf;
  }
  return std::string(buf, end);
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendHeader(std::string& out, std::string_view name, std::string_view help,
                  std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  AppendEscapedHelp(out, help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void AppendSample(std::string& out, std::string_view name, std::span<const std::string> names,
                  std::span<const std::string> values, double value, std::string_view extra_name,
                  std::string_view extra_value) {
  out += name;
  const bool has_labels = !names.empty() || !extra_name.empty();
  if (has_labels) {
    out += '{';
    bool first = true;
    auto append_label = [&](std::string_view label, std::string_view label_value) {
      if (!first) out += ',';
      first = false;
      out += label;
      out += "=\"";
      AppendEscapedLabelValue(out, label_value);
      out += '"';
    };
    for (size_t i = 0; i < names.size(); ++i) append_label(names[i], values[i]);
    if (!extra_name.empty()) append_label(extra_name, extra_value);
    out += '}';
  }
  out += ' ';
  out += FormatValue(value);
  out += '\n';
}

namespace internal {

void CheckProgrammerError(const Status& status) {
  if (status.ok()) return;
  std::fprintf(stderr, "glmq metrics: %s\n", status.ToString().c_str());
  std::abort();
}

}  // namespace internal
}  // namespace glmq::metrics
