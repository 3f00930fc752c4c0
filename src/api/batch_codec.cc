#include "api/batch_codec.h"

#include "api/chat_completion.h"
#include "api/fast_json.h"
#include "api/job_json.h"

namespace glmq {
namespace {

using json = nlohmann::json;

constexpr std::string_view kChatEndpoint = "/v1/chat/completions";
constexpr std::string_view kJobsEndpoint = "/v1/jobs";

// "batch_req_" and the hex of the job id: one id per request, the same however often the
// line is rendered.
std::string RequestId(const BatchLine& line) {
  return "batch_req_" + (line.job_id.size() > 4 ? line.job_id.substr(4) : line.custom_id);
}

json Line(const BatchLine& line, json response, json error) {
  return {{"id", RequestId(line)},
          {"custom_id", line.custom_id},
          {"response", std::move(response)},
          {"error", std::move(error)}};
}

json Seconds(TimeMs ms) { return ms > 0 ? json(ms / 1000) : json(nullptr); }

}  // namespace

bool IsBatchEndpoint(std::string_view endpoint) {
  return endpoint == kChatEndpoint || endpoint == kJobsEndpoint;
}

Result<json> ApiBatchCodec::ParseLine(std::string text) const { return ParseJson(std::move(text)); }

Result<JobRequest> ApiBatchCodec::ParseBody(const std::string& endpoint, json body) const {
  if (endpoint == kJobsEndpoint) return JobRequestFromJson(std::move(body), limits_);
  bool stream = false;
  GLMQ_ASSIGN_OR_RETURN(JobRequest request,
                        OpenAiChatRequestFromJson(std::move(body), limits_, &stream));
  if (stream) return InvalidArgument("'stream' cannot be true in a batch: answers go to a file");
  return request;
}

void ApiBatchCodec::Render(const std::string& endpoint, const Job& job, BatchLine& line,
                           std::string_view code, std::string_view message) const {
  line.usage = {.input_tokens = job.usage.prompt_tokens,
                .cached_tokens = job.usage.cached_tokens,
                .output_tokens = job.usage.completion_tokens};
  if (code.empty() && job.state == JobState::kSucceeded) {
    json body = endpoint == kJobsEndpoint ? JobToJson(job) : ChatCompletionJson(job, model_);
    line.ok = true;
    line.result =
        Line(line, {{"status_code", 200}, {"request_id", job.id}, {"body", std::move(body)}},
             nullptr)
            .dump();
    return;
  }
  std::string error_code(code), error_message(message);
  if (error_code.empty()) {
    switch (job.state) {
      case JobState::kCancelled:
        error_code = "cancelled";
        error_message = "the request's job was cancelled";
        break;
      case JobState::kExpired:
        error_code = "timeout";
        error_message = "the request's timeout passed before it ended";
        break;
      default:
        error_code = job.error_code.empty() ? "failed" : job.error_code;
        error_message = job.error_message.empty() ? "the request failed" : job.error_message;
    }
  }
  line.ok = false;
  line.result = Line(line, nullptr, {{"code", error_code}, {"message", error_message}}).dump();
}

void ApiBatchCodec::RenderRefusal(BatchLine& line, std::string_view code,
                                  std::string_view message) const {
  line.ok = false;
  line.usage = {};
  line.result = Line(line, nullptr, {{"code", code}, {"message", message}}).dump();
}

json BatchJson(const Batch& b) {
  json errors = nullptr;
  if (!b.errors.empty()) {
    json data = json::array();
    for (const BatchError& e : b.errors) {
      data.push_back({{"code", e.code},
                      {"message", e.message},
                      {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                      {"line", e.line > 0 ? json(e.line) : json(nullptr)}});
    }
    errors = {{"object", "list"}, {"data", std::move(data)}};
  }
  json metadata = json::parse(b.metadata_json, nullptr, false);
  if (metadata.is_discarded() || (metadata.is_object() && metadata.empty())) metadata = nullptr;
  return {
      {"id", b.id},
      {"object", "batch"},
      {"endpoint", b.endpoint},
      {"errors", std::move(errors)},
      {"input_file_id", b.input_file_id},
      {"completion_window", b.completion_window},
      {"status", BatchStatusName(b.status)},
      {"output_file_id", b.output_file_id.empty() ? json(nullptr) : json(b.output_file_id)},
      {"error_file_id", b.error_file_id.empty() ? json(nullptr) : json(b.error_file_id)},
      {"created_at", b.created_at / 1000},
      {"in_progress_at", Seconds(b.in_progress_at)},
      {"expires_at", Seconds(b.expires_at)},
      {"finalizing_at", Seconds(b.finalizing_at)},
      {"completed_at", Seconds(b.completed_at)},
      {"failed_at", Seconds(b.failed_at)},
      {"expired_at", Seconds(b.expired_at)},
      {"cancelling_at", Seconds(b.cancelling_at)},
      {"cancelled_at", Seconds(b.cancelled_at)},
      // glmq's own: when the batch is expected to finish (see Batch::estimated_finish_at).
      {"estimated_finish_at", Seconds(b.estimated_finish_at)},
      {"request_counts", {{"total", b.total}, {"completed", b.completed}, {"failed", b.failed}}},
      {"usage",
       {{"input_tokens", b.usage.input_tokens},
        {"input_tokens_details", {{"cached_tokens", b.usage.cached_tokens}}},
        {"output_tokens", b.usage.output_tokens},
        {"output_tokens_details", {{"reasoning_tokens", 0}}},
        {"total_tokens", b.usage.input_tokens + b.usage.output_tokens}}},
      {"metadata", std::move(metadata)},
      // glmq's own: where its end is announced.
      {"webhook_url", b.webhook_url.empty() ? json(nullptr) : json(b.webhook_url)}};
}

}  // namespace glmq
