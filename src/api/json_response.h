// JSON responses and the one mapping from Status to HTTP status.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "api/asio.h"
#include "core/error_codes.h"
#include "core/status.h"

namespace glmq {

using json = nlohmann::json;

// The HTTP status each error code answers with (core/error_codes.h has the list).
http::status HttpStatusFor(ErrorCode code);
http::status HttpStatusFor(StatusCode code);

HttpResponse JsonResponse(http::status status, const json& body);

// OpenAI's page of a list: {object: "list", data, first_id, last_id, has_more}, the ids those
// of the first and last objects in `data` (null when it is empty).
json ListPageJson(json data, bool has_more);

// What a 503 or 507 answer tells the client to wait before sending the request again.
inline constexpr int kRetryAfterUnavailableSeconds = 5;

// {"error":{"code":code,"message":message}} with the code's HTTP status; a 503 or 507 also
// says Retry-After.
HttpResponse ErrorResponse(ErrorCode code, std::string_view message);
// The same for the code a Status stands for (ErrorCodeFor).
HttpResponse ErrorResponse(const Status& status);
// A code that comes as text: a failed job's error.code, written where it failed.
HttpResponse ErrorResponse(http::status status, std::string_view code, std::string_view message);

}  // namespace glmq
