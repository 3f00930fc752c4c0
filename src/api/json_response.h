// JSON responses and the one mapping from Status to HTTP status.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "api/asio.h"
#include "core/status.h"

namespace glmq {

using json = nlohmann::json;

http::status HttpStatusFor(StatusCode code);

HttpResponse JsonResponse(http::status status, const json& body);

// {"error":{"code":code,"message":message}}
HttpResponse ErrorResponse(http::status status, std::string_view code, std::string_view message);
HttpResponse ErrorResponse(const Status& status);

}  // namespace glmq
