#include "api/chat_completion.h"

#include <optional>

#include "api/job_json.h"
#include "api/json_response.h"

namespace glmq {
namespace {

// The error for a job that did not succeed; nullopt if it did.
std::optional<HttpResponse> ChatCompletionError(const Result<Job>& fetched, bool draining) {
  if (!fetched.ok()) return ErrorResponse(fetched.status());
  const Job& job = *fetched;
  const std::string where = " (job " + job.id + ", at /v1/jobs/" + job.id + ")";
  switch (job.state) {
    case JobState::kSucceeded:
      return std::nullopt;
    case JobState::kQueued:
    case JobState::kRunning: {
      HttpResponse res = ErrorResponse(ErrorCode::kStillRunning,
                                       std::string("the job is still ") + JobStateName(job.state) +
                                           (draining ? " and this server is shutting down" : "") +
                                           "; it goes on, and its answer will be" + where);
      res.set(http::field::location, "/v1/jobs/" + job.id);
      return res;
    }
    case JobState::kCancelled:
      return ErrorResponse(ErrorCode::kCancelled, "the job was cancelled" + where);
    case JobState::kExpired:
      return ErrorResponse(ErrorCode::kTimeout, "the job's timeout passed" + where);
    case JobState::kFailed:
      break;
  }
  return ErrorResponse(http::status::internal_server_error,
                       job.error_code.empty() ? "failed" : job.error_code,
                       job.error_message + where);
}

// The fields every chat completion object (or chunk) of `job` starts with.
json ChatObject(const Job& job, std::string_view model, const char* object) {
  return {{"id", "chatcmpl-" + job.id},
          {"object", object},
          {"created", job.created_at / 1000},
          {"model", model.empty() ? std::string("glmq") : std::string(model)}};
}

// One server-sent event carrying `chunk` (text that is not UTF-8 is replaced, not refused).
std::string DataEvent(const json& chunk) {
  return "data: " + chunk.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace

json ChatCompletionJson(const Job& job, std::string_view model) {
  json body = ChatObject(job, model, "chat.completion");
  body["choices"] = json::array({{{"index", 0},
                                  {"message", {{"role", "assistant"}, {"content", job.output}}},
                                  {"finish_reason", job.finish_reason}}});
  body["usage"] = UsageToJson(job.usage);
  return body;
}

HttpResponse ChatCompletionAnswer(const Result<Job>& fetched, bool draining,
                                  std::string_view model) {
  if (auto error = ChatCompletionError(fetched, draining)) return std::move(*error);
  const Job& job = *fetched;
  HttpResponse res = JsonResponse(http::status::ok, ChatCompletionJson(job, model));
  res.set("Glmq-Job", job.id);
  return res;
}

std::string ChatDeltaEvent(const Job& job, std::string_view model, std::string_view text,
                           bool first) {
  json delta = {{"content", text}};
  if (first) delta["role"] = "assistant";
  json chunk = ChatObject(job, model, "chat.completion.chunk");
  chunk["choices"] =
      json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}});
  return DataEvent(chunk);
}

std::string ChatCompletionEvents(const Result<Job>& fetched, bool draining, std::string_view model,
                                 std::string_view sent) {
  std::optional<HttpResponse> error = ChatCompletionError(fetched, draining);
  if (!error && !fetched->output.starts_with(sent)) {
    const Job& job = *fetched;
    error = ErrorResponse(ErrorCode::kAnswerRestarted,
                          "the job ran again after its worker was lost, and its answer is not "
                          "the one streamed so far; the whole answer is at /v1/jobs/" +
                              job.id);
  }
  std::string events;
  if (error) {
    std::string body = error->body();
    while (!body.empty() && body.back() == '\n') body.pop_back();
    events = "data: " + body + "\n\n";
  } else {
    const Job& job = *fetched;
    if (sent.empty() || job.output.size() > sent.size()) {
      events = ChatDeltaEvent(job, model, std::string_view(job.output).substr(sent.size()),
                              sent.empty());
    }
    json last = ChatObject(job, model, "chat.completion.chunk");
    last["choices"] = json::array(
        {{{"index", 0}, {"delta", json::object()}, {"finish_reason", job.finish_reason}}});
    last["usage"] = UsageToJson(job.usage);
    events += DataEvent(last);
  }
  return events + "data: [DONE]\n\n";
}

}  // namespace glmq
