#include "api/query_string.h"

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

}  // namespace glmq
