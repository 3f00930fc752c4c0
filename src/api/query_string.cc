#include "api/query_string.h"

#include <charconv>

#include "core/percent.h"

namespace glmq {

Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    GLMQ_ASSIGN_OR_RETURN(std::string key,
                          PercentDecode(pair.substr(0, eq), /*plus_is_space=*/true));
    std::string value;
    if (eq != std::string_view::npos) {
      GLMQ_ASSIGN_OR_RETURN(value, PercentDecode(pair.substr(eq + 1), /*plus_is_space=*/true));
    }
    out[std::move(key)] = std::move(value);
  }
  return out;
}

std::optional<int64_t> ParseWholeNumber(std::string_view text) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<std::optional<int64_t>> WholeNumberParam(const std::map<std::string, std::string>& query,
                                                const std::string& name, int64_t least,
                                                int64_t most) {
  const auto it = query.find(name);
  if (it == query.end()) return std::optional<int64_t>();
  const std::optional<int64_t> v = ParseWholeNumber(it->second);
  if (!v || *v < least || *v > most) {
    return InvalidArgument("'" + name + "' must be a whole number from " + std::to_string(least) +
                           " to " + std::to_string(most));
  }
  return v;
}

}  // namespace glmq
