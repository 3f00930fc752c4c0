#include "core/job.h"

#include <chrono>
#include <random>

namespace glmq {

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kExpired:
      return "expired";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view name) {
  for (JobState s : kAllJobStates) {
    if (name == JobStateName(s)) return s;
  }
  return std::nullopt;
}

const char* LengthClassName(LengthClass c) {
  switch (c) {
    case LengthClass::kShort:
      return "short";
    case LengthClass::kMedium:
      return "medium";
    case LengthClass::kLong:
      return "long";
  }
  return "unknown";
}

std::optional<LengthClass> ParseLengthClass(std::string_view name) {
  for (LengthClass c : kAllLengthClasses) {
    if (name == LengthClassName(c)) return c;
  }
  return std::nullopt;
}

const char* ResponseFormatName(ResponseFormat f) {
  switch (f) {
    case ResponseFormat::kJsonObject:
      return "json_object";
    case ResponseFormat::kJsonSchema:
      return "json_schema";
    case ResponseFormat::kText:
      break;
  }
  return "text";
}

std::optional<ResponseFormat> ParseResponseFormat(std::string_view name) {
  for (ResponseFormat f :
       {ResponseFormat::kText, ResponseFormat::kJsonObject, ResponseFormat::kJsonSchema}) {
    if (name == ResponseFormatName(f)) return f;
  }
  return std::nullopt;
}

std::string NewJobId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "job_";
  for (int word = 0; word < 2; ++word) {
    uint64_t bits = rng();
    for (int i = 0; i < 12; ++i) {
      id.push_back(kHex[bits & 0xf]);
      bits >>= 4;
    }
  }
  return id;
}

bool IsValidJobId(std::string_view id) {
  if (id.size() != 28 || id.substr(0, 4) != "job_") return false;
  for (char c : id.substr(4)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsValidTenant(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

TimeMs NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace glmq
