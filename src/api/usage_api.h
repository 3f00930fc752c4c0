// GET /v1/usage?from=&to=[&tenant=]: each tenant's jobs by outcome and tokens per day (UTC),
// for chargeback; counted by the store as jobs end and kept beyond their retention. A key
// sees its own tenant's; an admin every tenant's, or one's with ?tenant=.
#pragma once

#include "api/api.h"
#include "api/router.h"

namespace glmq {

void AddUsageRoute(Router& router, ApiContext& ctx);

}  // namespace glmq
