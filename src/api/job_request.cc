#include "api/job_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "api/fast_json.h"
#include "api/webhook_hosts.h"
#include "core/json_grammar.h"

namespace glmq {
namespace {

using json = nlohmann::json;

// A response_format's json_schema, as text, at most: a schema is a request's bytes, and each
// of its parts a rule of the grammar built from it at submit and again where the job runs.
constexpr size_t kMaxJsonSchemaBytes = 100'000;

const char* TypeName(const json& v) { return v.type_name(); }

Status WrongType(std::string_view field, std::string_view want, const json& got) {
  return InvalidArgument("'" + std::string(field) + "' must be " + std::string(want) + ", not " +
                         TypeName(got));
}

Status CheckObject(const json& doc) {
  return doc.is_object() ? Status::Ok() : WrongType("body", "a JSON object", doc);
}

Result<json> ParseObject(std::string body) {
  GLMQ_ASSIGN_OR_RETURN(json doc, ParseJson(std::move(body)));
  GLMQ_RETURN_IF_ERROR(CheckObject(doc));
  return doc;
}

// Moves the string out of `doc`: a document may be 10 MB, and it is copied once already.
Status ReadString(json& doc, const char* field, bool required, std::string& out) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) {
    return required ? InvalidArgument(std::string("'") + field + "' is required") : Status::Ok();
  }
  if (!it->is_string()) return WrongType(field, "a string", *it);
  out = std::move(it->get_ref<std::string&>());
  return Status::Ok();
}

Status ReadInt(const json& doc, const char* field, int64_t lo, int64_t hi, int64_t& out) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) return Status::Ok();
  int64_t v = 0;
  bool in_range = true;
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(hi);
    v = in_range ? static_cast<int64_t>(u) : hi;
  } else if (it->is_number_integer()) {
    v = it->get<int64_t>();
  } else if (it->is_number_float() && std::nearbyint(it->get<double>()) == it->get<double>()) {
    // 100.0 is an integer too; one too big for int64 is simply out of range.
    const double d = it->get<double>();
    in_range = std::fabs(d) < 9e15;
    v = in_range ? static_cast<int64_t>(d) : hi;
  } else {
    return WrongType(field, "an integer", *it);
  }
  if (!in_range || v < lo || v > hi) {
    return InvalidArgument(fmt::format("'{}' must be between {} and {}", field, lo, hi));
  }
  out = v;
  return Status::Ok();
}

Status ReadNumber(const json& doc, const char* field, double lo, double hi, bool lo_open,
                  double& out) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) return Status::Ok();
  if (!it->is_number()) return WrongType(field, "a number", *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v > hi || (lo_open ? v <= lo : v < lo)) {
    return InvalidArgument(
        fmt::format("'{}' must be {} {:g} and <= {:g}", field, lo_open ? ">" : ">=", lo, hi));
  }
  out = v;
  return Status::Ok();
}

Status ReadSeed(const json& doc, std::optional<uint64_t>& out) {
  auto it = doc.find("seed");
  if (it == doc.end() || it->is_null()) return Status::Ok();
  if (it->is_number_unsigned()) {
    out = it->get<uint64_t>();
  } else if (it->is_number_integer()) {
    // Negative: llama.cpp's convention for "random".
    if (it->get<int64_t>() != -1) return InvalidArgument("'seed' must be >= 0 (or -1 for random)");
  } else {
    return WrongType("seed", "an integer", *it);
  }
  return Status::Ok();
}

Status ReadStop(const json& doc, const RequestLimits& limits, std::vector<std::string>& out) {
  auto it = doc.find("stop");
  if (it == doc.end() || it->is_null()) return Status::Ok();
  std::vector<const json*> items;
  if (it->is_string()) {
    items.push_back(&*it);
  } else if (it->is_array()) {
    for (const json& v : *it) items.push_back(&v);
  } else {
    return WrongType("stop", "a string or an array of strings", *it);
  }
  if (items.size() > limits.max_stop_strings) {
    return InvalidArgument("'stop' has more than " + std::to_string(limits.max_stop_strings) +
                           " strings");
  }
  for (const json* v : items) {
    if (!v->is_string()) return WrongType("stop[]", "a string", *v);
    std::string s = v->get<std::string>();
    if (s.empty() || s.size() > limits.max_stop_bytes) {
      return InvalidArgument("each 'stop' string must have 1 to " +
                             std::to_string(limits.max_stop_bytes) + " bytes");
    }
    out.push_back(std::move(s));
  }
  return Status::Ok();
}

Status ReadWebhookUrl(json& doc, std::string& out, const RequestLimits& limits) {
  GLMQ_RETURN_IF_ERROR(ReadString(doc, "webhook_url", false, out));
  return out.empty() ? Status::Ok() : CheckWebhookUrl(out, limits);
}

// `response_format`, as OpenAI's: {"type": "text"}, {"type": "json_object"} or
// {"type": "json_schema", "json_schema": {"name", "schema", "strict", "description"}}. A
// schema whose grammar cannot be made (core/json_grammar.h says which keyword) is refused
// here, before the job is queued.
Status ReadResponseFormat(const json& doc, SamplingParams& out) {
  auto it = doc.find("response_format");
  if (it == doc.end() || it->is_null()) return Status::Ok();
  if (!it->is_object()) return WrongType("response_format", "an object", *it);
  auto type = it->find("type");
  if (type == it->end() || !type->is_string()) {
    return InvalidArgument("'response_format.type' must be a string");
  }
  const std::optional<ResponseFormat> format =
      ParseResponseFormat(type->get_ref<const std::string&>());
  if (!format) {
    return InvalidArgument("'response_format.type' must be 'text', 'json_object' or 'json_schema'");
  }
  const bool schema = *format == ResponseFormat::kJsonSchema;
  for (const auto& [key, value] : it->items()) {
    if (key != "type" && !(schema && key == "json_schema")) {
      return InvalidArgument("unknown field '" + key + "' in 'response_format' (allowed: type" +
                             (schema ? ", json_schema)" : ")"));
    }
  }
  out.format = *format;
  if (!schema) return Status::Ok();
  auto js = it->find("json_schema");
  if (js == it->end() || !js->is_object()) {
    return InvalidArgument(
        "'response_format.json_schema' must be an object with a 'name' and a 'schema'");
  }
  for (const auto& [key, value] : js->items()) {
    if (key != "name" && key != "schema" && key != "strict" && key != "description") {
      return InvalidArgument("unknown field '" + key +
                             "' in 'response_format.json_schema' (allowed: name, schema, "
                             "strict, description)");
    }
  }
  auto name = js->find("name");
  if (name == js->end() || !name->is_string() || name->get_ref<const std::string&>().empty() ||
      name->get_ref<const std::string&>().size() > 64 ||
      name->get_ref<const std::string&>().find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
          std::string::npos) {
    return InvalidArgument(
        "'response_format.json_schema.name' must be 1 to 64 letters, digits, '_' or '-'");
  }
  if (auto strict = js->find("strict");
      strict != js->end() && !strict->is_null() && !strict->is_boolean()) {
    return WrongType("response_format.json_schema.strict", "true or false", *strict);
  }
  auto body = js->find("schema");
  if (body == js->end() || !body->is_object()) {
    return InvalidArgument(
        "'response_format.json_schema.schema' must be a JSON Schema (an object)");
  }
  std::string text = js->dump();
  if (text.size() > kMaxJsonSchemaBytes) {
    return InvalidArgument("'response_format.json_schema' is larger than " +
                           std::to_string(kMaxJsonSchemaBytes) + " bytes");
  }
  GLMQ_RETURN_IF_ERROR(JsonSchemaGrammar(*body).status());
  out.json_schema = std::move(text);
  return Status::Ok();
}

// response_format, temperature, top_p, seed and stop.
Status ReadSampling(const json& doc, const RequestLimits& limits, SamplingParams& out) {
  GLMQ_RETURN_IF_ERROR(ReadResponseFormat(doc, out));
  double temperature = out.temperature;
  GLMQ_RETURN_IF_ERROR(ReadNumber(doc, "temperature", 0.0, 2.0, false, temperature));
  out.temperature = static_cast<float>(temperature);
  double top_p = out.top_p;
  GLMQ_RETURN_IF_ERROR(ReadNumber(doc, "top_p", 0.0, 1.0, true, top_p));
  out.top_p = static_cast<float>(top_p);
  GLMQ_RETURN_IF_ERROR(ReadSeed(doc, out.seed));
  return ReadStop(doc, limits, out.stop);
}

bool MentionsJson(std::string_view s) {
  for (size_t i = 0; i + 4 <= s.size(); ++i) {
    if ((s[i] | 0x20) == 'j' && (s[i + 1] | 0x20) == 's' && (s[i + 2] | 0x20) == 'o' &&
        (s[i + 3] | 0x20) == 'n') {
      return true;
    }
  }
  return false;
}

// As OpenAI's JSON mode: the prompt asks for JSON, or a model held to JSON may write little
// but whitespace and unending strings until max_tokens.
Status CheckJsonAsked(const JobRequest& req) {
  if (req.sampling.format != ResponseFormat::kJsonObject) return Status::Ok();
  if (MentionsJson(req.text) || MentionsJson(req.question) ||
      std::any_of(req.messages.begin(), req.messages.end(),
                  [](const ChatMessage& m) { return MentionsJson(m.content); })) {
    return Status::Ok();
  }
  return InvalidArgument(
      "'response_format' of type 'json_object' needs the word 'json' in the prompt: ask for "
      "the JSON object you want");
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// `openai`: as OpenAI clients send them: other fields of a message (name, ...) are ignored,
// and content may be an array of parts, whose text parts are joined. Contents are moved out
// of `doc`, as ReadString does.
Status ReadMessages(json& doc, const RequestLimits& limits, std::vector<ChatMessage>& out,
                    bool openai = false) {
  auto it = doc.find("messages");
  if (it == doc.end() || it->is_null()) return Status::Ok();
  if (!it->is_array()) return WrongType("messages", "an array", *it);
  if (it->empty()) return InvalidArgument("'messages' is empty");
  if (it->size() > limits.max_messages) {
    return InvalidArgument("'messages' has more than " + std::to_string(limits.max_messages) +
                           " entries");
  }
  bool has_user = false;
  for (size_t i = 0; i < it->size(); ++i) {
    json& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return WrongType(where, "an object", m);
    for (const auto& [key, value] : m.items()) {
      if (key != "role" && key != "content" && !openai) {
        return InvalidArgument("unknown field '" + key + "' in " + where +
                               " (allowed: role, content)");
      }
    }
    ChatMessage msg;
    auto role = m.find("role");
    auto content = m.find("content");
    if (role == m.end() || !role->is_string()) {
      return InvalidArgument("'" + where + ".role' must be a string");
    }
    msg.role = role->get<std::string>();
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "observation") {
      return InvalidArgument("'" + where + ".role' must be system, user, assistant or observation");
    }
    if (openai && content != m.end() && content->is_array()) {
      for (const json& part : *content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
          return InvalidArgument("'" + where +
                                 ".content' parts must be {\"type\":\"text\",\"text\":...}");
        }
        msg.content += part["text"].get_ref<const std::string&>();
      }
    } else if (content == m.end() || !content->is_string()) {
      return InvalidArgument("'" + where + ".content' must be a string");
    } else {
      msg.content = std::move(content->get_ref<std::string&>());
    }
    has_user = has_user || msg.role == "user";
    out.push_back(std::move(msg));
  }
  if (!has_user) return InvalidArgument("'messages' needs at least one user message");
  if (IsBlank(out.back().content)) return InvalidArgument("the last message is empty");
  return Status::Ok();
}

}  // namespace

Status CheckWebhookUrl(const std::string& url, const RequestLimits& limits) {
  const bool http = url.rfind("http://", 0) == 0, https = url.rfind("https://", 0) == 0;
  const size_t host_at = https ? 8 : 7;
  if ((!http && !https) || url.size() <= host_at || url[host_at] == '/' || url.size() > 2048 ||
      std::any_of(url.begin(), url.end(), [](char c) { return c <= ' ' || c >= 0x7f; })) {
    return InvalidArgument(
        "'webhook_url' must be an http:// or https:// URL with a host, up to 2048 characters, "
        "without spaces");
  }
  if (const auto host = RefusedWebhookHost(url, limits.webhook_hosts)) {
    return InvalidArgument(
        "'webhook_url' goes to '" + *host +
        "', which this server does not send webhooks to (--webhook-allow-hosts)");
  }
  if (const auto host =
          PrivateWebhookHost(url, limits.webhook_hosts, limits.webhook_allow_private)) {
    return InvalidArgument("'webhook_url' goes to '" + *host +
                           "', which is not a public address: this server sends webhooks to "
                           "public addresses only (--webhook-allow-private)");
  }
  return Status::Ok();
}

Result<JobRequest> ParseJobRequest(std::string body, const RequestLimits& limits) {
  GLMQ_ASSIGN_OR_RETURN(json doc, ParseJson(std::move(body)));
  return JobRequestFromJson(std::move(doc), limits);
}

Result<JobRequest> JobRequestFromJson(json doc, const RequestLimits& limits) {
  GLMQ_RETURN_IF_ERROR(CheckObject(doc));
  static const char* const kFields[] = {
      "text", "question", "messages", "max_tokens",      "temperature", "top_p",
      "seed", "stop",     "priority", "timeout_seconds", "webhook_url", "response_format"};
  for (const auto& item : doc.items()) {
    const std::string& key = item.key();
    if (std::find_if(std::begin(kFields), std::end(kFields),
                     [&key](const char* f) { return key == f; }) == std::end(kFields)) {
      return InvalidArgument("unknown field '" + key +
                             "' (allowed: text, question, messages, max_tokens, temperature, "
                             "top_p, seed, stop, priority, timeout_seconds, webhook_url, "
                             "response_format)");
    }
  }
  JobRequest req;
  req.sampling.max_tokens = limits.default_max_tokens;
  const bool has_messages = doc.contains("messages") && !doc["messages"].is_null();
  const bool has_text = doc.contains("text") && !doc["text"].is_null();
  if (has_messages && has_text)
    return InvalidArgument("give either 'text' or 'messages', not both");
  if (!has_messages && !has_text) {
    return InvalidArgument("'text' (with an optional 'question') or 'messages' is required");
  }
  if (has_messages) {
    if (doc.contains("question") && !doc["question"].is_null()) {
      return InvalidArgument("'question' goes with 'text'; with 'messages' ask in a user message");
    }
    GLMQ_RETURN_IF_ERROR(ReadMessages(doc, limits, req.messages));
  } else {
    GLMQ_RETURN_IF_ERROR(ReadString(doc, "text", true, req.text));
    if (IsBlank(req.text)) return InvalidArgument("'text' is empty");
    GLMQ_RETURN_IF_ERROR(ReadString(doc, "question", false, req.question));
  }
  int64_t max_tokens = req.sampling.max_tokens;
  GLMQ_RETURN_IF_ERROR(ReadInt(doc, "max_tokens", 1, limits.max_tokens_limit, max_tokens));
  req.sampling.max_tokens = static_cast<int32_t>(max_tokens);
  GLMQ_RETURN_IF_ERROR(ReadSampling(doc, limits, req.sampling));
  int64_t priority = 0;
  GLMQ_RETURN_IF_ERROR(ReadInt(doc, "priority", -10, 10, priority));
  req.priority = static_cast<int32_t>(priority);
  GLMQ_RETURN_IF_ERROR(ReadNumber(doc, "timeout_seconds", 0.0, limits.max_timeout_seconds, true,
                                  req.timeout_seconds));
  GLMQ_RETURN_IF_ERROR(ReadWebhookUrl(doc, req.webhook_url, limits));
  GLMQ_RETURN_IF_ERROR(CheckJsonAsked(req));
  return req;
}

Result<JobRequest> ParseOpenAiChatRequest(std::string body, const RequestLimits& limits,
                                          bool* stream) {
  GLMQ_ASSIGN_OR_RETURN(json doc, ParseJson(std::move(body)));
  return OpenAiChatRequestFromJson(std::move(doc), limits, stream);
}

Result<JobRequest> OpenAiChatRequestFromJson(json doc, const RequestLimits& limits, bool* stream) {
  GLMQ_RETURN_IF_ERROR(CheckObject(doc));
  if (doc.contains("stream") && !doc["stream"].is_null()) {
    if (!doc["stream"].is_boolean()) return WrongType("stream", "true or false", doc["stream"]);
    if (doc["stream"].get<bool>() && stream == nullptr) {
      return InvalidArgument("'stream': true is not supported here");
    }
    if (stream != nullptr) *stream = doc["stream"].get<bool>();
  }
  // What cannot be honoured is refused rather than ignored.
  if (doc.contains("n") && !doc["n"].is_null() && doc["n"] != 1) {
    return InvalidArgument("'n' must be 1: one answer per request");
  }
  for (const char* unsupported : {"tools", "functions", "logprobs"}) {
    if (doc.contains(unsupported) && !doc[unsupported].is_null() && doc[unsupported] != false) {
      return InvalidArgument(std::string("'") + unsupported + "' is not supported");
    }
  }
  if (!doc.contains("messages") || doc["messages"].is_null()) {
    return InvalidArgument("'messages' is required");
  }
  JobRequest req;
  req.sampling.max_tokens = limits.default_max_tokens;
  GLMQ_RETURN_IF_ERROR(ReadMessages(doc, limits, req.messages, /*openai=*/true));
  int64_t max_tokens = req.sampling.max_tokens;
  GLMQ_RETURN_IF_ERROR(ReadInt(doc, "max_tokens", 1, limits.max_tokens_limit, max_tokens));
  GLMQ_RETURN_IF_ERROR(
      ReadInt(doc, "max_completion_tokens", 1, limits.max_tokens_limit, max_tokens));
  req.sampling.max_tokens = static_cast<int32_t>(max_tokens);
  GLMQ_RETURN_IF_ERROR(ReadSampling(doc, limits, req.sampling));
  GLMQ_RETURN_IF_ERROR(CheckJsonAsked(req));
  return req;
}

Result<JobRequest> ParseSeedChatRequest(std::string body, const RequestLimits& limits) {
  GLMQ_ASSIGN_OR_RETURN(json doc, ParseObject(std::move(body)));
  JobRequest req;
  req.sampling.max_tokens = limits.default_max_tokens;
  GLMQ_RETURN_IF_ERROR(ReadString(doc, "text", true, req.text));
  if (IsBlank(req.text)) return InvalidArgument("'text' is empty");
  GLMQ_RETURN_IF_ERROR(ReadString(doc, "question", false, req.question));
  int64_t max_length = req.sampling.max_tokens;
  GLMQ_RETURN_IF_ERROR(ReadInt(doc, "max_length", 1, limits.max_tokens_limit, max_length));
  req.sampling.max_tokens = static_cast<int32_t>(max_length);
  double temperature = req.sampling.temperature;
  GLMQ_RETURN_IF_ERROR(ReadNumber(doc, "temperature", 0.0, 2.0, false, temperature));
  req.sampling.temperature = static_cast<float>(temperature);
  return req;
}

}  // namespace glmq
