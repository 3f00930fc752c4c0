#include "engine/openai_engine.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/engine_test_support.h"

namespace glmq {
namespace {

// The vocabulary, with the upstream's context.
std::unique_ptr<Tokenizer> UpstreamTokenizer() {
  LlamaEngineOptions o;
  o.model_path = ModelPath();
  o.ctx_size = 8192;
  auto tokenizer = LlamaTokenizer::Load(o);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

TEST(OpenAiEngineTest, SendsTheJobAsAChatRequest) {
  OpenAiEngineOptions options;
  options.base_url = "http://127.0.0.1:9/v1/";
  options.model = "glm-4";
  options.parallel = 3;
  auto engine = OpenAiEngine::Create(UpstreamTokenizer(), options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->info().parallel, 3);
  EXPECT_EQ((*engine)->info().ctx_size, 8192);
  EXPECT_EQ((*engine)->FreeSlots(), 3);
  JobRequest request;
  request.text = "The document.";
  request.question = "The question?";
  request.sampling = {
      .max_tokens = 9, .temperature = 0.5f, .top_p = 0.9f, .seed = 7, .stop = {"END"}};
  const auto body = nlohmann::json::parse((*engine)->RequestBody(request));
  EXPECT_EQ(body.value("model", ""), "glm-4");
  ASSERT_EQ(body["messages"].size(), 1u);
  EXPECT_EQ(body["messages"][0].value("role", ""), "user");
  EXPECT_EQ(body["messages"][0].value("content", ""), "The document.\n\nThe question?");
  EXPECT_EQ(body.value("max_tokens", 0), 9);
  EXPECT_FLOAT_EQ(body.value("temperature", 0.0f), 0.5f);
  EXPECT_FLOAT_EQ(body.value("top_p", 0.0f), 0.9f);
  EXPECT_EQ(body.value("seed", 0), 7);
  EXPECT_EQ(body["stop"], nlohmann::json::array({"END"}));
  EXPECT_FALSE(body.value("stream", true));
  // Prompts are counted and checked with the vocabulary, against the upstream's context.
  EXPECT_GT(*(*engine)->tokenizer().CountPromptTokens(request), 0);
  EXPECT_EQ((*engine)->tokenizer().CheckFits(8000, 500).code(), StatusCode::kUnprocessable);
  EXPECT_TRUE((*engine)->tokenizer().CheckFits(7000, 500).ok());
}

TEST(OpenAiEngineTest, RefusesAnUpstreamThatIsNotAnHttpUrl) {
  OpenAiEngineOptions options;
  options.base_url = "10.0.0.5:8000";
  EXPECT_EQ(OpenAiEngine::Create(UpstreamTokenizer(), options).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace glmq
