// The alerting API: GET /v1/alerts (active alerts, recent history, silences) and
// POST/GET/DELETE /v1/silences, Alertmanager's silence shape.
#pragma once

#include "alert/service.h"
#include "alert/silences.h"
#include "api/asio.h"
#include "api/router.h"

namespace glmq {

void AddAlertRoutes(Router& router, AlertService& alerts, Silences& silences,
                    asio::thread_pool& pool);

}  // namespace glmq
