// Query strings of request targets.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace glmq {

// Splits "a=1&b=x%20y" into decoded pairs. Returns an error for malformed escapes.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query);

}  // namespace glmq
