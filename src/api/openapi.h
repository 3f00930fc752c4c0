// GET /openapi.json: the API described in OpenAPI 3.0.
#pragma once

#include <string>

#include "api/router.h"

namespace glmq {

// The whole document, as `glmq serve` serves it.
const std::string& OpenApiDocument();
// The same without the Batch API's paths (/v1/files, /v1/batches), which a gateway does not
// serve yet.
std::string OpenApiDocumentWithoutBatches();
void AddOpenApiRoute(Router& router, bool batch_api);

}  // namespace glmq
