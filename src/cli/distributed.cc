// `glmq gateway` and `glmq worker`: the two halves of `glmq serve`, sharing a Redis store,
// for when one machine is not enough. Any number of each.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>

#include "api/http_server.h"
#include "api/metrics_api.h"
#include "batch/redis_batch_store.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/frontend.h"
#include "cli/runtime.h"
#include "core/periodic.h"
#include "engine/llama_engine.h"
#include "engine/openai_engine.h"
#include "files/redis_file_store.h"
#include "sched/capacity.h"
#include "sched/fault_injection.h"
#include "sched/liveness.h"
#include "sched/queue_report.h"
#include "sched/scheduler.h"
#include "store/lease_gate.h"
#include "store/redis_peer_channel.h"
#include "store/redis_store.h"

namespace glmq {
namespace {

struct RedisFlags {
  std::string url = "redis://127.0.0.1:6379/0";
  bool allow_volatile = false;
  double retention_hours = 24;
};

void AddRedisFlags(CLI::App& cmd, RedisFlags& f) {
  cmd.add_option("--redis", f.url, "the shared store: redis://[:password@]host:port[/db]")
      ->envname("GLMQ_REDIS")
      ->capture_default_str();
  cmd.add_flag("--allow-volatile-redis", f.allow_volatile,
               "start even if Redis persists nothing (accepted jobs are lost when it restarts)")
      ->envname("GLMQ_ALLOW_VOLATILE_REDIS");
  cmd.add_option("--retention-hours", f.retention_hours,
                 "how long finished jobs and their results are kept")
      ->envname("GLMQ_RETENTION_HOURS")
      ->capture_default_str();
}

Result<std::unique_ptr<RedisJobStore>> OpenRedis(const RedisFlags& f, JobListener listener) {
  RedisStoreOptions options;
  options.url = f.url;
  options.require_persistence = !f.allow_volatile;
  options.retention_ms = static_cast<int64_t>(f.retention_hours * 3'600'000);
  return RedisJobStore::Open(options, std::move(listener));
}

// host-pid: unique among live processes, and says where to look.
std::string ProcessName(const char* role) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(role) + "@" + host + ":" + std::to_string(::getpid());
}

// --- gateway ---------------------------------------------------------------------------

struct GatewayFlags {
  CommonFlags common;
  FrontendOptions frontend;
  LlamaEngineOptions engine;
  RedisFlags redis;
  int64_t alert_lease_ms = 15'000;
  int64_t batch_lease_ms = 15'000;
  bool notes = true;  // --gateway-notes
};

int RunGateway(const GatewayFlags& flags) {
  StopSignals stop;
  spdlog::set_level(spdlog::level::from_str(flags.common.log_level));
  auto alert_config = LoadAlertConfig(flags.common.config_path);
  if (!alert_config.ok()) {
    spdlog::error("{}", alert_config.status().message());
    return 2;
  }
  metrics::Registry registry;
  JobMetrics job_metrics(registry);
  JobWatchHub watch;
  auto store = OpenRedis(flags.redis, WakeAndCount(watch, job_metrics));
  if (!store.ok()) {
    spdlog::error("cannot use Redis at {}: {}", flags.redis.url, store.status().message());
    return 1;
  }
  std::unique_ptr<LlamaTokenizer> tokenizer = LoadTokenizer(flags.engine);
  if (!tokenizer) return 1;
  // Wait and drain estimates add up the live workers' reports (the policy's fallback rates
  // while none has reported).
  FleetCapacity capacity(**store);
  // Prompts are checked against the largest sequence a live worker holds (a worker on a GPU
  // sizes its context to the GPU); --ctx-size until one says.
  Periodic follow_workers(std::chrono::seconds(2), [&capacity, t = tokenizer.get()] {
    const int64_t workers = capacity.Now().sequence_tokens;
    if (workers <= 0 || workers == t->SequenceTokens()) return;
    spdlog::info(
        "gateway: the live workers' sequences hold up to {} tokens (was {}): prompts "
        "are checked against that",
        workers, t->SequenceTokens());
    t->SetSequenceTokens(workers);
  });

  const std::string name = ProcessName("gateway");
  RedisJobStore& shared = **store;
  // Silences and the evaluator's memory live in the store: every gateway sees the same
  // silences, and the next evaluator continues where the last one stopped.
  auto blob = [&shared](const char* key) {
    SilenceStorage storage;
    storage.read = [&shared, key] { return shared.GetBlob(key); };
    storage.write = [&shared, key](const std::string& v) { return shared.PutBlob(key, v); };
    return storage;
  };
  // The Batch API's files and batches, in the same Redis: any gateway serves them.
  const std::string prefix = RedisStoreOptions().prefix;
  auto files = RedisFileStore::Open(flags.redis.url, prefix);
  auto batches = files.ok() ? RedisBatchStore::Open(flags.redis.url, prefix)
                            : Result<std::unique_ptr<RedisBatchStore>>(files.status());
  if (!batches.ok()) {
    spdlog::error("cannot keep files and batches in Redis at {}: {}", flags.redis.url,
                  batches.status().message());
    return 1;
  }
  FrontendOptions frontend_options = flags.frontend;
  frontend_options.blocking_threads = flags.common.blocking_threads;
  auto frontend = Frontend::Create(frontend_options, *alert_config, blob("silences"), shared,
                                   *tokenizer, capacity, nullptr, watch, registry, job_metrics,
                                   files->get(), batches->get());
  if (!frontend.ok()) {
    spdlog::error("{}", frontend.status().message());
    return 2;
  }
  // Each gateway's admission tells the others what it accepted, so that wait forecasts and
  // a document's questions count every gateway's submits (admission/peer_notes.h).
  Admission& admission = (*frontend)->admission();
  std::unique_ptr<RedisPeerChannel> peers;
  if (flags.notes) {
    auto joined = RedisPeerChannel::Open(
        flags.redis.url, prefix + "admission",
        [&admission](std::string_view lines) { admission.NotePeers(lines); });
    if (!joined.ok()) {
      spdlog::error("cannot join the gateways' channel on Redis at {}: {}", flags.redis.url,
                    joined.status().message());
      return 1;
    }
    peers = std::move(*joined);
    admission.TellPeers([channel = peers.get()](std::string line) { channel->Send(line); });
  }
  registry.AddCollector([channel = peers.get()](metrics::Exposition& out) {
    if (channel == nullptr) return;  // --gateway-notes false
    const char* help =
        "Admission notes (a job accepted, for the others' wait forecasts and documents) on the "
        "gateways' channel: sent, received from other gateways, dropped (Redis unreachable).";
    out.Counter("glmq_gateway_notes_total", help, {{"direction", "sent"}},
                static_cast<double>(channel->sent()));
    out.Counter("glmq_gateway_notes_total", help, {{"direction", "received"}},
                static_cast<double>(channel->received()));
    out.Counter("glmq_gateway_notes_total", help, {{"direction", "dropped"}},
                static_cast<double>(channel->dropped()));
  });
  const SilenceStorage state = blob("alerts-state");
  (*frontend)->alerts().SetStateStore(state.read, state.write);
  // One evaluator among all gateways: the holder of the "alerts" lease; one batch runner:
  // the holder of the "batches" lease.
  (*frontend)->alerts().SetGate(LeaseGate(shared, "alerts", name, flags.alert_lease_ms));
  (*frontend)->SetBatchGate(LeaseGate(shared, "batches", name, flags.batch_lease_ms));
  auto port = (*frontend)->Start();
  if (!port.ok()) {
    spdlog::error("{}", port.status().message());
    return 1;
  }
  spdlog::info("glmq gateway {} on http://{}:{} (store {})", name, flags.frontend.http.host, *port,
               flags.redis.url);
  spdlog::info("received {}, draining", stop.Wait());
  (*frontend)->Stop();
  spdlog::info("gateway stopped");
  return 0;
}

// --- worker ----------------------------------------------------------------------------

struct WorkerFlags {
  CommonFlags common;
  HttpServerOptions http;  // /healthz, /readyz, /metrics
  LlamaEngineOptions engine;
  std::string engine_kind = "llama";  // llama | openai
  OpenAiEngineOptions upstream;       // --engine openai
  SchedulerOptions sched;
  RedisFlags redis;
  double drain_seconds = 60;
  std::string name;
};

// The worker's engine: llama.cpp in process, or a remote OpenAI-compatible server whose
// prompts are counted with the GGUF's vocabulary.
std::unique_ptr<Engine> LoadWorkerEngine(const WorkerFlags& flags) {
  if (flags.engine_kind != "openai") return LoadEngine(flags.engine);
  std::unique_ptr<LlamaTokenizer> tokenizer = LoadTokenizer(flags.engine);
  if (!tokenizer) return nullptr;
  OpenAiEngineOptions upstream = flags.upstream;
  upstream.parallel = flags.engine.parallel;
  auto engine = OpenAiEngine::Create(std::move(tokenizer), std::move(upstream));
  if (!engine.ok()) {
    spdlog::error("{}", engine.status().message());
    return nullptr;
  }
  return std::move(*engine);
}

int RunWorker(WorkerFlags flags) {
  StopSignals stop;
  spdlog::set_level(spdlog::level::from_str(flags.common.log_level));
  if (flags.name.empty()) flags.name = ProcessName("worker");
  flags.sched.worker_id = flags.name;
  flags.sched.before_start = CrashOnTextFromEnvironment();
  metrics::Registry registry;
  JobMetrics job_metrics(registry);
  std::atomic<Scheduler*> scheduler_ptr{nullptr};
  auto store = OpenRedis(flags.redis, [&scheduler_ptr, &job_metrics](
                                          const std::string& id, JobState s, ChangeOrigin origin) {
    job_metrics.StateChanged(id, s, origin);
    // A job queued anywhere: look now instead of at the next poll.
    if (s == JobState::kQueued) {
      if (Scheduler* sched = scheduler_ptr.load()) sched->Wake();
    }
  });
  if (!store.ok()) {
    spdlog::error("cannot use Redis at {}: {}", flags.redis.url, store.status().message());
    return 1;
  }
  std::unique_ptr<Engine> engine = LoadWorkerEngine(flags);
  if (!engine) return 1;
  ThroughputMeter meter;
  // A remote engine is measured on real jobs only: a trial request would take the
  // upstream's time, and its speed is shared with whoever else uses it.
  if (flags.engine_kind == "llama") Calibrate(*engine, meter);
  // The other workers' heartbeats: a job too long for this worker goes back to the queue
  // while one of them holds it.
  const FleetCapacity fleet(**store);
  flags.sched.held_elsewhere = [&fleet](int64_t kv_tokens) {
    return fleet.Now().sequence_tokens >= kv_tokens;
  };
  Scheduler scheduler(**store, *engine, meter, flags.sched);
  scheduler.job_stats().SetListener([&job_metrics](const JobEvent& e) { job_metrics.JobEvent(e); });
  const LocalCapacity capacity(meter, &scheduler);
  const QueueReporter reporter(**store, capacity, &scheduler);
  AddQueueCollectors(registry, reporter, engine->info(), nullptr);

  asio::thread_pool pool(2);
  Router router;
  AddHealthRoutes(router, **store, pool);
  AddMetricsRoute(router, registry, pool);
  HttpServer server(flags.http, router);

  scheduler_ptr = &scheduler;
  scheduler.Start();
  auto liveness = std::make_unique<Liveness>(**store, scheduler, capacity, flags.name,
                                             engine->tokenizer().SequenceTokens());
  auto port = server.Start();
  if (!port.ok()) {
    spdlog::error("{}", port.status().message());
    scheduler.Shutdown();
    return 1;
  }
  spdlog::info("glmq worker {} running (health and metrics on http://{}:{}, store {})", flags.name,
               flags.http.host, *port, flags.redis.url);
  spdlog::info("received {}: no more claims; running jobs get {} s to finish", stop.Wait(),
               flags.drain_seconds);
  scheduler.Shutdown(std::chrono::milliseconds(std::llround(flags.drain_seconds * 1000)),
                     /*hand_back=*/true);
  scheduler_ptr = nullptr;
  liveness.reset();
  server.Stop();
  pool.join();
  spdlog::info("worker stopped");
  return 0;
}

}  // namespace

CommandRunner AddGatewayCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "gateway", "the HTTP API on a shared Redis store; no weights loaded (workers run the jobs)");
  auto f = std::make_shared<GatewayFlags>();
  AddCommonFlags(*cmd, f->common);
  AddEngineFlags(*cmd, f->engine, /*tokenizer_only=*/true);
  AddHttpFlags(*cmd, f->frontend.http, 8080);
  AddHttpDrainFlag(*cmd, f->frontend.http);
  AddRedisFlags(*cmd, f->redis);
  AddApiFlags(*cmd, f->frontend.api, f->frontend.admission);
  AddWebhookFlags(*cmd, f->frontend.webhooks);
  AddPolicyFlags(*cmd, f->frontend.policy);
  f->frontend.admission.count_tokens = false;
  cmd->add_option("--count-tokens", f->frontend.admission.count_tokens,
                  "tokenize texts here before the 202 (up to --sync-count-bytes, larger ones "
                  "right after); false: accept on the byte estimate and let the worker's count "
                  "replace it, which leaves the gateway's CPU to HTTP and Redis")
      ->envname("GLMQ_COUNT_TOKENS")
      ->capture_default_str();
  cmd->add_option("--gateway-notes", f->notes,
                  "tell the other gateways on this Redis what this one accepts and take theirs "
                  "(pub/sub), for wait forecasts and documents' questions across gateways")
      ->envname("GLMQ_GATEWAY_NOTES")
      ->capture_default_str();
  cmd->add_option("--alert-lease-ms", f->alert_lease_ms,
                  "the evaluating gateway holds the alerts lease this long; another takes over "
                  "within it if that one dies")
      ->capture_default_str();
  cmd->add_option("--batch-lease-ms", f->batch_lease_ms,
                  "the gateway that runs the batches holds the batches lease this long; another "
                  "takes over within it if that one dies")
      ->capture_default_str();
  AddBatchApiFlags(*cmd, f->frontend.files, f->frontend.batches);
  return [f]() { return RunGateway(*f); };
}

CommandRunner AddWorkerCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("worker",
                                 "claim jobs from a shared Redis store and run them on llama.cpp, "
                                 "or on a remote OpenAI-compatible server (--engine openai)");
  auto f = std::make_shared<WorkerFlags>();
  AddCommonFlags(*cmd, f->common);
  AddEngineFlags(*cmd, f->engine, /*tokenizer_only=*/false);
  AddHttpFlags(*cmd, f->http, 0);
  AddRedisFlags(*cmd, f->redis);
  AddSchedulerFlags(*cmd, f->sched);
  cmd->add_option("--engine", f->engine_kind,
                  "llama: run the model here; openai: send each job to --upstream, an "
                  "OpenAI-compatible server (vLLM, SGLang, llama-server, another glmq), with "
                  "--model for its vocabulary and --ctx-size for its context")
      ->envname("GLMQ_ENGINE")
      ->check(CLI::IsMember({"llama", "openai"}))
      ->capture_default_str();
  cmd->add_option("--upstream", f->upstream.base_url,
                  "--engine openai: the server's base URL, e.g. http://10.0.0.5:8000/v1")
      ->envname("GLMQ_UPSTREAM");
  cmd->add_option("--upstream-key", f->upstream.api_key, "--engine openai: its API key")
      ->envname("GLMQ_UPSTREAM_KEY");
  cmd->add_option("--upstream-model", f->upstream.model,
                  "--engine openai: the model name to ask for (default: the GGUF's name)")
      ->envname("GLMQ_UPSTREAM_MODEL");
  cmd->add_option("--upstream-timeout-seconds", f->upstream.timeout_seconds,
                  "--engine openai: how long one request may take")
      ->envname("GLMQ_UPSTREAM_TIMEOUT_SECONDS")
      ->capture_default_str();
  cmd->add_option("--name", f->name, "worker name in leases and logs (default worker@host:pid)")
      ->envname("GLMQ_WORKER_NAME");
  cmd->add_option("--drain-seconds", f->drain_seconds,
                  "on SIGTERM, how long running jobs may take to finish before they are handed "
                  "back to the queue")
      ->envname("GLMQ_DRAIN_SECONDS")
      ->capture_default_str();
  return [f]() { return RunWorker(*f); };
}

}  // namespace glmq
