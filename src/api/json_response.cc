#include "api/json_response.h"

namespace glmq {

http::status HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest:
      return http::status::bad_request;
    case ErrorCode::kInvalidJson:
      return http::status::bad_request;
    case ErrorCode::kInvalidQuery:
      return http::status::bad_request;
    case ErrorCode::kInvalidIdempotencyKey:
      return http::status::bad_request;
    case ErrorCode::kBadHttp:
      return http::status::bad_request;
    case ErrorCode::kUriTooLong:
      return http::status::uri_too_long;
    case ErrorCode::kHeadersTooLarge:
      return http::status::request_header_fields_too_large;
    case ErrorCode::kUnauthorized:
      return http::status::unauthorized;
    case ErrorCode::kForbidden:
      return http::status::forbidden;
    case ErrorCode::kNotFound:
      return http::status::not_found;
    case ErrorCode::kMethodNotAllowed:
      return http::status::method_not_allowed;
    case ErrorCode::kConflict:
      return http::status::conflict;
    case ErrorCode::kIdempotencyKeyInUse:
      return http::status::conflict;
    case ErrorCode::kPayloadTooLarge:
      return http::status::payload_too_large;
    case ErrorCode::kPromptTooLong:
      return http::status::unprocessable_entity;
    case ErrorCode::kUnprocessable:
      return http::status::unprocessable_entity;
    case ErrorCode::kIdempotencyKeyReused:
      return http::status::unprocessable_entity;
    case ErrorCode::kInvalidSilence:
      return http::status::unprocessable_entity;
    case ErrorCode::kRateLimited:
      return http::status::too_many_requests;
    case ErrorCode::kQuotaExceeded:
      return http::status::too_many_requests;
    case ErrorCode::kResourceExhausted:
      return http::status::too_many_requests;
    case ErrorCode::kCancelled:
      return http::status::conflict;
    case ErrorCode::kTimeout:
      return http::status::gateway_timeout;
    case ErrorCode::kStillRunning:
      return http::status::gateway_timeout;
    case ErrorCode::kAnswerRestarted:
      return http::status::internal_server_error;
    case ErrorCode::kKvExhausted:
      return http::status::internal_server_error;
    case ErrorCode::kDecodeFailed:
      return http::status::internal_server_error;
    case ErrorCode::kUpstreamUnavailable:
      return http::status::service_unavailable;
    case ErrorCode::kUpstreamError:
      return http::status::bad_gateway;
    case ErrorCode::kInternal:
      return http::status::internal_server_error;
    case ErrorCode::kUnavailable:
      return http::status::service_unavailable;
    case ErrorCode::kOverloaded:
      return http::status::service_unavailable;
    case ErrorCode::kInsufficientStorage:
      return http::status::insufficient_storage;
  }
  return http::status::internal_server_error;
}

http::status HttpStatusFor(StatusCode code) {
  return code == StatusCode::kOk ? http::status::ok : HttpStatusFor(ErrorCodeFor(code));
}

json ListPageJson(json data, bool has_more) {
  const json first = data.empty() ? json(nullptr) : data.front()["id"];
  const json last = data.empty() ? json(nullptr) : data.back()["id"];
  return {{"object", "list"},
          {"data", std::move(data)},
          {"first_id", first},
          {"last_id", last},
          {"has_more", has_more}};
}

HttpResponse JsonResponse(http::status status, const json& body) {
  HttpResponse res{status, 11};
  res.set(http::field::content_type, "application/json");
  // Replace, never throw, should a string ever carry invalid UTF-8.
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  res.body().push_back('\n');
  return res;
}

HttpResponse ErrorResponse(http::status status, std::string_view code, std::string_view message) {
  return JsonResponse(status, json{{"error", {{"code", code}, {"message", message}}}});
}

HttpResponse ErrorResponse(ErrorCode code, std::string_view message) {
  HttpResponse res = ErrorResponse(HttpStatusFor(code), ErrorCodeName(code), message);
  // The store or the engine cannot take it now (down, disk full), and nothing was written:
  // the same request may be sent again, and heals by itself.
  if (code == ErrorCode::kUnavailable || code == ErrorCode::kInsufficientStorage) {
    res.set(http::field::retry_after, std::to_string(kRetryAfterUnavailableSeconds));
  }
  return res;
}

HttpResponse ErrorResponse(const Status& status) {
  return ErrorResponse(ErrorCodeFor(status.code()), status.message());
}

}  // namespace glmq
