#include "batch/batch.h"

#include <array>
#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

#include "crypto/crypto.h"

namespace glmq {
namespace {

constexpr std::array<std::pair<BatchStatus, const char*>, 8> kNames = {{
    {BatchStatus::kValidating, "validating"},
    {BatchStatus::kFailed, "failed"},
    {BatchStatus::kInProgress, "in_progress"},
    {BatchStatus::kFinalizing, "finalizing"},
    {BatchStatus::kCompleted, "completed"},
    {BatchStatus::kExpired, "expired"},
    {BatchStatus::kCancelling, "cancelling"},
    {BatchStatus::kCancelled, "cancelled"},
}};

}  // namespace

const char* BatchStatusName(BatchStatus s) {
  for (const auto& [status, name] : kNames) {
    if (status == s) return name;
  }
  return "unknown";
}

std::optional<BatchStatus> ParseBatchStatus(std::string_view name) {
  for (const auto& [status, n] : kNames) {
    if (name == n) return status;
  }
  return std::nullopt;
}

bool IsTerminal(BatchStatus s) {
  return s == BatchStatus::kFailed || s == BatchStatus::kCompleted || s == BatchStatus::kExpired ||
         s == BatchStatus::kCancelled;
}

std::string EncodeBatch(const Batch& b) {
  nlohmann::json errors = nlohmann::json::array();
  for (const BatchError& e : b.errors) {
    errors.push_back(
        {{"code", e.code}, {"message", e.message}, {"line", e.line}, {"param", e.param}});
  }
  return nlohmann::json{{"id", b.id},
                        {"tenant", b.tenant},
                        {"endpoint", b.endpoint},
                        {"input_file_id", b.input_file_id},
                        {"completion_window", b.completion_window},
                        {"metadata", b.metadata_json},
                        {"webhook_url", b.webhook_url},
                        {"status", BatchStatusName(b.status)},
                        {"errors", errors},
                        {"output_file_id", b.output_file_id},
                        {"error_file_id", b.error_file_id},
                        {"last_order_key", b.last_order_key},
                        {"estimated_finish_at", b.estimated_finish_at},
                        {"created_at", b.created_at},
                        {"expires_at", b.expires_at},
                        {"in_progress_at", b.in_progress_at},
                        {"finalizing_at", b.finalizing_at},
                        {"completed_at", b.completed_at},
                        {"failed_at", b.failed_at},
                        {"expired_at", b.expired_at},
                        {"cancelling_at", b.cancelling_at},
                        {"cancelled_at", b.cancelled_at}}
      .dump();
}

Result<Batch> DecodeBatch(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Internal("a stored batch is not a JSON object");
  try {
    Batch b;
    b.id = j.at("id").get<std::string>();
    b.tenant = j.at("tenant").get<std::string>();
    b.endpoint = j.at("endpoint").get<std::string>();
    b.input_file_id = j.at("input_file_id").get<std::string>();
    b.completion_window = j.at("completion_window").get<std::string>();
    b.metadata_json = j.at("metadata").get<std::string>();
    b.webhook_url = j.value("webhook_url", std::string());
    const std::optional<BatchStatus> status = ParseBatchStatus(j.at("status").get<std::string>());
    if (!status) return Internal("a stored batch has an unknown status");
    b.status = *status;
    for (const auto& e : j.at("errors")) {
      b.errors.push_back({e.at("code").get<std::string>(), e.at("message").get<std::string>(),
                          e.at("line").get<int64_t>(), e.at("param").get<std::string>()});
    }
    b.output_file_id = j.at("output_file_id").get<std::string>();
    b.error_file_id = j.at("error_file_id").get<std::string>();
    b.last_order_key = j.value("last_order_key", int64_t{0});
    b.estimated_finish_at = j.value("estimated_finish_at", int64_t{0});
    for (auto [name, field] : {std::pair{"created_at", &b.created_at},
                               {"expires_at", &b.expires_at},
                               {"in_progress_at", &b.in_progress_at},
                               {"finalizing_at", &b.finalizing_at},
                               {"completed_at", &b.completed_at},
                               {"failed_at", &b.failed_at},
                               {"expired_at", &b.expired_at},
                               {"cancelling_at", &b.cancelling_at},
                               {"cancelled_at", &b.cancelled_at}}) {
      *field = j.at(name).get<int64_t>();
    }
    return b;
  } catch (const nlohmann::json::exception& e) {
    return Internal(std::string("a stored batch is malformed: ") + e.what());
  }
}

std::string NewBatchId() { return "batch_" + RandomHex(12); }

std::string BatchLineJobId(std::string_view batch_id, int64_t line) {
  const std::string digest = Sha256Hex(std::string(batch_id) + ":" + std::to_string(line));
  return "job_" + digest.substr(0, 24);
}

std::optional<int64_t> ParseCompletionWindow(std::string_view text) {
  constexpr int64_t kLeast = 10'000;
  constexpr int64_t kMost = 7ll * 24 * 3600 * 1000;
  if (text.size() < 2) return std::nullopt;
  int64_t n = 0;
  const char* end = text.data() + text.size() - 1;
  const auto [stop, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || stop != end || n <= 0 || n > kMost) return std::nullopt;
  int64_t unit_ms = 0;
  switch (text.back()) {
    case 's':
      unit_ms = 1000;
      break;
    case 'm':
      unit_ms = 60'000;
      break;
    case 'h':
      unit_ms = 3'600'000;
      break;
    case 'd':
      unit_ms = 86'400'000;
      break;
    default:
      return std::nullopt;
  }
  if (n > kMost / unit_ms) return std::nullopt;
  const int64_t ms = n * unit_ms;
  if (ms < kLeast || ms > kMost) return std::nullopt;
  return ms;
}

}  // namespace glmq
