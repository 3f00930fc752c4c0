#include "store/job_codec.h"

#include <gtest/gtest.h>

#include <limits>

#include "core/job.h"

namespace glmq {
namespace {

TEST(JobCodecTest, RequestParamsReadBackAsWritten) {
  JobRequest request;
  request.question = "What does \"it\" say?\n\\ 中文";
  request.priority = -7;
  request.timeout_seconds = 12.5;
  request.sampling.max_tokens = 321;
  request.sampling.temperature = 0.7f;
  request.sampling.top_p = 0.9f;
  request.sampling.seed = std::numeric_limits<uint64_t>::max();
  request.sampling.stop = {"</s>", "\"quoted\"", ""};
  auto text = EncodeRequestParams(request);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  JobRequest back;
  ASSERT_TRUE(DecodeRequestParams(*text, &back).ok()) << *text;
  EXPECT_EQ(back.question, request.question);
  EXPECT_EQ(back.priority, request.priority);
  EXPECT_EQ(back.timeout_seconds, request.timeout_seconds);
  EXPECT_EQ(back.sampling.max_tokens, request.sampling.max_tokens);
  EXPECT_EQ(back.sampling.temperature, request.sampling.temperature);
  EXPECT_EQ(back.sampling.top_p, request.sampling.top_p);
  EXPECT_EQ(back.sampling.seed, request.sampling.seed);
  EXPECT_EQ(back.sampling.stop, request.sampling.stop);
  EXPECT_EQ(back.sampling.format, ResponseFormat::kText);
  request.sampling.format = ResponseFormat::kJsonObject;
  text = EncodeRequestParams(request);
  ASSERT_TRUE(text.ok());
  JobRequest json_mode;
  ASSERT_TRUE(DecodeRequestParams(*text, &json_mode).ok()) << *text;
  EXPECT_EQ(json_mode.sampling.format, ResponseFormat::kJsonObject);
  request.sampling.format = ResponseFormat::kJsonSchema;
  request.sampling.json_schema = R"({"name":"n","schema":{"enum":["a\"b",1]}})";
  text = EncodeRequestParams(request);
  ASSERT_TRUE(text.ok());
  JobRequest schema;
  ASSERT_TRUE(DecodeRequestParams(*text, &schema).ok()) << *text;
  EXPECT_EQ(schema.sampling.format, ResponseFormat::kJsonSchema);
  EXPECT_EQ(schema.sampling.json_schema, request.sampling.json_schema);
  request.sampling.json_schema.clear();
  request.sampling.format = ResponseFormat::kText;

  // Without a seed there is none after the round trip either; bytes that are not UTF-8 are
  // refused rather than stored as text no reader could parse.
  request.sampling.seed.reset();
  text = EncodeRequestParams(request);
  ASSERT_TRUE(text.ok());
  JobRequest unseeded;
  ASSERT_TRUE(DecodeRequestParams(*text, &unseeded).ok());
  EXPECT_FALSE(unseeded.sampling.seed.has_value());
  request.question = "bad \xff byte";
  EXPECT_EQ(EncodeRequestParams(request).status().code(), StatusCode::kInvalidArgument);
  request.question = "fine";
  request.sampling.stop = {"\xc3"};
  EXPECT_EQ(EncodeRequestParams(request).status().code(), StatusCode::kInvalidArgument);
}

TEST(JobCodecTest, MessagesReadBackAsWritten) {
  const std::vector<ChatMessage> messages = {
      {"system", "Answer in \"quotes\", \\ backslashes,\ttabs and\nnewlines."},
      {"user", std::string("a NUL \0 inside, then \x01 and ", 27) + "Zürich — 日本語"},
      {"assistant", ""},
  };
  auto text = EncodeMessages(messages);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  std::vector<ChatMessage> back;
  ASSERT_TRUE(DecodeMessages(*text, &back).ok());
  ASSERT_EQ(back.size(), messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(back[i].role, messages[i].role);
    EXPECT_EQ(back[i].content, messages[i].content) << i;
  }
}

TEST(JobCodecTest, MessagesThatAreNotUtf8AreRefused) {
  EXPECT_EQ(EncodeMessages({{"user", "\xff\xfe"}}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace glmq
