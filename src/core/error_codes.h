// The error codes clients see: in every error answer ({"error":{"code","message"}}, with
// the HTTP status api/json_response.h gives each) and in a failed job's error.code. One
// list, so that one mistake has one name on every route: a bad field is invalid_request
// wherever it is found.
#pragma once

#include <string_view>

#include "core/status.h"

namespace glmq {

enum class ErrorCode {
  // Requests (4xx).
  kInvalidRequest,         // 400: a field is missing, of the wrong type or out of range
  kInvalidJson,            // 400: the body is not JSON
  kInvalidQuery,           // 400: the query string cannot be read
  kInvalidIdempotencyKey,  // 400
  kBadHttp,                // 400: the request is not well-formed HTTP
  kUriTooLong,             // 414: the request line is over the limit
  kHeadersTooLarge,        // 431: the header section is over the limit (bytes or fields)
  kUnauthorized,           // 401: no valid API key
  kForbidden,              // 403: the key's role does not allow it
  kNotFound,               // 404
  kMethodNotAllowed,       // 405
  kConflict,               // 409: the job is not in a state that allows it
  kIdempotencyKeyInUse,    // 409: the same key is being accepted right now
  kPayloadTooLarge,        // 413
  kPromptTooLong,          // 422 (and a failed job): it can never fit the context
  kUnprocessable,          // 422: well-formed, but not something that can be done
  kIdempotencyKeyReused,   // 422: the same key with another body
  kInvalidSilence,         // 422
  kRateLimited,            // 429
  kQuotaExceeded,          // 429: the tenant is over one of its limits (the message names it)
  kResourceExhausted,      // 429
  // Jobs that ended without an answer (and the chat facade's answers for them).
  kCancelled,            // 409
  kTimeout,              // 504: its timeout_seconds passed
  kStillRunning,         // 504: a chat completion's wait ran out; the job goes on
  kAnswerRestarted,      // 500: a streamed answer's job ran again and answered otherwise
  kKvExhausted,          // the KV cache had no room for a running sequence
  kDecodeFailed,         // the engine failed to decode
  kUpstreamUnavailable,  // the remote engine could not be reached
  kUpstreamError,        // the remote engine refused the job
  // This side (5xx).
  kInternal,             // 500
  kUnavailable,          // 503: the store or the engine cannot take it now
  kOverloaded,           // 503: the queue would take longer than --max-drain-seconds
  kInsufficientStorage,  // 507: the store's disk is full
};

std::string_view ErrorCodeName(ErrorCode code);

// The code a Status stands for when it reaches a client.
ErrorCode ErrorCodeFor(StatusCode code);

}  // namespace glmq
