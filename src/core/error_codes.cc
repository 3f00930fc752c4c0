#include "core/error_codes.h"

namespace glmq {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest:
      return "invalid_request";
    case ErrorCode::kInvalidJson:
      return "invalid_json";
    case ErrorCode::kInvalidQuery:
      return "invalid_query";
    case ErrorCode::kInvalidIdempotencyKey:
      return "invalid_idempotency_key";
    case ErrorCode::kBadHttp:
      return "bad_http";
    case ErrorCode::kUnauthorized:
      return "unauthorized";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kMethodNotAllowed:
      return "method_not_allowed";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kIdempotencyKeyInUse:
      return "idempotency_key_in_use";
    case ErrorCode::kPayloadTooLarge:
      return "payload_too_large";
    case ErrorCode::kPromptTooLong:
      return "prompt_too_long";
    case ErrorCode::kUnprocessable:
      return "unprocessable";
    case ErrorCode::kIdempotencyKeyReused:
      return "idempotency_key_reused";
    case ErrorCode::kInvalidSilence:
      return "invalid_silence";
    case ErrorCode::kRateLimited:
      return "rate_limited";
    case ErrorCode::kQuotaExceeded:
      return "quota_exceeded";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kStillRunning:
      return "still_running";
    case ErrorCode::kAnswerRestarted:
      return "answer_restarted";
    case ErrorCode::kKvExhausted:
      return "kv_exhausted";
    case ErrorCode::kDecodeFailed:
      return "decode_failed";
    case ErrorCode::kUpstreamUnavailable:
      return "upstream_unavailable";
    case ErrorCode::kUpstreamError:
      return "upstream_error";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kOverloaded:
      return "overloaded";
    case ErrorCode::kUriTooLong:
      return "uri_too_long";
    case ErrorCode::kHeadersTooLarge:
      return "headers_too_large";
    case ErrorCode::kInsufficientStorage:
      return "insufficient_storage";
  }
  return "internal";
}

ErrorCode ErrorCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
    case StatusCode::kInternal:
    case StatusCode::kCancelled:
    case StatusCode::kDeadlineExceeded:
      return ErrorCode::kInternal;
    case StatusCode::kInvalidArgument:
      return ErrorCode::kInvalidRequest;
    case StatusCode::kNotFound:
      return ErrorCode::kNotFound;
    case StatusCode::kConflict:
      return ErrorCode::kConflict;
    case StatusCode::kTooLarge:
      return ErrorCode::kPayloadTooLarge;
    case StatusCode::kUnprocessable:
      return ErrorCode::kUnprocessable;
    case StatusCode::kResourceExhausted:
      return ErrorCode::kResourceExhausted;
    case StatusCode::kUnavailable:
      return ErrorCode::kUnavailable;
    case StatusCode::kStorageFull:
      return ErrorCode::kInsufficientStorage;
  }
  return ErrorCode::kInternal;
}

}  // namespace glmq
