// The operator's dashboard: GET / serves one self-contained page that polls the JSON API
// (/v1/queue, /v1/alerts) and redraws itself every few seconds.
#pragma once

#include "api/router.h"

namespace glmq {

void AddDashboardRoutes(Router& router);

}  // namespace glmq
