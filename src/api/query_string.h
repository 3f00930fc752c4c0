// Query strings of request targets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace glmq {

// Splits "a=1&b=x%20y" into decoded pairs. Returns an error for malformed escapes.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query);

// Decimal digits, with a '-' before them or not, as a number; nullopt for anything else
// (blanks, a '+', a fraction, too many digits).
std::optional<int64_t> ParseWholeNumber(std::string_view text);

// The query parameter `name` as a whole number from `least` to `most`; nullopt when it is
// absent, kInvalidArgument that names it and the range when it is anything else.
Result<std::optional<int64_t>> WholeNumberParam(const std::map<std::string, std::string>& query,
                                                const std::string& name, int64_t least,
                                                int64_t most);

}  // namespace glmq
