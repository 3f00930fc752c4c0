// Whether a text is one JSON object, or the beginning of one: what an answer held to JSON
// mode (response_format json_object) is when it ended, or when max_tokens cut it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace glmq {

enum class JsonShape { kObject, kBeginningOfObject, kNeither };

inline JsonShape ShapeOfJson(const std::string& text) {
  const size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos || text[start] != '{') return JsonShape::kNeither;
  if (nlohmann::json::accept(text)) return JsonShape::kObject;
  // Parse as far as it goes: the beginning of a document fails only for want of more, where
  // its input ends; anything else fails before it.
  struct Probe : nlohmann::json::json_sax_t {
    size_t failed_at = 0;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return true; }
    bool key(string_t&) override { return true; }
    bool end_object() override { return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::json::exception&) override {
      failed_at = position;
      return false;
    }
  } probe;
  nlohmann::json::sax_parse(text, &probe);
  return probe.failed_at > text.size() ? JsonShape::kBeginningOfObject : JsonShape::kNeither;
}

}  // namespace glmq
