// The flags that `glmq serve`, `glmq gateway` and `glmq worker` share, in groups, so each
// subcommand declares exactly the ones that mean something to it and all spell them alike.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "api/api.h"
#include "api/files_api.h"
#include "api/http_server.h"
#include "api/webhooks.h"
#include "batch/batch_runner.h"
#include "engine/llama_engine.h"
#include "sched/policy.h"
#include "sched/scheduler.h"

namespace glmq {

struct CommonFlags {
  std::string config_path;  // also holds the [alerts] rules and channels
  std::string log_level = "info";
  int32_t blocking_threads = 16;
};

// --config, --log-level, --blocking-threads.
void AddCommonFlags(CLI::App& cmd, CommonFlags& f);
// --host, --port, --max-body-bytes, --http-threads.
void AddHttpFlags(CLI::App& cmd, HttpServerOptions& f, uint16_t default_port);
// --drain-seconds: on SIGTERM, how long requests in flight may take to finish.
void AddHttpDrainFlag(CLI::App& cmd, HttpServerOptions& f);
// --model and the engine's context, batching and KV flags. With `tokenizer_only`, just
// --model and --ctx-size (what a gateway needs to count and check sizes).
void AddEngineFlags(CLI::App& cmd, LlamaEngineOptions& f, bool tokenizer_only);
// Request limits and token counting.
void AddApiFlags(CLI::App& cmd, ApiOptions& f, AdmissionOptions& admission);
// --max-file-bytes, --file-retention-hours, --batch-max-lines, --batch-max-queued-tokens: the
// Batch API.
void AddBatchApiFlags(CLI::App& cmd, FilesOptions& f, BatchRunnerOptions& batches);
// --webhook-secret, --webhook-max-attempts, --webhook-timeout-seconds.
void AddWebhookFlags(CLI::App& cmd, WebhookOptions& f);
// --lease-ms, --max-deliveries, --progress-interval-ms, --backfill, --fair-share,
// --short-slots.
void AddSchedulerFlags(CLI::App& cmd, SchedulerOptions& f);
// Queue order and length classes.
void AddPolicyFlags(CLI::App& cmd, PolicyOptions& f);

}  // namespace glmq
