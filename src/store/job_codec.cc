#include "store/job_codec.h"

#include <exception>
#include <nlohmann/json.hpp>

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

Result<std::string> EncodeRequestParams(const JobRequest& request) {
  try {
    json sampling = {
        {"max_tokens", request.sampling.max_tokens},
        {"temperature", request.sampling.temperature},
        {"top_p", request.sampling.top_p},
        {"stop", request.sampling.stop},
    };
    if (request.sampling.seed) sampling["seed"] = *request.sampling.seed;
    json params = {
        {"question", request.question},
        {"sampling", std::move(sampling)},
        {"priority", request.priority},
        {"timeout_seconds", request.timeout_seconds},
    };
    return params.dump();
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("request parameters: ") + e.what());
  }
}

Status DecodeRequestParams(std::string_view text, JobRequest* request) {
  try {
    json params = json::parse(text);
    if (!params.is_object()) return Internal("stored request parameters are not an object");
    ReadIfPresent(params, "question", &request->question);
    ReadIfPresent(params, "priority", &request->priority);
    ReadIfPresent(params, "timeout_seconds", &request->timeout_seconds);
    auto sampling = params.find("sampling");
    if (sampling != params.end() && sampling->is_object()) {
      SamplingParams& out = request->sampling;
      ReadIfPresent(*sampling, "max_tokens", &out.max_tokens);
      ReadIfPresent(*sampling, "temperature", &out.temperature);
      ReadIfPresent(*sampling, "top_p", &out.top_p);
      ReadIfPresent(*sampling, "stop", &out.stop);
      auto seed = sampling->find("seed");
      if (seed != sampling->end() && !seed->is_null()) out.seed = seed->get<uint64_t>();
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return Internal(std::string("stored request parameters: ") + e.what());
  }
}

Result<std::string> EncodeMessages(const std::vector<ChatMessage>& messages) {
  try {
    json array = json::array();
    for (const ChatMessage& m : messages) {
      array.push_back({{"role", m.role}, {"content", m.content}});
    }
    return array.dump();
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("messages: ") + e.what());
  }
}

Status DecodeMessages(std::string_view text, std::vector<ChatMessage>* messages) {
  try {
    json array = json::parse(text);
    if (!array.is_array()) return Internal("stored messages are not an array");
    messages->clear();
    messages->reserve(array.size());
    for (const json& m : array) {
      ChatMessage message;
      ReadIfPresent(m, "role", &message.role);
      ReadIfPresent(m, "content", &message.content);
      messages->push_back(std::move(message));
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return Internal(std::string("stored messages: ") + e.what());
  }
}

}  // namespace glmq
