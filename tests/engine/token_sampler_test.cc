// The response formats run on the generated model: whatever its random weights prefer, the
// grammar holds the answer to a JSON object, or to a value matching a schema.
#include "engine/token_sampler.h"

#include <gtest/gtest.h>

#include "engine/engine_test_support.h"
#include "support/json_prefix.h"

namespace glmq {
namespace {

using nlohmann::json;

// A schema without free text: every field ends after a bounded number of tokens (at most 16
// digits, at most a newline and 20 tabs of whitespace between tokens, which the random
// model's greedy choice takes), so the object closes within max_tokens, and what it wrote
// can be checked field by field.
constexpr char kSchema[] = R"({"name": "reading", "strict": true, "schema": {
  "type": "object",
  "properties": {
    "ok": {"type": "boolean"},
    "level": {"enum": ["low", "mid", "high"]},
    "count": {"type": "integer"},
    "maybe": {"type": ["null", "boolean"]},
    "pair": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
    "inner": {"$ref": "#/$defs/inner"}
  },
  "required": ["ok", "level", "count", "maybe", "pair", "inner"],
  "propertyOrdering": ["pair", "ok", "level", "count", "maybe", "inner"],
  "additionalProperties": false,
  "$defs": {"inner": {"type": "object", "properties": {"tag": {"const": "x"}},
                      "required": ["tag"]}}
}})";

TEST(TokenSamplerTest, AnAnswerHeldToASchemaMatchesIt) {
  auto engine = LoadEngine(4);
  ASSERT_NE(engine, nullptr);
  std::vector<Job> jobs;
  for (int i = 0; i < 4; ++i) {
    Job job = MakeJob("schema-" + std::to_string(i), "Readings of the day.", 1000);
    job.request.sampling.format = ResponseFormat::kJsonSchema;
    job.request.sampling.json_schema = kSchema;
    job.request.sampling.temperature = 0.5f * static_cast<float>(i);
    job.request.sampling.seed = 7 + i;
    jobs.push_back(job);
    ASSERT_TRUE(Admit(*engine, job).ok()) << job.id;
  }
  auto done = RunAll(*engine);
  for (const Job& job : jobs) {
    ASSERT_EQ(done.count(job.id), 1u) << job.id;
    const Completion& c = done[job.id];
    ASSERT_EQ(c.finish_reason, "stop") << job.id << ": " << c.output;
    const json answer = json::parse(c.output, nullptr, false);
    ASSERT_TRUE(answer.is_object()) << c.output;
    EXPECT_EQ(answer.size(), 6u) << c.output;
    EXPECT_TRUE(answer["ok"].is_boolean()) << c.output;
    EXPECT_TRUE(answer["level"] == "low" || answer["level"] == "mid" || answer["level"] == "high")
        << c.output;
    EXPECT_TRUE(answer["count"].is_number_integer()) << c.output;
    EXPECT_TRUE(answer["maybe"].is_null() || answer["maybe"].is_boolean()) << c.output;
    ASSERT_TRUE(answer["pair"].is_array()) << c.output;
    EXPECT_EQ(answer["pair"].size(), 2u) << c.output;
    for (const json& n : answer["pair"]) EXPECT_TRUE(n.is_number_integer()) << c.output;
    EXPECT_EQ(answer["inner"], json({{"tag", "x"}})) << c.output;
    // Written in propertyOrdering's order.
    const nlohmann::ordered_json in_order = nlohmann::ordered_json::parse(c.output);
    std::vector<std::string> keys;
    for (const auto& [key, value] : in_order.items()) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"pair", "ok", "level", "count", "maybe", "inner"}))
        << c.output;
  }
}

// JSON mode: a JSON object or the beginning of one; the same jobs without it are neither.
TEST(TokenSamplerTest, JsonModeHoldsTheAnswerToAJsonObject) {
  // The checker itself: a beginning is told from a text that went wrong before its end.
  EXPECT_EQ(ShapeOfJson(R"({"a": [1, 2.5e3, "x\u00e9"], "b": {}} )"), JsonShape::kObject);
  EXPECT_EQ(ShapeOfJson(R"({"a": [1, 2.)"), JsonShape::kBeginningOfObject);
  EXPECT_EQ(ShapeOfJson(R"({"a": tr)"), JsonShape::kBeginningOfObject);
  EXPECT_EQ(ShapeOfJson(R"({"a" 1)"), JsonShape::kNeither);
  EXPECT_EQ(ShapeOfJson(R"([1])"), JsonShape::kNeither);

  auto engine = LoadEngine(4);
  ASSERT_NE(engine, nullptr);
  const std::string doc = "Foxes are quick. Dogs are lazy. Reply in JSON.";
  std::vector<Job> jobs;
  for (int i = 0; i < 4; ++i) {
    Job job = MakeJob("json-" + std::to_string(i), doc, 40);
    job.request.sampling.format = ResponseFormat::kJsonObject;
    job.request.sampling.temperature = 0.5f * static_cast<float>(i);
    job.request.sampling.seed = 100 + i;
    jobs.push_back(job);
  }
  for (const Job& job : jobs) ASSERT_TRUE(Admit(*engine, job).ok()) << job.id;
  auto done = RunAll(*engine);
  for (const Job& job : jobs) {
    ASSERT_EQ(done.count(job.id), 1u) << job.id;
    const Completion& c = done[job.id];
    EXPECT_EQ(c.state, JobState::kSucceeded) << job.id;
    EXPECT_GT(c.usage.completion_tokens, 0) << job.id;
    const JsonShape shape = ShapeOfJson(c.output);
    EXPECT_NE(shape, JsonShape::kNeither) << job.id << ": " << c.output;
    // Ended by the model only once the object is closed.
    if (c.finish_reason == "stop") EXPECT_EQ(shape, JsonShape::kObject) << c.output;
  }
  for (Job& job : jobs) {
    job.id += "-text";
    job.request.sampling.format = ResponseFormat::kText;
    ASSERT_TRUE(Admit(*engine, job).ok()) << job.id;
  }
  done = RunAll(*engine);
  int json_like = 0;
  for (const auto& [id, c] : done) json_like += ShapeOfJson(c.output) != JsonShape::kNeither;
  EXPECT_EQ(json_like, 0);
}

// A schema stored with a job is checked again where it runs: one that no grammar can be
// made of (a store written by hand, a newer gateway) fails the admission, and the slot is
// left as it was.
TEST(TokenSamplerTest, AStoredSchemaNoGrammarHoldsFailsTheAdmission) {
  auto engine = LoadEngine(1);
  ASSERT_NE(engine, nullptr);
  Job job = MakeJob("bad", "A note.", 8);
  job.request.sampling.format = ResponseFormat::kJsonSchema;
  job.request.sampling.json_schema = R"({"name":"n","schema":{"type":"string","pattern":"a"}})";
  const Status s = Admit(*engine, job);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pattern"), std::string::npos) << s.ToString();
  EXPECT_EQ(engine->FreeSlots(), 1);
  EXPECT_EQ(engine->ActiveSequences(), 0);
}

}  // namespace
}  // namespace glmq
