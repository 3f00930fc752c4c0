// The pieces of the Prometheus text exposition format 0.0.4 that every metric shares:
// name rules, escaping and number spelling. Pure functions, so any thread may call them.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace glmq::metrics {

// [a-zA-Z_:][a-zA-Z0-9_:]*
Status ValidateMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved for Prometheus itself).
Status ValidateLabelName(std::string_view name);

// A sample value as Prometheus parses it: integral values without exponent or fraction
// ("42", "-3"), others in the shortest form that reads back to the same double
// ("0.005", "1e-07"), and "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

// Label values escape backslash, double quote and newline.
void AppendEscapedLabelValue(std::string& out, std::string_view value);
// HELP text escapes backslash and newline only (a quote is literal there).
void AppendEscapedHelp(std::string& out, std::string_view help);

// "# HELP name help\n# TYPE name type\n".
void AppendHeader(std::string& out, std::string_view name, std::string_view help,
                  std::string_view type);

// One sample line: `name{l1="v1",...,extra_name="extra_value"} value\n`. Braces are left
// out when there are no labels; `extra_name` (e.g. "le") is skipped when empty.
// `names` and `values` have the same size.
void AppendSample(std::string& out, std::string_view name, std::span<const std::string> names,
                  std::span<const std::string> values, double value,
                  std::string_view extra_name = {}, std::string_view extra_value = {});

namespace internal {
// Metric and label names are written in code, so a bad one is a bug: print why and abort,
// in every build type (an assert would let a broken exposition through in Release).
void CheckProgrammerError(const Status& status);
}  // namespace internal

}  // namespace glmq::metrics
