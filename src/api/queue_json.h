// The body of GET /v1/queue: the service-wide figures (what an honest wait estimate needs)
// for every caller; running jobs by id only to an admin and to their own tenant.
#pragma once

#include "api/api.h"
#include "api/json_response.h"

namespace glmq {

json QueueJson(ApiContext& ctx, const Caller& caller, const QueueReport& r);

}  // namespace glmq
