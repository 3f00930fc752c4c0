// Parsing request bodies quickly: a 10 MB document must be accepted in milliseconds, and
// nlohmann::json reads strings at ~70 MB/s. simdjson parses (and validates UTF-8) at GB/s;
// the result is handed on as nlohmann::json, whose API the validators use.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/status.h"

namespace glmq {

// The parsed document; kInvalidArgument when `body` is not valid JSON or not valid UTF-8
// (what nlohmann::json::parse refuses), or when an object has the same key twice: RFC 8259
// leaves that to the parser, and "last one wins" would let {"max_tokens":100000,
// "max_tokens":1} mean whatever the reader of the body chose.
Result<nlohmann::json> ParseJson(std::string_view body);

}  // namespace glmq
