// How much of a generation can be shown while it runs. The bytes generated so far may end
// inside a character that the next token completes, or in the first bytes of a stop string
// that the next token completes and that is then cut from the answer; text shown before
// the job ends must not be taken back, so both are held until the next tokens decide.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace glmq {

// The end of the text of `bytes` that no later byte can change, at least `from` (where the
// last call ended: text up to it was shown). `bytes[from, end)` sanitized (SanitizeUtf8) is
// the text to add to what was shown; the whole answer, once it ends, starts with it.
size_t StableTextEnd(std::string_view bytes, size_t from, const std::vector<std::string>& stop);

}  // namespace glmq
