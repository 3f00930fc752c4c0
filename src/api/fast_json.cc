#include "api/fast_json.h"

#include <simdjson.h>

namespace glmq {
namespace {

using json = nlohmann::json;

json Convert(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      json out = json::object();
      for (auto field : simdjson::dom::object(e)) {
        // Later duplicates win, as in nlohmann::json::parse.
        out[std::string(field.key)] = Convert(field.value);
      }
      return out;
    }
    case simdjson::dom::element_type::ARRAY: {
      json out = json::array();
      for (auto item : simdjson::dom::array(e)) out.push_back(Convert(item));
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

json ParseJson(std::string_view body) {
  // One parser per thread: it keeps its buffers between requests.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size(), true).get(root) == simdjson::SUCCESS) {
    return Convert(root);
  }
  // simdjson refuses a few inputs nlohmann accepts (integers beyond 64 bits, which it
  // reads as doubles); let nlohmann decide, so both parsers accept the same language.
  return json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
}

}  // namespace glmq
