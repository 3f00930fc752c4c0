// The HTTP API of glmq: /v1 jobs and queue, the seed-compatible /api/v1, health.
//
// Handlers validate, then do their store and tokenizer work on `pool` so that io threads
// never block.
#pragma once

#include <functional>
#include <memory>

#include "api/asio.h"
#include "api/insert_batcher.h"
#include "api/job_request.h"
#include "api/job_watch.h"
#include "api/rate_limit.h"
#include "api/router.h"
#include "engine/tokenizer.h"
#include "sched/capacity.h"
#include "sched/policy.h"
#include "sched/scheduler.h"
#include "sched/throughput.h"
#include "store/job_store.h"

namespace glmq {

struct ApiOptions {
  RequestLimits limits;
  double max_wait_seconds = 300;  // longest ?wait= a client may ask for
  // How long POST /v1/chat/completions holds the connection for its job before a 504 that
  // names the job (which goes on; its result stays readable).
  double chat_wait_seconds = 600;
  // Texts up to this size are tokenized before the 202; larger ones are accepted on an
  // estimate and counted right after (tokenizing runs at a few MB/s).
  size_t sync_count_bytes = 256 * 1024;
  // false: this process never tokenizes a submitted text; every job is accepted on the byte
  // estimate, and the worker's count (it tokenizes the prompt to run it) replaces it. What a
  // gateway does by default: tokenizing is most of a submit's CPU.
  bool count_tokens = true;
  int32_t max_list_limit = 1000;
  // Submit batches written to the store at once (InsertBatcher::Options::in_flight).
  int32_t submit_batches_in_flight = 1;
  // Submits a second per client (its API key, or its address without keys; 0 = no limit),
  // and how many may come at once (api/rate_limit.h).
  double submit_rate = 0;
  double submit_burst = 20;
  // API keys (api/auth.h): none = an open API.
  std::vector<std::string> api_keys;
  std::string api_keys_file;
};

struct ApiContext {
  JobStore& store;
  const Tokenizer& tokenizer;  // prompt sizes and the context check
  Scheduler* scheduler;        // null where no engine runs in this process
  // Speeds and work in hand behind wait and drain estimates: this process's engine, or the
  // live workers' reports on a gateway.
  const CapacitySource& capacity;
  PolicyOptions policy;
  ApiOptions options;
  asio::thread_pool& pool;
  JobWatchHub& watch;
  // Submits prepared on an io thread (no tokenizing, a small body) are inserted through it.
  InsertBatcher& inserts;
  // Submit rate limits (from submit_rate, set by AddPublicRoutes); null = none.
  std::shared_ptr<RateLimiter> limiter = nullptr;
  // Told of each accepted job once it is durable (metrics). Optional.
  std::function<void(const Job&)> on_submitted = nullptr;
};

// GET /healthz (the process answers) and GET /readyz (the store takes writes; 503 when it
// does not), for every process that serves HTTP. AddApiRoutes adds them too.
void AddHealthRoutes(Router& router, JobStore& store, asio::thread_pool& pool);

void AddApiRoutes(Router& router, ApiContext& ctx);

}  // namespace glmq
