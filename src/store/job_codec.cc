#include "store/job_codec.h"

#include <exception>
#include <nlohmann/json.hpp>

#include "core/json_writer.h"
#include "core/utf8.h"

namespace glmq {
namespace {

using nlohmann::json;

// Reads `key` into `out` when present; a present key of the wrong type throws, and the
// caller turns that into a Status.
template <typename T>
void ReadIfPresent(const json& object, const char* key, T* out) {
  auto it = object.find(key);
  if (it != object.end() && !it->is_null()) *out = it->get<T>();
}

}  // namespace

// Written on every submit, so straight to text (core/json_writer.h); read back by
// DecodeRequestParams through nlohmann::json.
Result<std::string> EncodeRequestParams(const JobRequest& request) {
  const SamplingParams& s = request.sampling;
  if (!IsValidUtf8(request.question)) {
    return InvalidArgument("request parameters: the question is not valid UTF-8");
  }
  for (const std::string& stop : s.stop) {
    if (!IsValidUtf8(stop)) {
      return InvalidArgument("request parameters: a stop string is not valid UTF-8");
    }
  }
  std::string out;
  out.reserve(160 + request.question.size());
  JsonObjectWriter params(out);
  params.String("question", request.question);
  JsonObjectWriter sampling(params.Key("sampling"));
  sampling.Int("max_tokens", s.max_tokens)
      .Float("temperature", s.temperature)
      .Float("top_p", s.top_p);
  std::string& stops = sampling.Key("stop");
  stops.push_back('[');
  for (size_t i = 0; i < s.stop.size(); ++i) {
    if (i > 0) stops.push_back(',');
    AppendJsonString(stops, s.stop[i]);
  }
  stops.push_back(']');
  if (s.seed) AppendJsonNumber(sampling.Key("seed"), *s.seed);
  if (s.format != ResponseFormat::kText) {
    sampling.String("response_format", ResponseFormatName(s.format));
  }
  if (!s.json_schema.empty()) sampling.String("json_schema", s.json_schema);
  sampling.Close();
  params.Int("priority", request.priority).Number("timeout_seconds", request.timeout_seconds);
  // Only when set: the stores look for this key to know a job has a webhook.
  if (!request.webhook_url.empty()) params.String("webhook_url", request.webhook_url);
  params.Close();
  return out;
}

Status DecodeRequestParams(std::string_view text, JobRequest* request) {
  try {
    json params = json::parse(text);
    if (!params.is_object()) return Internal("stored request parameters are not an object");
    ReadIfPresent(params, "question", &request->question);
    ReadIfPresent(params, "priority", &request->priority);
    ReadIfPresent(params, "timeout_seconds", &request->timeout_seconds);
    ReadIfPresent(params, "webhook_url", &request->webhook_url);
    auto sampling = params.find("sampling");
    if (sampling != params.end() && sampling->is_object()) {
      SamplingParams& out = request->sampling;
      ReadIfPresent(*sampling, "max_tokens", &out.max_tokens);
      ReadIfPresent(*sampling, "temperature", &out.temperature);
      ReadIfPresent(*sampling, "top_p", &out.top_p);
      ReadIfPresent(*sampling, "stop", &out.stop);
      auto seed = sampling->find("seed");
      if (seed != sampling->end() && !seed->is_null()) out.seed = seed->get<uint64_t>();
      std::string format;
      ReadIfPresent(*sampling, "response_format", &format);
      if (!format.empty()) {
        const std::optional<ResponseFormat> parsed = ParseResponseFormat(format);
        if (!parsed) return Internal("stored request parameters: response_format " + format);
        out.format = *parsed;
      }
      ReadIfPresent(*sampling, "json_schema", &out.json_schema);
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return Internal(std::string("stored request parameters: ") + e.what());
  }
}

// Straight to text: the contents are documents, and a DOM first would copy each once more.
Result<std::string> EncodeMessages(const std::vector<ChatMessage>& messages) {
  size_t bytes = 2;
  for (const ChatMessage& m : messages) {
    if (!IsValidUtf8(m.role) || !IsValidUtf8(m.content)) {
      return InvalidArgument("messages: a message is not valid UTF-8");
    }
    bytes += m.role.size() + m.content.size() + 32;
  }
  std::string out;
  out.reserve(bytes + bytes / 16);
  out.push_back('[');
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i > 0) out.push_back(',');
    JsonObjectWriter message(out);
    message.String("role", messages[i].role).String("content", messages[i].content);
    message.Close();
  }
  out.push_back(']');
  return out;
}

Status DecodeMessages(std::string_view text, std::vector<ChatMessage>* messages) {
  try {
    json array = json::parse(text);
    if (!array.is_array()) return Internal("stored messages are not an array");
    messages->clear();
    messages->reserve(array.size());
    for (json& m : array) {
      ChatMessage message;
      ReadIfPresent(m, "role", &message.role);
      // Moved out of the DOM: a content may be a whole document.
      if (auto it = m.find("content"); it != m.end() && it->is_string()) {
        message.content = std::move(it->get_ref<std::string&>());
      }
      messages->push_back(std::move(message));
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return Internal(std::string("stored messages: ") + e.what());
  }
}

std::string EncodeWorkerReport(const WorkerReport& r) {
  std::string out;
  JsonObjectWriter w(out);
  w.String("worker", r.worker)
      .Number("prefill_tokens_per_second", r.prefill_tokens_per_second)
      .Number("decode_tokens_per_second", r.decode_tokens_per_second)
      .Number("single_decode_tokens_per_second", r.single_decode_tokens_per_second)
      .Number("completion_ratio", r.completion_ratio)
      .Int("running_prompt_tokens_left", r.running_prompt_tokens_left)
      .Number("running_prompt_positions_left", r.running_prompt_positions_left)
      .Number("attention_per_position", r.attention_per_position)
      .Int("running_max_tokens_left", r.running_max_tokens_left)
      .Int("free_sequences", r.free_sequences)
      .Int("sequence_tokens", r.sequence_tokens)
      .Int("running_sequences", r.running_sequences)
      .Int("first_end_at", r.first_end_at);
  w.Close();
  return out;
}

Result<WorkerReport> DecodeWorkerReport(std::string_view text) {
  try {
    json j = json::parse(text);
    if (!j.is_object()) return Internal("a stored worker report is not an object");
    WorkerReport r;
    ReadIfPresent(j, "worker", &r.worker);
    ReadIfPresent(j, "prefill_tokens_per_second", &r.prefill_tokens_per_second);
    ReadIfPresent(j, "decode_tokens_per_second", &r.decode_tokens_per_second);
    ReadIfPresent(j, "single_decode_tokens_per_second", &r.single_decode_tokens_per_second);
    ReadIfPresent(j, "completion_ratio", &r.completion_ratio);
    ReadIfPresent(j, "running_prompt_tokens_left", &r.running_prompt_tokens_left);
    ReadIfPresent(j, "running_prompt_positions_left", &r.running_prompt_positions_left);
    ReadIfPresent(j, "attention_per_position", &r.attention_per_position);
    ReadIfPresent(j, "running_max_tokens_left", &r.running_max_tokens_left);
    ReadIfPresent(j, "free_sequences", &r.free_sequences);
    ReadIfPresent(j, "sequence_tokens", &r.sequence_tokens);
    ReadIfPresent(j, "running_sequences", &r.running_sequences);
    ReadIfPresent(j, "first_end_at", &r.first_end_at);
    return r;
  } catch (const std::exception& e) {
    return Internal(std::string("stored worker report: ") + e.what());
  }
}

std::string EncodeApiKeyRecord(const JobStore::ApiKeyRecord& key) {
  std::string out;
  JsonObjectWriter w(out);
  w.String("id", key.id)
      .String("sha256", key.sha256)
      .String("tenant", key.tenant)
      .String("role", key.role)
      .String("name", key.name)
      .Int("created_at", key.created_at);
  w.Close();
  return out;
}

Result<JobStore::ApiKeyRecord> DecodeApiKeyRecord(std::string_view text) {
  try {
    json j = json::parse(text);
    if (!j.is_object()) return Internal("a stored API key is not an object");
    JobStore::ApiKeyRecord key;
    ReadIfPresent(j, "id", &key.id);
    ReadIfPresent(j, "sha256", &key.sha256);
    ReadIfPresent(j, "tenant", &key.tenant);
    ReadIfPresent(j, "role", &key.role);
    ReadIfPresent(j, "name", &key.name);
    ReadIfPresent(j, "created_at", &key.created_at);
    return key;
  } catch (const std::exception& e) {
    return Internal(std::string("stored API key: ") + e.what());
  }
}

}  // namespace glmq
