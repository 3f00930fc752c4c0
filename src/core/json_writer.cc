#include "core/json_writer.h"

#include <charconv>
#include <cmath>
#include <system_error>

namespace glmq {
namespace {

template <typename T>
void AppendChars(std::string& out, T v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) {
    out += "null";  // cannot happen: 32 characters hold any double, float or int64
    return;
  }
  out.append(buf, end);
}

template <typename T>
void AppendFinite(std::string& out, T v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  AppendChars(out, v);
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  size_t plain = 0;  // start of the run of characters copied as they are
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out.push_back('"');
}

void AppendJsonNumber(std::string& out, double v) { AppendFinite(out, v); }
void AppendJsonNumber(std::string& out, float v) { AppendFinite(out, v); }
void AppendJsonNumber(std::string& out, int64_t v) { AppendChars(out, v); }
void AppendJsonNumber(std::string& out, uint64_t v) { AppendChars(out, v); }

std::string& JsonObjectWriter::Key(std::string_view key) {
  if (!first_) out_.push_back(',');
  first_ = false;
  AppendJsonString(out_, key);
  out_.push_back(':');
  return out_;
}

JsonObjectWriter& JsonObjectWriter::String(std::string_view key, std::string_view value) {
  AppendJsonString(Key(key), value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Int(std::string_view key, int64_t value) {
  AppendJsonNumber(Key(key), value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Number(std::string_view key, double value) {
  AppendJsonNumber(Key(key), value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Float(std::string_view key, float value) {
  AppendJsonNumber(Key(key), value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Bool(std::string_view key, bool value) {
  Key(key) += value ? "true" : "false";
  return *this;
}

}  // namespace glmq
