#include "core/utf8.h"

#include <gtest/gtest.h>

#include <random>

namespace glmq {
namespace {

TEST(Utf8Test, StablePrefixHoldsBackAnUnfinishedCharacter) {
  const std::string ni = "\xE4\xBD\xA0";  // 你
  EXPECT_EQ(Utf8StablePrefix("ab"), 2u);
  EXPECT_EQ(Utf8StablePrefix("ab" + ni.substr(0, 1)), 2u);
  EXPECT_EQ(Utf8StablePrefix("ab" + ni.substr(0, 2)), 2u);
  EXPECT_EQ(Utf8StablePrefix("ab" + ni), 5u);
  // A byte that can never start a character is not held back.
  EXPECT_EQ(Utf8StablePrefix("ab\xFF"), 3u);
}

TEST(Utf8Test, SanitizeReplacesIllFormedBytes) {
  EXPECT_EQ(SanitizeUtf8("hello"), "hello");
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeUtf8("x\xE4\xBD"), "x\xEF\xBF\xBD\xEF\xBF\xBD");  // cut short at the end
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");    // 😀 stays
}

TEST(Utf8Test, SanitizedRandomBytesAreAlwaysValid) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
    const std::string clean = SanitizeUtf8(bytes);
    ASSERT_TRUE(IsValidUtf8(clean)) << "round " << round;
    if (IsValidUtf8(bytes)) {
      EXPECT_EQ(clean, bytes);
    }
  }
}

}  // namespace
}  // namespace glmq
