#include "api/auth.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <fstream>

#include "crypto/crypto.h"

namespace glmq {
namespace {

constexpr size_t kMinKeyBytes = 16;
constexpr size_t kMaxKeyBytes = 256;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

Status CheckKey(std::string_view key, const std::string& where) {
  const bool printable =
      std::all_of(key.begin(), key.end(), [](char c) { return c > ' ' && c < 127; });
  if (key.size() < kMinKeyBytes || key.size() > kMaxKeyBytes || !printable) {
    return InvalidArgument(where + ": an API key must be " + std::to_string(kMinKeyBytes) + " to " +
                           std::to_string(kMaxKeyBytes) +
                           " printable ASCII characters without spaces (this one has " +
                           std::to_string(key.size()) + " characters)");
  }
  return Status::Ok();
}

}  // namespace

Result<ApiKeys> ApiKeys::Load(const std::vector<std::string>& keys, const std::string& file) {
  ApiKeys out;
  for (const std::string& key : keys) {
    GLMQ_RETURN_IF_ERROR(CheckKey(key, "--api-key"));
    out.digests_.push_back(Sha256(key));
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return InvalidArgument("--api-keys-file: cannot read '" + file + "'");
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      const std::string_view key = Trim(line);
      if (key.empty() || key.front() == '#') continue;
      GLMQ_RETURN_IF_ERROR(CheckKey(key, file + " line " + std::to_string(n)));
      out.digests_.push_back(Sha256(key));
    }
    if (out.digests_.empty()) {
      return InvalidArgument("--api-keys-file '" + file + "' holds no key");
    }
  }
  return out;
}

bool ApiKeys::Accepts(std::string_view authorization) const {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  }
  const std::string digest = Sha256(Trim(authorization.substr(kScheme.size())));
  bool match = false;
  // Every key is compared, each in constant time: the answer's timing says nothing of them.
  for (const std::string& d : digests_) {
    match |= CRYPTO_memcmp(d.data(), digest.data(), digest.size()) == 0;
  }
  return match;
}

}  // namespace glmq
