// UTF-8 helpers: generated text is assembled from token pieces that may split characters
// (or, for random or broken models, never form valid characters at all).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace glmq {

// Length of the longest prefix of `bytes` that does not end inside a character that later
// bytes could still complete. Invalid bytes are counted as complete (they never will be).
size_t Utf8StablePrefix(std::string_view bytes);

// `bytes` with every ill-formed sequence replaced by U+FFFD: always valid UTF-8.
std::string SanitizeUtf8(std::string_view bytes);

bool IsValidUtf8(std::string_view bytes);

}  // namespace glmq
