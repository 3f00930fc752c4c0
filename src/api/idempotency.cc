#include "api/idempotency.h"

#include "crypto/crypto.h"

namespace glmq {

Result<std::optional<JobStore::IdempotencyClaim>> IdempotencyClaimOf(const HttpRequest& request,
                                                                     const std::string& tenant) {
  auto it = request.find("Idempotency-Key");
  if (it == request.end()) return std::optional<JobStore::IdempotencyClaim>();
  const std::string_view key(it->value().data(), it->value().size());
  if (key.empty() || key.size() > kMaxIdempotencyKeyBytes) {
    return InvalidArgument("Idempotency-Key must be 1 to " +
                           std::to_string(kMaxIdempotencyKeyBytes) + " characters, not " +
                           std::to_string(key.size()));
  }
  JobStore::IdempotencyClaim claim;
  claim.key = tenant + "\n" + std::string(key);
  claim.body_sha256 = Sha256Hex(request.body());
  return std::optional<JobStore::IdempotencyClaim>(std::move(claim));
}

}  // namespace glmq
