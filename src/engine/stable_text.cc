#include "engine/stable_text.h"

#include <algorithm>

#include "core/utf8.h"

namespace glmq {

size_t StableTextEnd(std::string_view bytes, size_t from, const std::vector<std::string>& stop) {
  from = std::min(from, bytes.size());
  // `from` is where a character starts (a stop string, valid UTF-8, starts at one too), so
  // the characters after it are the same as in a scan from the beginning.
  size_t end = from + Utf8StablePrefix(bytes.substr(from));
  // The longest tail of the bytes that begins a stop string is cut if the string completes.
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    for (size_t k = std::min(s.size() - 1, bytes.size()); k > 0; --k) {
      if (bytes[bytes.size() - k] == s[0] &&
          bytes.substr(bytes.size() - k) == std::string_view(s).substr(0, k)) {
        end = std::min(end, bytes.size() - k);
        break;
      }
    }
  }
  return std::max(end, from);
}

}  // namespace glmq
