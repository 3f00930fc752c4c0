#include "core/json_grammar.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

using nlohmann::json;

// The keywords of OpenAI's strict subset each become part of the grammar (the engine's tests
// run the grammars: tests/engine/token_sampler_test.cc).
TEST(JsonGrammarTest, ASchemaBecomesRulesForItsParts) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "description": "ignored"},
      "size": {"enum": ["small", "large", 3]},
      "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
      "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}
    },
    "required": ["name", "size", "tags", "next"],
    "additionalProperties": false,
    "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}},
                       "required": ["next"]}}
  })");
  auto grammar = JsonSchemaGrammar(schema);
  ASSERT_TRUE(grammar.ok()) << grammar.status().ToString();
  const std::string& g = *grammar;
  EXPECT_EQ(g.rfind("root ::= ", 0), 0u) << g;
  // Keys as literals, in the schema's order (nlohmann keeps objects sorted by key).
  EXPECT_NE(g.find(R"("\"name\"" ws ":" ws string)"), std::string::npos) << g;
  EXPECT_NE(g.find(R"(( "\"small\"" | "\"large\"" | "3" ) ws)"), std::string::npos) << g;
  EXPECT_NE(g.find("){0,2}"), std::string::npos) << g;  // 1 to 3 items: the first, then 0..2
  // The recursive definition is one rule, referred to by itself.
  const size_t def = g.find("def-");
  ASSERT_NE(def, std::string::npos) << g;
  const std::string rule = g.substr(def, g.find_first_of(" )", def) - def);
  EXPECT_NE(g.find(rule + " ::= "), std::string::npos) << g;
  EXPECT_NE(g.find(rule, g.find(rule + " ::= ") + rule.size() + 4), std::string::npos) << g;
}

// Keys are written in the order of their names, or in propertyOrdering's.
TEST(JsonGrammarTest, PropertyOrderingSetsTheOrderOfTheKeys) {
  json schema = json::parse(R"({"type": "object", "required": ["answer", "reasoning"],
      "properties": {"answer": {"type": "boolean"}, "reasoning": {"type": "string"}}})");
  auto sorted = JsonSchemaGrammar(schema);
  ASSERT_TRUE(sorted.ok()) << sorted.status().ToString();
  EXPECT_LT(sorted->find("answer"), sorted->find("reasoning")) << *sorted;
  schema["propertyOrdering"] = {"reasoning", "answer"};
  auto ordered = JsonSchemaGrammar(schema);
  ASSERT_TRUE(ordered.ok()) << ordered.status().ToString();
  EXPECT_GT(ordered->find("answer"), ordered->find("reasoning")) << *ordered;
  for (const json& bad : {json({"reasoning"}), json({"reasoning", "answer", "answer"}),
                          json({"reasoning", "verdict"}), json("reasoning,answer")}) {
    schema["propertyOrdering"] = bad;
    EXPECT_NE(JsonSchemaGrammar(schema).status().message().find(
                  "propertyOrdering' must name each of its properties once"),
              std::string::npos)
        << bad;
  }
}

TEST(JsonGrammarTest, WhatNoGrammarEnforcesIsRefusedByName) {
  struct Case {
    const char* schema;
    const char* expect_in_message;
  };
  const Case cases[] = {
      {R"({"type": "string", "pattern": "^a+$"})", "uses 'pattern'"},
      {R"({"type": "string", "format": "date"})", "uses 'format'"},
      {R"({"oneOf": [{"type": "string"}]})", "uses 'oneOf'"},
      {R"({"type": "object", "properties": {"a": {"type": "string"}}})",
       ".properties.a' is not in 'required'"},
      {R"({"type": "object", "properties": {}, "additionalProperties": true})",
       "additionalProperties' must be false"},
      {R"({"type": "object", "properties": {"a": {"minLength": 2}}, "required": ["a"]})",
       ".properties.a' uses 'minLength'"},
      {R"({"type": "date"})", "names 'date'"},
      {R"({"$ref": "#/$defs/missing"})", "not a definition"},
      {R"({"$ref": "http://example.com/schema"})", "not a definition"},
      {R"({"type": "array", "minItems": 3, "maxItems": 2})", "less than minItems"},
      {R"({"type": "array", "maxItems": -1})", "whole number"},
      {R"({"enum": []})", "non-empty array"},
      {R"({"type": "object", "properties": {"a": false}, "required": ["a"]})", "no value"},
      {R"({"type": "object", "properties": {}, "required": ["b"]})", "names 'b'"},
  };
  for (const Case& c : cases) {
    auto grammar = JsonSchemaGrammar(json::parse(c.schema));
    ASSERT_EQ(grammar.status().code(), StatusCode::kInvalidArgument) << c.schema;
    EXPECT_NE(grammar.status().message().find(c.expect_in_message), std::string::npos)
        << c.schema << " -> " << grammar.status().message();
  }
  // Depth is bounded: a schema is a request's bytes.
  json deep = {{"type", "string"}};
  for (int i = 0; i < 100; ++i) deep = {{"type", "array"}, {"items", deep}};
  EXPECT_NE(JsonSchemaGrammar(deep).status().message().find("nested too deeply"),
            std::string::npos);
}

}  // namespace
}  // namespace glmq
