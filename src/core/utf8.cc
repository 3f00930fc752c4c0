#include "core/utf8.h"

#include <cstdint>

namespace glmq {
namespace {

// Length of a well-formed sequence at the start of `s`, 0 if ill-formed, -1 if `s` ends
// before a sequence that is well-formed so far is complete. Follows the Unicode table of
// well-formed byte sequences (no overlongs, no surrogates, nothing above U+10FFFF).
int SequenceLength(std::string_view s) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) return 1;
  int len;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return -1;
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return 0;
  }
  return len;
}

}  // namespace

size_t Utf8StablePrefix(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const int n = SequenceLength(bytes.substr(i));
    if (n < 0) return i;
    i += n > 0 ? n : 1;
  }
  return i;
}

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const int n = SequenceLength(bytes.substr(i));
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const int n = SequenceLength(bytes.substr(i));
    if (n <= 0) return false;
    i += n;
  }
  return true;
}

}  // namespace glmq
