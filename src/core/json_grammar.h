// The grammars that hold an answer to JSON, in llama.cpp's GBNF: OpenAI's JSON mode
// (`response_format` {"type":"json_object"}: one JSON object, RFC 8259) and its Structured
// Outputs (`{"type":"json_schema"}`: a value that matches a JSON Schema). The engine's
// TokenSampler (engine/token_sampler.h) holds a job's answer to one: no token that cannot
// continue such a value is chosen, and the end of generation only once the value is whole.
// The API builds a schema's grammar at submit too, so a schema it cannot hold an answer to
// is a 400 then, not a failed job later.
//
// Whitespace between tokens is bounded (a space, or a newline and up to 20 spaces or tabs),
// as are a number's digits, so that a model held to a grammar cannot pad forever; strings
// and nesting are not, and max_tokens cuts what runs on (finish_reason "length").
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace glmq {

// JSON mode's: one JSON object, then at most a little whitespace.
const std::string& JsonObjectGrammar();

// Structured Outputs': a value matching `schema`, in the subset of JSON Schema that OpenAI's
// strict mode takes, whose every keyword the grammar enforces:
// - "type" (one or a list: object, array, string, number, integer, boolean, null),
//   "enum", "const", "anyOf", "$ref" to "#/$defs/..." or "#/definitions/..." (recursion
//   allowed);
// - objects with "properties", every one of them "required", and "additionalProperties"
//   false or absent (no other key is written); an object without "properties" is any
//   object. The keys are written in the order "propertyOrdering" gives (a list of all the
//   property names, as Gemini's API takes it), else in the order of their names: glmq's
//   JSON parser keeps an object's keys sorted, where OpenAI writes them in the schema's
//   order, and an answer's order matters to a model (reasoning before the verdict);
// - arrays with "items", "minItems", "maxItems";
// - annotations ("title", "description", "default", "examples", "$schema", "$id",
//   "$comment") are ignored.
// Anything else ("pattern", "format", "minLength", "oneOf", an optional property, ...) is
// an InvalidArgument naming the keyword and where it is, rather than an answer that might
// not match.
Result<std::string> JsonSchemaGrammar(const nlohmann::json& schema);

}  // namespace glmq
