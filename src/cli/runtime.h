// What every long-running subcommand does alike: stop signals, calibration of the engine.
#pragma once

#include <csignal>

#include "api/api.h"
#include "api/router.h"
#include "cli/observability.h"
#include "engine/engine.h"
#include "engine/llama_engine.h"
#include "metrics/metrics.h"
#include "sched/throughput.h"

namespace glmq {

// Blocks SIGINT and SIGTERM in this thread and every thread started after it, so that only
// WaitForStopSignal() sees them. Call first thing, before starting threads.
class StopSignals {
 public:
  StopSignals();
  // Returns the signal's name once one arrives.
  const char* Wait();

 private:
  sigset_t signals_;
};

// Loads the engine, logging why not (nullptr) or that a generated test model answers noise.
std::unique_ptr<LlamaEngine> LoadEngine(const LlamaEngineOptions& options);
// Loads the model's vocabulary alone (gateways, remote-engine workers), logging why not.
std::unique_ptr<LlamaTokenizer> LoadTokenizer(const LlamaEngineOptions& options);

// Runs one short job through the engine before serving, so that the first wait estimates
// come from this machine's speed rather than from a guess.
void Calibrate(Engine& engine, ThroughputMeter& meter);

// The store listener of serve and gateway: a change wakes the long-polls waiting on the job,
// and a job's end counts in the metrics.
JobListener WakeAndCount(JobWatchHub& watch, JobMetrics& job_metrics);

// The public HTTP surface of serve and gateway: the job API, alerts and silences, /metrics,
// the dashboard, and request metrics on every route; API keys when configured (fails for
// an unreadable key file or a malformed key).
Status AddPublicRoutes(Router& router, ApiContext& ctx, Alerting& alerting,
                       metrics::Registry& registry, JobMetrics& job_metrics);

}  // namespace glmq
