// API keys: with any configured, every /v1 and /api route wants `Authorization: Bearer KEY`
// (health, metrics, the OpenAPI document and the dashboard page stay open; the page sends
// the key it is given in its URL's #key=...). Keys are kept as SHA-256 digests and compared
// in constant time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace glmq {

class ApiKeys {
 public:
  // Keys given one by one (--api-key), and a file of one key per line (--api-keys-file;
  // blank lines and lines starting with '#' are skipped, surrounding spaces trimmed). A key
  // must be 16 to 256 printable ASCII characters without spaces.
  static Result<ApiKeys> Load(const std::vector<std::string>& keys, const std::string& file);

  bool empty() const { return digests_.empty(); }
  size_t size() const { return digests_.size(); }
  // Whether an Authorization header value carries one of the keys ("Bearer KEY", the
  // scheme in any case).
  bool Accepts(std::string_view authorization) const;

 private:
  std::vector<std::string> digests_;  // SHA-256 of each key, raw bytes
};

}  // namespace glmq
