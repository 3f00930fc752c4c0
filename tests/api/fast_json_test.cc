#include "api/fast_json.h"

#include <gtest/gtest.h>

#include <random>

namespace glmq {
namespace {

using json = nlohmann::json;

json Reference(const std::string& body) {
  return json::parse(body.begin(), body.end(), nullptr, false);
}

void ExpectSameAsReference(const std::string& body) {
  const json fast = ParseJson(body);
  const json ref = Reference(body);
  ASSERT_EQ(fast.is_discarded(), ref.is_discarded()) << body;
  if (!ref.is_discarded()) {
    EXPECT_EQ(fast, ref) << body;
    EXPECT_EQ(fast.dump(), ref.dump()) << body;  // same types, e.g. unsigned vs signed
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
  const json doc = ParseJson("{\"text\":\"" + text + "\"}");
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["text"].get_ref<const std::string&>().size(), text.size());
}

}  // namespace
}  // namespace glmq
