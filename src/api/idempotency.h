// Idempotency-Key on submit: a client that retries a POST after a timeout gets the answer
// of its first try instead of a second job (the IETF httpapi draft's semantics, as Stripe
// serves them). The store keeps one answer per (tenant, key) for 24 h:
//   same key, same body      → the first answer again (status and body), replayed;
//   same key, other body     → 422 idempotency_key_reused;
//   same key, first in flight → 409 idempotency_key_in_use;
//   key over 255 characters or empty → 400.
// The tenant is the caller's (from its API key, never from a header): keys of different
// tenants never meet.
#pragma once

#include <optional>
#include <string>

#include "api/asio.h"
#include "store/job_store.h"

namespace glmq {

inline constexpr size_t kMaxIdempotencyKeyBytes = 255;
inline constexpr int64_t kIdempotencyTtlMs = 24 * 3'600'000;
// A reservation whose request never finished (its process died) lapses after this.
inline constexpr int64_t kIdempotencyInFlightMs = 60'000;

// The claim a request makes, or nullopt without the header; kInvalidArgument for a bad key.
Result<std::optional<JobStore::IdempotencyClaim>> IdempotencyClaimOf(const HttpRequest& request,
                                                                     const std::string& tenant);

}  // namespace glmq
