// GET /openapi.json: the API described in OpenAPI 3.0.
#pragma once

#include <string>

#include "api/router.h"

namespace glmq {

// The whole document, as `glmq serve` and `glmq gateway` serve it.
const std::string& OpenApiDocument();
void AddOpenApiRoute(Router& router);

}  // namespace glmq
