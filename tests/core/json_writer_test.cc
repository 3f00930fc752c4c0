#include "core/json_writer.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

namespace glmq {
namespace {

using nlohmann::json;

std::string Quoted(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

// UTF-8 for a code point (not a surrogate).
std::string Encode(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

TEST(JsonWriterTest, StringsEscapeWhatJsonRequiresAndKeepTheRest) {
  EXPECT_EQ(Quoted(""), R"("")");
  EXPECT_EQ(Quoted("plain text"), R"("plain text")");
  EXPECT_EQ(Quoted("say \"hi\"\\"), R"("say \"hi\"\\")");
  EXPECT_EQ(Quoted("a\nb\tc\r\b\f"), R"("a\nb\tc\r\b\f")");
  EXPECT_EQ(Quoted(std::string("\x01\x1f\0z", 4)), R"("\u0001\u001f\u0000z")");
  EXPECT_EQ(Quoted("中文 é 😀 /"), "\"中文 é 😀 /\"");
  // Every ASCII character alone reads back as itself.
  for (int c = 0; c < 0x80; ++c) {
    const std::string s(1, static_cast<char>(c));
    EXPECT_EQ(json::parse(Quoted(s)).get<std::string>(), s) << c;
  }
}

TEST(JsonWriterTest, RandomUtf8StringsReadBackUnchanged) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> small(0, 0x7F), any(0, 0x10FFFF), len(0, 40);
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    for (uint32_t n = len(rng); n > 0; --n) {
      uint32_t cp = round % 2 == 0 ? small(rng) : any(rng);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = '?';  // surrogates are not characters
      s += Encode(cp);
    }
    ASSERT_EQ(json::parse(Quoted(s)).get<std::string>(), s);
  }
}

TEST(JsonWriterTest, NumbersAreShortestAndExact) {
  auto text = [](auto v) {
    std::string out;
    AppendJsonNumber(out, v);
    return out;
  };
  EXPECT_EQ(text(0.0), "0");
  EXPECT_EQ(text(0.25), "0.25");
  EXPECT_EQ(text(1795788275.62), "1795788275.62");
  EXPECT_EQ(text(0.8f), "0.8");  // a float as the float it is, not as its double
  EXPECT_EQ(text(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(text(std::nan("")), "null");
  EXPECT_EQ(text(-std::numeric_limits<float>::infinity()), "null");
  EXPECT_EQ(text(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(text(std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20000; ++i) {
    const double d = std::bit_cast<double>(rng());
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isfinite(d)) {
      ASSERT_EQ(json::parse(text(d)).get<double>(), d) << text(d);
    }
    if (std::isfinite(f)) {
      ASSERT_EQ(json::parse(text(f)).get<float>(), f) << text(f);
    }
  }
}

TEST(JsonWriterTest, ObjectsNestAndSeparateTheirMembers) {
  std::string out;
  JsonObjectWriter outer(out);
  outer.String("id", "job_1").Bool("yes", true).Bool("no", false).Int("n", -3);
  JsonObjectWriter inner(outer.Key("inner"));
  inner.Number("x", 1.5);
  inner.Close();
  outer.Key("list") += "[1,2]";
  outer.Close();
  EXPECT_EQ(out, R"({"id":"job_1","yes":true,"no":false,"n":-3,"inner":{"x":1.5},"list":[1,2]})");
  std::string empty;
  JsonObjectWriter(empty).Close();
  EXPECT_EQ(empty, "{}");
}

}  // namespace
}  // namespace glmq
