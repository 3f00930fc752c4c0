#include "api/query_string.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

TEST(QueryStringTest, AWholeNumberIsDigitsAndNothingElse) {
  EXPECT_EQ(ParseWholeNumber("42"), 42);
  EXPECT_EQ(ParseWholeNumber("-7"), -7);
  for (const char* bad : {"", " 4", "4 ", "+4", "4.0", "4x", "99999999999999999999"}) {
    EXPECT_FALSE(ParseWholeNumber(bad).has_value()) << bad;
  }
}

TEST(QueryStringTest, AWholeNumberParameterIsInItsRangeOrAnErrorThatNamesIt) {
  const std::map<std::string, std::string> query = {{"limit", "20"}, {"after", "x"}};
  EXPECT_EQ(*WholeNumberParam(query, "limit", 1, 100), 20);
  EXPECT_EQ(*WholeNumberParam(query, "page", 1, 100), std::nullopt);
  const auto over = WholeNumberParam(query, "limit", 1, 10);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(), "'limit' must be a whole number from 1 to 10");
  EXPECT_FALSE(WholeNumberParam(query, "after", 1, 10).ok());
}

}  // namespace
}  // namespace glmq
