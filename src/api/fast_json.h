// Parsing request bodies quickly: a 10 MB document must be accepted in milliseconds, and
// nlohmann::json reads strings at ~70 MB/s. simdjson parses (and validates UTF-8) at GB/s;
// the result is handed on as nlohmann::json, whose API the validators use.
//
// Memory: a body whose capacity has kJsonPadding bytes to spare past its end is read where
// it is (simdjson's SIMD reads run past the end; without the room it copies the body), and
// the body is freed once simdjson has read it, before the nlohmann copy of its strings is
// made: a 10 MB document is held twice at the most while it is parsed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace glmq {

// The parsed document; kInvalidArgument when `body` is not valid JSON or not valid UTF-8
// (what nlohmann::json::parse refuses), or when an object has the same key twice: RFC 8259
// leaves that to the parser, and "last one wins" would let {"max_tokens":100000,
// "max_tokens":1} mean whatever the reader of the body chose.
Result<nlohmann::json> ParseJson(std::string body);

// Room to leave past the end of a body that will be parsed (simdjson's SIMDJSON_PADDING).
inline constexpr size_t kJsonPadding = 64;

}  // namespace glmq
