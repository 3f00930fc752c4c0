// GET /metrics: the Prometheus text exposition of a registry.
#pragma once

#include "api/asio.h"
#include "api/router.h"
#include "metrics/metrics.h"

namespace glmq {

void AddMetricsRoute(Router& router, const metrics::Registry& registry, asio::thread_pool& pool);

}  // namespace glmq
