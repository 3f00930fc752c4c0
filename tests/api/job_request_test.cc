#include "api/job_request.h"

#include <gtest/gtest.h>

#include <random>

namespace glmq {
namespace {

const RequestLimits kLimits;

TEST(JobRequestTest, ParsesTextQuestionAndSampling) {
  auto r = ParseJobRequest(
      R"({"text":"doc","question":"q?","max_tokens":64,"temperature":0,"top_p":0.5,
          "seed":7,"stop":["\n\n","END"],"priority":3,"timeout_seconds":30})",
      kLimits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "doc");
  EXPECT_EQ(r->question, "q?");
  EXPECT_EQ(r->sampling.max_tokens, 64);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.5f);
  ASSERT_TRUE(r->sampling.seed.has_value());
  EXPECT_EQ(*r->sampling.seed, 7u);
  EXPECT_EQ(r->sampling.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(r->priority, 3);
  EXPECT_EQ(r->timeout_seconds, 30.0);
}

TEST(JobRequestTest, DefaultsApply) {
  auto r = ParseJobRequest(R"({"text":"doc"})", kLimits);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sampling.max_tokens, kLimits.default_max_tokens);
  EXPECT_FALSE(r->sampling.seed.has_value());
  EXPECT_TRUE(r->sampling.stop.empty());
  auto single_stop = ParseJobRequest(R"({"text":"doc","stop":"X","seed":-1})", kLimits);
  ASSERT_TRUE(single_stop.ok());
  EXPECT_EQ(single_stop->sampling.stop, std::vector<std::string>{"X"});
  EXPECT_FALSE(single_stop->sampling.seed.has_value());
}

TEST(JobRequestTest, ParsesMessages) {
  auto r = ParseJobRequest(
      R"({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]})",
      kLimits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "hi");
}

TEST(JobRequestTest, RejectsBadInputWithTheFieldNamed) {
  struct Case {
    const char* body;
    const char* expect_in_message;
  };
  const Case cases[] = {
      {"{bad", "not valid JSON"},
      {"[1,2]", "must be a JSON object"},
      {"{}", "'text'"},
      {R"({"text":""})", "'text' is empty"},
      {R"({"text":"  \n"})", "'text' is empty"},
      {R"({"text":5})", "'text' must be a string"},
      {R"({"text":"a","messages":[{"role":"user","content":"b"}]})", "not both"},
      {R"({"text":"a","max_tokens":"x"})", "'max_tokens' must be an integer"},
      {R"({"text":"a","max_tokens":0})", "'max_tokens' must be between 1"},
      {R"({"text":"a","max_tokens":1.5})", "'max_tokens' must be an integer"},
      {R"({"text":"a","max_tokens":99999999999999999999})", "'max_tokens' must be between"},
      {R"({"text":"a","max_tokens":100000,"max_tokens":1})", "'max_tokens' twice"},
      {R"({"text":"a","temperature":"hot"})", "'temperature' must be a number"},
      {R"({"text":"a","temperature":5})", "'temperature' must be >= 0"},
      {R"({"text":"a","top_p":0})", "'top_p' must be > 0"},
      {R"({"text":"a","priority":99})", "'priority' must be between -10 and 10"},
      {R"({"text":"a","timeout_seconds":-1})", "'timeout_seconds'"},
      {R"({"text":"a","seed":-5})", "'seed'"},
      {R"({"text":"a","stop":5})", "'stop' must be a string or an array"},
      {R"({"text":"a","stop":[""]})", "'stop'"},
      {R"({"text":"a","max_token":5})", "unknown field 'max_token'"},
      {R"({"messages":"hi"})", "'messages' must be an array"},
      {R"({"messages":[]})", "'messages' is empty"},
      {R"({"messages":[{"role":"robot","content":"x"}]})", "role"},
      {R"({"messages":[{"role":"system","content":"x"}]})", "at least one user message"},
      {R"({"messages":[{"role":"user","content":"x","name":"n"}]})", "unknown field 'name'"},
      {R"({"messages":[{"role":"user","content":"x"}],"question":"q"})", "'question'"},
      {"{\"text\":\"\xC3\x28\"}", "not valid JSON"},  // invalid UTF-8 inside a string
  };
  for (const Case& c : cases) {
    auto r = ParseJobRequest(c.body, kLimits);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(r.status().message().find(c.expect_in_message), std::string::npos)
        << c.body << " -> " << r.status().message();
  }
}

TEST(JobRequestTest, SeedRequestMapsMaxLengthAndIgnoresExtraFields) {
  auto r = ParseSeedChatRequest(R"({"text":"doc","question":"q","max_length":12,
                                     "temperature":0.3,"user":"x"})",
                                kLimits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->sampling.max_tokens, 12);
  EXPECT_FLOAT_EQ(r->sampling.temperature, 0.3f);
  EXPECT_FALSE(ParseSeedChatRequest(R"({"question":"q"})", kLimits).ok());
}

// Random mutations of valid bodies: the parser must answer every one with a value or an
// InvalidArgument, never crash, throw or accept an invalid combination.
TEST(JobRequestTest, SurvivesMutatedInput) {
  const std::string seeds[] = {
      R"({"text":"doc","question":"q?","max_tokens":64,"temperature":0.2,"stop":["a"]})",
      R"({"messages":[{"role":"user","content":"hi"}],"seed":3,"priority":-2})",
  };
  std::mt19937 rng(1234);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string body = seeds[round % 2];
    const int edits = 1 + rng() % 4;
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0:
          body[at] = static_cast<char>(rng() & 0xFF);
          break;
        case 1:
          body.erase(at, 1 + rng() % 3);
          break;
        default:
          body.insert(at, 1, "{}[]\",:0-eE.\\"[rng() % 13]);
      }
    }
    auto chat = ParseOpenAiChatRequest(body, kLimits);  // the same bytes, as a chat request
    EXPECT_TRUE(chat.ok() ? !chat->messages.empty()
                          : chat.status().code() == StatusCode::kInvalidArgument)
        << body;
    auto r = ParseJobRequest(body, kLimits);
    if (r.ok()) {
      ++accepted;
      EXPECT_TRUE(r->messages.empty() != r->text.empty()) << body;
      EXPECT_GE(r->sampling.max_tokens, 1);
      EXPECT_LE(r->sampling.max_tokens, kLimits.max_tokens_limit);
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  EXPECT_GT(accepted, 0);  // the mutations were not all fatal: both paths were exercised
}

TEST(OpenAiChatRequestTest, TakesWhatOpenAiClientsSend) {
  auto r = ParseOpenAiChatRequest(
      R"({"model":"gpt-4o","user":"u1","messages":[
            {"role":"system","content":"Be brief.","name":"sys"},
            {"role":"user","content":[{"type":"text","text":"Hello, "},{"type":"text","text":"world"}]}],
          "max_completion_tokens":7,"temperature":0,"seed":3,"stop":"END","stream":false,"n":1})",
      kLimits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[0].content, "Be brief.");
  EXPECT_EQ(r->messages[1].content, "Hello, world");
  EXPECT_EQ(r->sampling.max_tokens, 7);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_EQ(r->sampling.seed, 3u);
  EXPECT_EQ(r->sampling.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(ParseOpenAiChatRequest(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":5})",
                                   kLimits)
                ->sampling.max_tokens,
            5);
}

TEST(OpenAiChatRequestTest, SaysWhetherToStream) {
  bool stream = false;
  ASSERT_TRUE(ParseOpenAiChatRequest(
                  R"({"messages":[{"role":"user","content":"x"}],"stream":true})", kLimits, &stream)
                  .ok());
  EXPECT_TRUE(stream);
  ASSERT_TRUE(
      ParseOpenAiChatRequest(R"({"messages":[{"role":"user","content":"x"}],"stream":false})",
                             kLimits, &stream)
          .ok());
  EXPECT_FALSE(stream);
  EXPECT_FALSE(ParseOpenAiChatRequest(R"({"messages":[{"role":"user","content":"x"}],"stream":1})",
                                      kLimits, &stream)
                   .ok());
}

TEST(OpenAiChatRequestTest, RefusesWhatWouldChangeTheAnswersForm) {
  const std::string user = R"("messages":[{"role":"user","content":"x"}])";
  // "stream": true is an error where no one asked whether to stream.
  for (const std::string& extra :
       {std::string(R"("stream":true)"), std::string(R"("stream":"yes")"), std::string(R"("n":2)"),
        std::string(R"("tools":[{"type":"function"}])"),
        std::string(R"("response_format":{"type":"json_schema","json_schema":{}})")}) {
    auto r = ParseOpenAiChatRequest("{" + user + "," + extra + "}", kLimits);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << extra;
  }
  EXPECT_EQ(ParseOpenAiChatRequest(R"({"model":"m"})", kLimits).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOpenAiChatRequest(
                R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
                kLimits)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(ResponseFormatTest, JsonModeIsTakenWhereThePromptAsksForJson) {
  auto chat = ParseOpenAiChatRequest(
      R"({"messages":[{"role":"user","content":"Answer in JSON."}],
          "response_format":{"type":"json_object"}})",
      kLimits);
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  EXPECT_EQ(chat->sampling.format, ResponseFormat::kJsonObject);
  auto job = ParseJobRequest(
      R"({"text":"doc","question":"Reply as json","response_format":{"type":"json_object"}})",
      kLimits);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->sampling.format, ResponseFormat::kJsonObject);
  // "text" is the default, said or not.
  auto text = ParseOpenAiChatRequest(
      R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}})", kLimits);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(text->sampling.format, ResponseFormat::kText);
  EXPECT_EQ(ParseJobRequest(R"({"text":"doc"})", kLimits)->sampling.format, ResponseFormat::kText);
}

// Structured Outputs as OpenAI's clients send them: the schema kept as given, no mention of
// JSON needed.
TEST(ResponseFormatTest, AJsonSchemaIsKeptWithTheRequest) {
  const std::string format = R"({"type":"json_schema","json_schema":{"name":"city",
      "strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"},
      "people":{"type":"integer"}},"required":["name","people"],
      "additionalProperties":false}}})";
  auto chat = ParseOpenAiChatRequest(
      R"({"messages":[{"role":"user","content":"The largest city."}],"response_format":)" + format +
          "}",
      kLimits);
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  EXPECT_EQ(chat->sampling.format, ResponseFormat::kJsonSchema);
  const nlohmann::json kept = nlohmann::json::parse(chat->sampling.json_schema);
  EXPECT_EQ(kept, nlohmann::json::parse(format)["json_schema"]);
  auto job = ParseJobRequest(R"({"text":"doc","response_format":)" + format + "}", kLimits);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->sampling.json_schema, chat->sampling.json_schema);
}

TEST(ResponseFormatTest, WhatCannotBeHonouredIsRefusedWithTheReason) {
  struct Case {
    const char* format;
    const char* content;
    const char* expect_in_message;
  };
  const Case cases[] = {
      {R"({"type":"json_object"})", "no mention of the format", "needs the word 'json'"},
      {R"({"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string",
          "pattern":"a+"}}})",
       "json please", "uses 'pattern'"},
      {R"({"type":"json_schema","json_schema":{"schema":{}}})", "json",
       "json_schema.name' must be"},
      {R"({"type":"json_schema"})", "json", "with a 'name' and a 'schema'"},
      {R"({"type":"xml"})", "json", "'text', 'json_object' or 'json_schema'"},
      {R"("json_object")", "json", "'response_format' must be an object"},
      {R"({})", "json", "'response_format.type' must be a string"},
      {R"({"type":"json_object","strict":true})", "json", "unknown field 'strict'"},
  };
  for (const Case& c : cases) {
    const std::string chat = std::string(R"({"messages":[{"role":"user","content":")") + c.content +
                             R"("}],"response_format":)" + c.format + "}";
    auto r = ParseOpenAiChatRequest(chat, kLimits);
    ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << chat;
    EXPECT_NE(r.status().message().find(c.expect_in_message), std::string::npos)
        << chat << " -> " << r.status().message();
    const std::string job = std::string(R"({"text":"doc","question":")") + c.content +
                            R"(","response_format":)" + c.format + "}";
    auto j = ParseJobRequest(job, kLimits);
    ASSERT_EQ(j.status().code(), StatusCode::kInvalidArgument) << job;
    EXPECT_NE(j.status().message().find(c.expect_in_message), std::string::npos)
        << job << " -> " << j.status().message();
  }
}

}  // namespace
}  // namespace glmq
