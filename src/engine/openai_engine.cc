#include "engine/openai_engine.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error_codes.h"
#include "engine/prompt.h"
#include "net/curl.h"

namespace glmq {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxAnswerBytes = 64u << 20;
constexpr auto kStepWait = std::chrono::milliseconds(100);

Completion Failed(ErrorCode code, std::string message) {
  Completion c;
  c.state = JobState::kFailed;
  c.finish_reason = "error";
  c.error_code = ErrorCodeName(code);
  c.error_message = std::move(message);
  return c;
}

// The upstream could not take the job now (down, overloaded): the job is run again later.
Completion RetryLater(std::string message) {
  Completion c = Failed(ErrorCode::kUpstreamUnavailable, std::move(message));
  c.retry_later = true;
  return c;
}

// The answer of a chat completion, or why there is none.
Completion ParseAnswer(long status, const std::string& body) {
  const json doc = json::parse(body, nullptr, false);
  if (status != 200) {
    std::string why = body.substr(0, 300);
    if (doc.is_object() && doc.contains("error")) {
      const json& e = doc["error"];
      why = e.is_object() ? e.value("message", e.dump()) : e.dump();
    }
    const std::string message = "the upstream answered HTTP " + std::to_string(status) + ": " + why;
    // Busy or broken for now, not this job's fault.
    if (status == 408 || status == 429 || status >= 500) return RetryLater(message);
    return Failed(ErrorCode::kUpstreamError, message);
  }
  if (!doc.is_object() || !doc.contains("choices") || !doc["choices"].is_array() ||
      doc["choices"].empty() || !doc["choices"][0].is_object()) {
    return Failed(ErrorCode::kUpstreamError,
                  "the upstream's answer has no choices: " + body.substr(0, 300));
  }
  const json& choice = doc["choices"][0];
  Completion c;
  c.state = JobState::kSucceeded;
  if (choice.contains("message") && choice["message"].is_object()) {
    const json& content = choice["message"].value("content", json());
    if (content.is_string()) c.output = content.get<std::string>();
  }
  const json& reason = choice.value("finish_reason", json());
  c.finish_reason = reason.is_string() ? reason.get<std::string>() : "stop";
  if (doc.contains("usage") && doc["usage"].is_object()) {
    const json& u = doc["usage"];
    c.usage.prompt_tokens = u.value("prompt_tokens", int64_t{0});
    c.usage.completion_tokens = u.value("completion_tokens", int64_t{0});
    if (u.contains("prompt_tokens_details") && u["prompt_tokens_details"].is_object()) {
      c.usage.cached_tokens = u["prompt_tokens_details"].value("cached_tokens", int64_t{0});
    }
  }
  return c;
}

}  // namespace

struct OpenAiEngine::Call {
  std::string job_id;
  std::string body;
  TimeMs deadline_at = 0;
  std::atomic<bool> abort{false};
  std::atomic<JobState> stop_state{JobState::kCancelled};
  bool done = false;  // guarded by the engine's mu_
  Completion completion;
  std::thread thread;
};

OpenAiEngine::OpenAiEngine(std::unique_ptr<Tokenizer> tokenizer, OpenAiEngineOptions options)
    : tokenizer_(std::move(tokenizer)), options_(std::move(options)) {}

Result<std::unique_ptr<OpenAiEngine>> OpenAiEngine::Create(std::unique_ptr<Tokenizer> tokenizer,
                                                           OpenAiEngineOptions options) {
  if (options.base_url.rfind("http://", 0) != 0 && options.base_url.rfind("https://", 0) != 0) {
    return InvalidArgument(
        "--upstream must be an http:// or https:// URL, such as "
        "http://10.0.0.5:8000/v1");
  }
  while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
  if (options.parallel < 1 || options.parallel > 1024) {
    return InvalidArgument("--parallel must be between 1 and 1024");
  }
  std::unique_ptr<OpenAiEngine> engine(new OpenAiEngine(std::move(tokenizer), std::move(options)));
  ModelInfo& info = engine->info_;
  info = engine->tokenizer_->info();
  info.parallel = engine->options_.parallel;
  if (!engine->options_.model.empty()) info.name = engine->options_.model;
  spdlog::info("engine: {}/chat/completions, model '{}', {} requests at once, context {} tokens",
               engine->options_.base_url, info.name, info.parallel, info.ctx_size);
  return engine;
}

OpenAiEngine::~OpenAiEngine() {
  std::map<std::string, std::shared_ptr<Call>> calls;
  {
    std::lock_guard lock(mu_);
    calls.swap(calls_);
  }
  for (auto& [id, call] : calls) call->abort = true;
  for (auto& [id, call] : calls) {
    if (call->thread.joinable()) call->thread.join();
  }
}

int32_t OpenAiEngine::ActiveSequences() const {
  std::lock_guard lock(mu_);
  return static_cast<int32_t>(calls_.size());
}

int32_t OpenAiEngine::FreeSlots() const { return info_.parallel - ActiveSequences(); }

// The upstream keeps its own memory (glmq_kv_used_tokens reads 0 for a remote engine).
int64_t OpenAiEngine::FreeKvTokens() const { return info_.ctx_size; }

std::string OpenAiEngine::RequestBody(const JobRequest& request) const {
  json messages = json::array();
  for (const ChatMessage& m : RequestMessages(request)) {
    messages.push_back({{"role", m.role}, {"content", m.content}});
  }
  const SamplingParams& sp = request.sampling;
  json body = {{"model", info_.name},
               {"messages", std::move(messages)},
               {"max_tokens", sp.max_tokens},
               {"temperature", sp.temperature},
               {"stream", false}};
  if (sp.top_p < 1.0f) body["top_p"] = sp.top_p;
  if (sp.seed) body["seed"] = *sp.seed;
  if (!sp.stop.empty()) body["stop"] = sp.stop;
  if (sp.format != ResponseFormat::kText) {
    body["response_format"] = {{"type", ResponseFormatName(sp.format)}};
    if (!sp.json_schema.empty()) {
      body["response_format"]["json_schema"] = json::parse(sp.json_schema, nullptr, false);
    }
  }
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status OpenAiEngine::Admit(const Job& job, PromptTokens& prompt) {
  // The upstream reads the text; the tokens are for the context check, which is
  // tokenizer()'s (the upstream's context is --ctx-size).
  GLMQ_RETURN_IF_ERROR(
      tokenizer_->CheckFits(static_cast<int64_t>(prompt.size()), job.request.sampling.max_tokens));
  if (FreeSlots() <= 0) return Status(StatusCode::kResourceExhausted, "no free request slot");
  auto call = std::make_shared<Call>();
  call->job_id = job.id;
  call->body = RequestBody(job.request);
  call->deadline_at = job.deadline_at;
  std::lock_guard lock(mu_);
  calls_[job.id] = call;
  call->thread = std::thread([this, call] { Run(call); });
  return Status::Ok();
}

void OpenAiEngine::Run(std::shared_ptr<Call> call) {
  net::HttpCall request;
  request.method = "POST";
  request.url = options_.base_url + "/chat/completions";
  request.headers = {"Content-Type: application/json"};
  if (!options_.api_key.empty())
    request.headers.push_back("Authorization: Bearer " + options_.api_key);
  request.body = call->body;
  request.has_body = true;
  request.timeout_seconds = options_.timeout_seconds;
  request.abort = &call->abort;
  // A longer answer is cut there, and then does not parse: the job fails, not the worker.
  request.max_response_bytes = kMaxAnswerBytes;
  auto answer = net::Fetch(request);
  Completion completion;
  if (call->abort) {
    const JobState state = call->stop_state.load();
    completion.state = state;
    completion.finish_reason = state == JobState::kExpired ? "timeout" : "cancelled";
    if (state == JobState::kExpired) {
      completion.error_code = ErrorCodeName(ErrorCode::kTimeout);
      completion.error_message = "the job's timeout_seconds passed while it was running";
    }
  } else if (!answer.ok()) {
    completion =
        RetryLater("no answer from " + request.url + ": " + std::string(answer.status().message()));
  } else {
    completion = ParseAnswer(answer->status, answer->body);
  }
  std::lock_guard lock(mu_);
  call->completion = std::move(completion);
  call->done = true;
  ended_.notify_all();
}

void OpenAiEngine::Stop(const std::string& id, JobState state) {
  std::lock_guard lock(mu_);
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  it->second->stop_state = state;
  it->second->abort = true;
}

StepReport OpenAiEngine::Step(const StepHints& /*hints*/) {
  const TimeMs now = NowMs();
  StepReport report;
  std::vector<std::shared_ptr<Call>> ended;
  {
    std::unique_lock lock(mu_);
    for (auto& [id, call] : calls_) {
      if (!call->done && call->deadline_at > 0 && now >= call->deadline_at && !call->abort) {
        call->stop_state = JobState::kExpired;
        call->abort = true;
      }
    }
    auto any_done = [this] {
      for (const auto& [id, call] : calls_) {
        if (call->done) return true;
      }
      return false;
    };
    ended_.wait_for(lock, kStepWait, any_done);
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (it->second->done) {
        ended.push_back(it->second);
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& call : ended) {
    call->thread.join();
    report.prompt_tokens +=
        call->completion.usage.prompt_tokens - call->completion.usage.cached_tokens;
    report.reused_prompt_tokens += call->completion.usage.cached_tokens;
    report.generated_tokens += call->completion.usage.completion_tokens;
    report.finished.push_back({call->job_id, std::move(call->completion)});
  }
  // No step time: the tokens were made upstream over the whole request, not in this wait,
  // and a step's timing must not pass for the model's speed (sched/throughput.h).
  report.seconds = 0;
  return report;
}

}  // namespace glmq
