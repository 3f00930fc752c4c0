#include "api/fast_json.h"

#include <simdjson.h>

#include <set>
#include <string>
#include <vector>

namespace glmq {
namespace {

using json = nlohmann::json;

Status DuplicateKey(std::string_view key) {
  return InvalidArgument("the body has the key '" + std::string(key) +
                         "' twice in one object: each key may appear once");
}

// The element as nlohmann::json; a key twice in one object is an error (`*duplicate`).
json Convert(simdjson::dom::element e, std::optional<Status>* duplicate) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      json out = json::object();
      for (auto field : simdjson::dom::object(e)) {
        auto [it, added] = out.emplace(std::string(field.key), nullptr);
        if (!added && !*duplicate) *duplicate = DuplicateKey(field.key);
        it.value() = Convert(field.value, duplicate);
      }
      return out;
    }
    case simdjson::dom::element_type::ARRAY: {
      json out = json::array();
      for (auto item : simdjson::dom::array(e)) out.push_back(Convert(item, duplicate));
      return out;
    }
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(e));
    case simdjson::dom::element_type::INT64: {
      // nlohmann stores non-negative integers as unsigned; so do we, for the same answers.
      const int64_t v = int64_t(e);
      return v >= 0 ? json(static_cast<uint64_t>(v)) : json(v);
    }
    case simdjson::dom::element_type::UINT64:
      return uint64_t(e);
    case simdjson::dom::element_type::DOUBLE:
      return double(e);
    case simdjson::dom::element_type::BOOL:
      return bool(e);
    case simdjson::dom::element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

}  // namespace

Result<json> ParseJson(std::string body) {
  static_assert(kJsonPadding == simdjson::SIMDJSON_PADDING);
  // One parser per thread: it keeps its buffers between requests, up to a size.
  constexpr size_t kKeepParserBytes = 1 << 20;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::optional<Status> duplicate;
  json out;
  // In place when the body's capacity has the padding (the std::string overload checks).
  if (parser.parse(body).get(root) == simdjson::SUCCESS) {
    // The parsed strings live in the parser's own buffer now.
    const size_t bytes = body.size();
    std::string().swap(body);
    out = Convert(root, &duplicate);
    // Its buffers are as large as the largest body read: give a large one's back.
    if (bytes > kKeepParserBytes) parser = simdjson::dom::parser();
  } else {
    // simdjson refuses a few inputs nlohmann accepts (integers beyond 64 bits, which it
    // reads as doubles); let nlohmann decide, so both parsers accept the same language.
    std::vector<std::set<std::string>> keys;  // of each object being read
    const json::parser_callback_t watch = [&](int, json::parse_event_t event, json& value) {
      if (event == json::parse_event_t::object_start) keys.emplace_back();
      if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
      if (event == json::parse_event_t::key && !keys.empty() && !duplicate &&
          !keys.back().insert(value.get<std::string>()).second) {
        duplicate = DuplicateKey(value.get<std::string>());
      }
      return true;
    };
    out = json::parse(body.begin(), body.end(), watch, /*allow_exceptions=*/false);
  }
  if (out.is_discarded()) return InvalidArgument("body is not valid JSON (or not valid UTF-8)");
  if (duplicate) return *duplicate;
  return out;
}

}  // namespace glmq
