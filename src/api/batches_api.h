// The Batch API, wire-compatible with OpenAI's /v1/batches, and the model list its clients
// ask for:
//   POST /v1/batches              {input_file_id, endpoint, completion_window, metadata}
//   GET  /v1/batches              ?after=&limit=
//   GET  /v1/batches/{id}
//   POST /v1/batches/{id}/cancel
//   GET  /v1/models
// A batch is the caller's tenant's; another tenant's id is a 404. The work itself is the
// runner's (batch/batch_runner.h); these routes record what was asked and wake it.
#pragma once

#include <functional>
#include <string>

#include "alert/evaluator.h"
#include "api/asio.h"
#include "api/job_request.h"
#include "api/router.h"
#include "batch/batch_runner.h"
#include "batch/batch_store.h"
#include "files/file_store.h"
#include "metrics/metrics.h"

namespace glmq {

struct BatchRoutes {
  BatchStore& batches;
  FileStore& files;
  const RequestLimits& limits;  // for a batch's webhook_url
  asio::thread_pool& pool;
  std::function<void()> wake;  // the runner: a batch was created or cancelled
};

void AddBatchRoutes(Router& router, BatchRoutes routes);

// glmq_batches{status} (the batches retained in each status) and
// glmq_batch_requests_total{outcome}: registers them, and returns the runner's events that
// keep them.
BatchEvents AddBatchMetrics(metrics::Registry& registry);

// The running batches as the batch_window alert rule sees them.
Result<std::vector<BatchOutlook>> BatchOutlooks(BatchStore& batches);

// GET /v1/models: the one model this service runs, in OpenAI's list shape.
void AddModelRoutes(Router& router, std::string model, TimeMs started_at);

}  // namespace glmq
