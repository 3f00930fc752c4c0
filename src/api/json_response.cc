#include "api/json_response.h"

namespace glmq {

http::status HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return http::status::ok;
    case StatusCode::kInvalidArgument:
      return http::status::bad_request;
    case StatusCode::kNotFound:
      return http::status::not_found;
    case StatusCode::kConflict:
      return http::status::conflict;
    case StatusCode::kTooLarge:
      return http::status::payload_too_large;
    case StatusCode::kUnprocessable:
      return http::status::unprocessable_entity;
    case StatusCode::kResourceExhausted:
      return http::status::too_many_requests;
    case StatusCode::kUnavailable:
      return http::status::service_unavailable;
    case StatusCode::kCancelled:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
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

HttpResponse ErrorResponse(const Status& status) {
  return ErrorResponse(HttpStatusFor(status.code()), StatusCodeName(status.code()),
                       status.message());
}

}  // namespace glmq
