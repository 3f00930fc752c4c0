// Percent-decoding (RFC 3986 §2.1), for query strings and URLs.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace glmq {

// Decodes %XX escapes; with `plus_is_space` (HTML form encoding, query strings) a '+' is a
// space. kInvalidArgument for a '%' not followed by two hex digits.
Result<std::string> PercentDecode(std::string_view s, bool plus_is_space);

}  // namespace glmq
