#include "api/fast_json.h"

#include <gtest/gtest.h>

#include <random>

namespace glmq {
namespace {

using json = nlohmann::json;

// nlohmann's parse, and whether some object has a key twice (which ParseJson refuses).
json Reference(const std::string& body, bool* duplicate_key) {
  std::vector<std::vector<std::string>> keys;
  *duplicate_key = false;
  return json::parse(
      body.begin(), body.end(),
      [&](int, json::parse_event_t event, json& value) {
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        if (event == json::parse_event_t::object_end) keys.pop_back();
        if (event == json::parse_event_t::key) {
          const std::string key = value.get<std::string>();
          for (const std::string& seen : keys.back()) *duplicate_key |= seen == key;
          keys.back().push_back(key);
        }
        return true;
      },
      false);
}

void ExpectSameAsReference(const std::string& body) {
  const Result<json> fast = ParseJson(body);
  bool duplicate_key = false;
  const json ref = Reference(body, &duplicate_key);
  ASSERT_EQ(fast.ok(), !ref.is_discarded() && !duplicate_key) << body;
  if (fast.ok()) {
    EXPECT_EQ(*fast, ref) << body;
    EXPECT_EQ(fast->dump(), ref.dump()) << body;  // same types, e.g. unsigned vs signed
  } else if (duplicate_key && !ref.is_discarded()) {
    EXPECT_NE(fast.status().message().find("twice"), std::string::npos) << body;
  }
}

TEST(FastJsonTest, AgreesWithNlohmannOnKnownCases) {
  for (const std::string body :
       {R"({"text":"doc","max_tokens":64,"temperature":0.5,"seed":7,"stop":["a","b"]})",
        R"({"a":-1,"b":18446744073709551615,"c":99999999999999999999,"d":1e400})",
        R"({"dup":1,"dup":2})", R"([1,2,{"x":null,"y":true}])", "\"\\u00e9\\ud83d\\ude00\"", "{bad",
        "", "   ", "{\"t\":\"\xC3\x28\"}", "[1,]", "01", "{\"a\":1}x", "nul"}) {
    ExpectSameAsReference(body);
  }
}

TEST(FastJsonTest, AgreesWithNlohmannOnMutatedInput) {
  const std::string seed =
      R"({"text":"h\u00e9llo \"w\"","messages":[{"role":"user","content":"x"}],"n":[1,-2,3.5e2]})";
  std::mt19937 rng(99);
  for (int round = 0; round < 20000; ++round) {
    std::string body = seed;
    for (int e = 0; e < 1 + static_cast<int>(rng() % 3); ++e) {
      const size_t at = rng() % body.size();
      if (rng() % 2) {
        body[at] = static_cast<char>(rng() & 0xFF);
      } else {
        body.insert(at, 1, "{}[]\",:0-eE.\\u"[rng() % 14]);
      }
    }
    ExpectSameAsReference(body);
    if (HasFailure()) break;
  }
}

TEST(FastJsonTest, ParsesALargeDocument) {
  const std::string text(10 << 20, 'a');
  const Result<json> doc = ParseJson("{\"text\":\"" + text + "\"}");
  ASSERT_TRUE(doc.ok() && doc->is_object());
  EXPECT_EQ((*doc)["text"].get_ref<const std::string&>().size(), text.size());
}

// A key twice in one object is refused, at any depth and on either parser's path (the
// second for a number simdjson cannot read), naming the key; the same key in two objects
// is fine.
TEST(FastJsonTest, AKeyTwiceInOneObjectIsRefused) {
  for (const std::string body :
       {R"({"max_tokens":100000,"max_tokens":1})", R"({"a":{"max_tokens":1,"max_tokens":1}})",
        R"({"big":99999999999999999999,"max_tokens":1,"max_tokens":2})"}) {
    const Result<json> doc = ParseJson(body);
    ASSERT_FALSE(doc.ok()) << body;
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(doc.status().message().find("'max_tokens' twice"), std::string::npos)
        << doc.status().message();
  }
  EXPECT_TRUE(ParseJson(R"([{"a":1},{"a":2}])").ok());
  EXPECT_TRUE(ParseJson(R"({"a":{"a":1}})").ok());
}

}  // namespace
}  // namespace glmq
