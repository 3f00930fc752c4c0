// What every long-running subcommand does alike: stop signals, loading and calibrating the
// engine, the store listener of the front ends.
#pragma once

#include <csignal>

#include "api/job_watch.h"
#include "engine/engine.h"
#include "engine/llama_engine.h"
#include "metrics/catalogue.h"
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

}  // namespace glmq
