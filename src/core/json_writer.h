// Writing JSON text straight into a string, for the hot paths where building a
// nlohmann::json first (a node allocation per field) costs more than the text itself: the
// 202 of a submit and a job's stored parameters. Everything else uses nlohmann::json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace glmq {

// Appends `s` as a JSON string, quotes included: '"', '\' and the control characters are
// escaped, everything else (UTF-8 included) is copied as is. `s` must be valid UTF-8.
void AppendJsonString(std::string& out, std::string_view s);
// Appends the shortest text that reads back as `v` (as a float for the float overload);
// JSON has no infinities or NaN, so those are written as null, as nlohmann::json does.
void AppendJsonNumber(std::string& out, double v);
void AppendJsonNumber(std::string& out, float v);
void AppendJsonNumber(std::string& out, int64_t v);
void AppendJsonNumber(std::string& out, uint64_t v);

// One JSON object, member by member:
//   JsonObjectWriter w(out);
//   w.String("id", id).Int("queue_position", 3);
//   w.Close();
// Each method has its own name (no overloads on the value): a string literal given to an
// overload set with bool would pick bool.
class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(std::string& out) : out_(out) { out_.push_back('{'); }
  JsonObjectWriter& String(std::string_view key, std::string_view value);
  JsonObjectWriter& Int(std::string_view key, int64_t value);
  JsonObjectWriter& Number(std::string_view key, double value);
  JsonObjectWriter& Float(std::string_view key, float value);
  JsonObjectWriter& Bool(std::string_view key, bool value);
  // Writes `"key":` and returns the string, for a value the caller appends itself.
  std::string& Key(std::string_view key);
  void Close() { out_.push_back('}'); }

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace glmq
