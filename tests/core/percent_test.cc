#include "core/percent.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndPlusOnlyWhenAsked) {
  EXPECT_EQ(*PercentDecode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(*PercentDecode("p%40ss+word", false), "p@ss+word");         // userinfo: '+' is a '+'
  EXPECT_EQ(*PercentDecode("state=queued+x", true), "state=queued x");  // query: a space
  EXPECT_EQ(*PercentDecode("%e2%9C%93", false), "\xe2\x9c\x93");
  EXPECT_EQ(*PercentDecode("", true), "");
}

TEST(PercentDecodeTest, RefusesBrokenEscapes) {
  for (const char* bad : {"%", "%2", "abc%", "%zz", "%2g", "x%-1"}) {
    auto r = PercentDecode(bad, false);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace glmq
