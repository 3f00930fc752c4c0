// The HTTP API of glmq: /v1 jobs and queue, the seed-compatible /api/v1, health.
//
// Handlers validate, then do their store and tokenizer work on `pool` so that io threads
// never block.
#pragma once

#include <functional>
#include <memory>

#include "admission/admission.h"
#include "api/asio.h"
#include "api/job_request.h"
#include "api/job_watch.h"
#include "api/rate_limit.h"
#include "api/router.h"
#include "api/submit_guard.h"
#include "sched/local_scheduler.h"
#include "sched/queue_report.h"
#include "store/job_store.h"

namespace glmq {

struct ApiOptions {
  RequestLimits limits;
  double max_wait_seconds = 300;  // longest ?wait= a client may ask for
  // How long POST /v1/chat/completions holds the connection for its job before a 504 that
  // names the job (which goes on; its result stays readable).
  double chat_wait_seconds = 600;
  int32_t max_list_limit = 1000;
  // Submits a second per client (its API key, or its address without keys; 0 = no limit),
  // and how many may come at once (api/rate_limit.h).
  double submit_rate = 0;
  double submit_burst = 20;
  // API keys (api/auth.h): none here or in the store = an open API, served only on a
  // loopback address unless `insecure`.
  std::vector<std::string> api_keys;
  std::string api_keys_file;
  bool insecure = false;
  // Every tenant's limits unless the keys file sets its own (api/submit_guard.h), and the
  // predicted drain time over which submits get 503 (0 = none).
  TenantLimits tenant_limits;
  double max_drain_seconds = 0;
};

struct ApiContext {
  JobStore& store;
  // Everything between a parsed request and a stored job; the model's name and context.
  Admission& admission;
  LocalScheduler* scheduler;  // null where no engine runs in this process
  // The queue as /v1/queue shows it (the metrics and alerts read the same).
  const QueueReporter& queue;
  ApiOptions options;
  asio::thread_pool& pool;
  JobWatchHub& watch;
  // Submit rate limits (from submit_rate, set by AddPublicRoutes); null = none.
  std::shared_ptr<RateLimiter> limiter = nullptr;
  // Tenant quotas and the overload guard; null = none.
  std::shared_ptr<SubmitGuard> guard = nullptr;
};

// GET /healthz (the process answers) and GET /readyz (the store takes writes; 503 when it
// does not), for every process that serves HTTP. AddApiRoutes adds them too.
void AddHealthRoutes(Router& router, JobStore& store, asio::thread_pool& pool);

void AddApiRoutes(Router& router, ApiContext& ctx);

}  // namespace glmq
