// `glmq serve`: gateway + scheduler + engine in one process, with the embedded store.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "api/alerts_api.h"
#include "api/api.h"
#include "api/dashboard.h"
#include "api/http_server.h"
#include "api/metrics_api.h"
#include "cli/commands.h"
#include "cli/observability.h"
#include "engine/llama_engine.h"
#include "sched/scheduler.h"
#include "store/sqlite_store.h"

namespace glmq {
namespace {

struct ServeFlags {
  HttpServerOptions http;
  LlamaEngineOptions engine;
  SchedulerOptions sched;
  PolicyOptions policy;
  ApiOptions api;
  std::string data_dir = "./data";
  int32_t blocking_threads = 16;
  std::string log_level = "info";
  std::string config_path;  // also holds the [alerts] rules and channels
};

// Holds an exclusive lock on the data directory for the life of the process, so that two
// servers never share one store (and so that running jobs found at start are orphans).
class DataDirLock {
 public:
  static Result<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir) {
    const std::string path = dir + "/LOCK";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Unavailable("cannot open " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Conflict("another glmq process uses " + dir);
    }
    return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
  }
  ~DataDirLock() { ::close(fd_); }

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

// Runs one short job through the engine before serving, so that the first wait estimates
// come from this machine's speed rather than from a guess.
void Calibrate(Engine& engine, ThroughputMeter& meter) {
  Job job;
  job.id = "calibration";
  std::string text;
  for (int i = 0; i < 40; ++i) text += "The quick brown fox jumps over the lazy dog. ";
  job.request.text = text;
  job.request.question = "What does the fox do?";
  job.request.sampling.max_tokens = 16;
  job.request.sampling.temperature = 0;
  if (!engine.Admit(job).ok()) return;
  double prefill_s = 0, decode_s = 0;
  int64_t prompt = 0, generated = 0;
  while (engine.ActiveSequences() > 0) {
    StepReport r = engine.Step();
    if (r.prompt_tokens > 1) {
      prefill_s += r.seconds;
      prompt += r.prompt_tokens;
    } else {
      decode_s += r.seconds;
      generated += r.generated_tokens;
    }
  }
  if (prefill_s > 0 && decode_s > 0 && generated > 0) {
    meter.Seed(prompt / prefill_s, generated / decode_s);
    spdlog::info("calibrated: prefill {:.0f} tokens/s, decode {:.1f} tokens/s", prompt / prefill_s,
                 generated / decode_s);
  }
}

int RunServe(const ServeFlags& flags) {
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  if (flags.engine.model_path.empty()) {
    spdlog::error("no model: give --model PATH (or GLMQ_MODEL, or `model` in the config file)");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(flags.data_dir, ec);
  if (ec) {
    spdlog::error("cannot create --data-dir {}: {}", flags.data_dir, ec.message());
    return 1;
  }
  auto lock = DataDirLock::Acquire(flags.data_dir);
  if (!lock.ok()) {
    spdlog::error("{}", lock.status().message());
    return 1;
  }

  auto alert_config = LoadAlertConfig(flags.config_path);
  if (!alert_config.ok()) {
    spdlog::error("{}", alert_config.status().message());
    return 2;
  }
  metrics::Registry registry;
  JobMetrics job_metrics(registry);

  JobWatchHub watch;
  auto store = SqliteJobStore::Open(flags.data_dir + "/glmq.db",
                                    [&watch, &job_metrics](const std::string& id, JobState state) {
                                      watch.Notify(id, state);
                                      job_metrics.StateChanged(id, state);
                                    });
  if (!store.ok()) {
    spdlog::error("cannot open the store: {}", store.status().ToString());
    return 1;
  }
  // We hold the data directory alone, so a job left running was running in a process that
  // died: queue it again now rather than when its lease would run out.
  if (auto n = (*store)->ReapExpiredLeases(INT64_MAX, flags.sched.max_deliveries); n.ok() && *n) {
    spdlog::warn("re-queued {} jobs that were running when the last process stopped", *n);
  }

  auto engine = LlamaEngine::Load(flags.engine);
  if (!engine.ok()) {
    spdlog::error("{}", engine.status().message());
    return 1;
  }
  if ((*engine)->info().is_test_model) {
    spdlog::warn(
        "the model is a generated test model with random weights: its answers are "
        "noise. Point --model at a real GLM-4-9B-Chat-1M GGUF for real answers.");
  }
  ThroughputMeter meter;
  Calibrate(**engine, meter);

  Scheduler scheduler(**store, **engine, meter, flags.sched);
  scheduler.job_stats().SetListener([&job_metrics](const JobEvent& e) { job_metrics.JobEvent(e); });
  auto alerting = MakeAlerting(
      *alert_config, flags.data_dir + "/silences.json",
      [&store, &scheduler, &meter] { return MeasureAlertSignals(**store, &scheduler, meter); },
      &job_metrics);
  if (!alerting.ok()) {
    spdlog::error("alerting: {}", alerting.status().message());
    return 2;
  }
  AddServeCollectors(registry, **store, scheduler, meter, **engine, (*alerting)->service.get());

  asio::thread_pool pool(static_cast<size_t>(std::max(2, flags.blocking_threads)));
  ApiContext ctx{**store, **engine, &scheduler, meter, flags.policy, flags.api, pool, watch};
  ctx.on_submitted = [&job_metrics](const Job& job) { job_metrics.Submitted(job); };
  Router router;
  AddApiRoutes(router, ctx);
  AddAlertRoutes(router, *(*alerting)->service, *(*alerting)->silences, pool);
  AddMetricsRoute(router, registry, pool);
  AddDashboardRoutes(router);
  router.SetObserver([&job_metrics](const std::string& route, int status, double seconds) {
    job_metrics.HttpRequest(route, status, seconds);
  });
  HttpServer server(flags.http, router);

  // Block the stop signals in every thread we start; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  scheduler.Start();
  (*alerting)->service->Start();
  auto port = server.Start();
  if (!port.ok()) {
    spdlog::error("{}", port.status().message());
    scheduler.Shutdown();
    return 1;
  }
  spdlog::info("glmq serving on http://{}:{} (data in {})", flags.http.host, *port, flags.data_dir);
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.Stop();
  pool.join();
  alerting->reset();  // a last notice goes out while the store is still open
  scheduler.Shutdown();
  return 0;
}

}  // namespace

CommandRunner AddServeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "run gateway, scheduler and engine in one process");
  auto f = std::make_shared<ServeFlags>();
  // Read by main() before parsing (see cli/config_file.h); declared here for --help.
  cmd->add_option("--config", f->config_path,
                  "TOML file with any of these options (GLMQ_* and flags win) and the [alerts] "
                  "rules and channels")
      ->envname("GLMQ_CONFIG");
  auto opt = [cmd](const char* name, auto& value, const char* help, const char* env) {
    return cmd->add_option(name, value, help)->envname(env)->capture_default_str();
  };
  opt("-m,--model", f->engine.model_path, "GGUF model file (required)", "GLMQ_MODEL");
  opt("--host", f->http.host, "address to listen on", "GLMQ_HOST");
  opt("--port", f->http.port, "port to listen on (0 = any free port)", "GLMQ_PORT");
  opt("--data-dir", f->data_dir, "where the job store lives", "GLMQ_DATA_DIR");
  opt("-c,--ctx-size", f->engine.ctx_size,
      "KV tokens shared by all sequences (0 = min(model's context, 32768))", "GLMQ_CTX_SIZE");
  opt("--parallel", f->engine.parallel, "sequences decoded together", "GLMQ_PARALLEL");
  opt("-b,--batch-size", f->engine.batch_size, "tokens per decode step", "GLMQ_BATCH_SIZE");
  opt("--step-target-ms", f->engine.step_target_ms,
      "while sequences generate, size prompt chunks so a step takes about this long (0 = off)",
      "GLMQ_STEP_TARGET_MS");
  opt("--ubatch-size", f->engine.ubatch_size, "physical batch size", "GLMQ_UBATCH_SIZE");
  opt("-t,--threads", f->engine.threads, "CPU threads (0 = all)", "GLMQ_THREADS");
  opt("--flash-attn", f->engine.flash_attn, "on | off | auto", "GLMQ_FLASH_ATTN")
      ->check(CLI::IsMember({"on", "off", "auto"}));
  opt("--kv-type", f->engine.kv_type, "KV cache type: f16 | q8_0 | q4_0", "GLMQ_KV_TYPE")
      ->check(CLI::IsMember({"f16", "q8_0", "q4_0"}));
  opt("--gpu-layers", f->engine.gpu_layers, "layers on the GPU (-1 = all)", "GLMQ_GPU_LAYERS");
  opt("--max-body-bytes", f->http.max_body_bytes, "largest request body", "GLMQ_MAX_BODY_BYTES");
  opt("--http-threads", f->http.io_threads, "threads serving HTTP", "GLMQ_HTTP_THREADS");
  opt("--blocking-threads", f->blocking_threads, "threads for store and tokenizer work",
      "GLMQ_BLOCKING_THREADS");
  opt("--default-max-tokens", f->api.limits.default_max_tokens, "max_tokens when a job gives none",
      "GLMQ_DEFAULT_MAX_TOKENS");
  opt("--sync-count-bytes", f->api.sync_count_bytes,
      "texts up to this size are tokenized before the 202; larger ones right after it",
      "GLMQ_SYNC_COUNT_BYTES");
  opt("--max-tokens-limit", f->api.limits.max_tokens_limit, "largest max_tokens accepted",
      "GLMQ_MAX_TOKENS_LIMIT");
  opt("--lease-ms", f->sched.lease_ms, "worker lease on a running job, in ms", "GLMQ_LEASE_MS");
  opt("--max-deliveries", f->sched.max_deliveries, "runs of a job before it is dead-lettered",
      "GLMQ_MAX_DELIVERIES");
  opt("--priority-step-seconds", f->policy.priority_step_seconds,
      "queue time one priority level is worth", "GLMQ_PRIORITY_STEP_SECONDS");
  opt("--medium-prompt-tokens", f->policy.medium_prompt_tokens,
      "prompt tokens from which a job is 'medium'", "GLMQ_MEDIUM_PROMPT_TOKENS");
  opt("--long-prompt-tokens", f->policy.long_prompt_tokens,
      "prompt tokens from which a job is 'long'", "GLMQ_LONG_PROMPT_TOKENS");
  opt("--log-level", f->log_level, "trace | debug | info | warn | error", "GLMQ_LOG_LEVEL");
  return [f]() { return RunServe(*f); };
}

}  // namespace glmq
