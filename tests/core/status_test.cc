#include "core/status.h"

#include <gtest/gtest.h>

#include <string>

namespace glmq {
namespace {

TEST(ResultTest, StatusSaysOkWhenAValueIsHeld) {
  const Result<std::string> value(std::string("answer"));
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(value.status().ok());  // what `return result.status();` hands on
  EXPECT_EQ(*value, "answer");

  const Result<std::string> missing(NotFound("no job x"));
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "no job x");
}

}  // namespace
}  // namespace glmq
