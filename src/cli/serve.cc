// `glmq serve`: gateway + scheduler + engine in one process, with the embedded store.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "batch/local_batch_store.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/frontend.h"
#include "cli/runtime.h"
#include "engine/llama_engine.h"
#include "files/local_file_store.h"
#include "sched/fault_injection.h"
#include "sched/scheduler.h"
#include "store/sqlite_store.h"

namespace glmq {
namespace {

// Tokens of counted documents kept for the scheduler at most (about 64 prompts of a million
// tokens); what does not fit is tokenized again when claimed.
constexpr size_t kKeptPromptTokensBytes = size_t{256} << 20;

struct ServeFlags {
  FrontendOptions frontend;
  LlamaEngineOptions engine;
  SchedulerOptions sched;
  std::string data_dir = "./data";
  double retention_hours = 24;
  CommonFlags common;
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

int RunServe(const ServeFlags& flags) {
  StopSignals stop;  // before any thread starts
  spdlog::set_level(spdlog::level::from_str(flags.common.log_level));
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

  auto alert_config = LoadAlertConfig(flags.common.config_path);
  if (!alert_config.ok()) {
    spdlog::error("{}", alert_config.status().message());
    return 2;
  }
  metrics::Registry registry;
  JobMetrics job_metrics(registry);

  JobWatchHub watch;
  auto store = SqliteJobStore::Open(flags.data_dir + "/glmq.db", WakeAndCount(watch, job_metrics));
  if (!store.ok()) {
    spdlog::error("cannot open the store: {}", store.status().ToString());
    return 1;
  }
  // We hold the data directory alone, so a job left running was running in a process that
  // died: queue it again now rather than when its lease would run out.
  if (auto n = (*store)->ReapExpiredLeases(INT64_MAX, flags.sched.max_deliveries); n.ok() && *n) {
    spdlog::warn("re-queued {} jobs that were running when the last process stopped", *n);
  }

  LlamaEngineOptions engine_options = flags.engine;
  if (engine_options.prefix_cache_dir.empty()) {
    engine_options.prefix_cache_dir = flags.data_dir + "/prefix-cache";
  }
  std::unique_ptr<LlamaEngine> engine = LoadEngine(engine_options);
  if (!engine) return 1;
  ThroughputMeter meter;
  Calibrate(*engine, meter);

  // A large document's tokens, made by the settle step after its 202, go to the scheduler.
  PromptTokensOnce tokens_once(engine->tokenizer(), kKeptPromptTokensBytes);
  SchedulerOptions sched = flags.sched;
  sched.short_prompt_tokens = flags.frontend.policy.medium_prompt_tokens;
  sched.policy = flags.frontend.policy;
  sched.retention_ms = static_cast<int64_t>(flags.retention_hours * 3'600'000);
  sched.tokens_once = &tokens_once;
  Scheduler scheduler(**store, *engine, meter, sched);
  const auto store_fault =
      StoreFaultFromEnvironment([&store](bool on) { (*store)->InjectWriteFault(on); });
  const LocalCapacity capacity(meter, &scheduler);
  scheduler.job_stats().SetListener([&job_metrics](const JobEvent& e) { job_metrics.JobEvent(e); });
  auto files = LocalFileStore::Open(flags.data_dir + "/files");
  if (!files.ok()) {
    spdlog::error("cannot open the file store: {}", files.status().message());
    return 1;
  }
  auto batches = LocalBatchStore::Open(flags.data_dir + "/batches.db");
  if (!batches.ok()) {
    spdlog::error("cannot open the batch store: {}", batches.status().message());
    return 1;
  }
  FrontendOptions frontend_options = flags.frontend;
  frontend_options.blocking_threads = flags.common.blocking_threads;
  frontend_options.admission.tokens_once = &tokens_once;
  auto frontend = Frontend::Create(frontend_options, *alert_config,
                                   FileSilenceStorage(flags.data_dir + "/silences.json"), **store,
                                   engine->tokenizer(), capacity, &scheduler, watch, registry,
                                   job_metrics, files->get(), batches->get());
  if (!frontend.ok()) {
    spdlog::error("{}", frontend.status().message());
    return 2;
  }
  AddQueueCollectors(registry, (*frontend)->reporter(), engine->info(), &(*frontend)->alerts());

  scheduler.Start();
  auto port = (*frontend)->Start();
  if (!port.ok()) {
    spdlog::error("{}", port.status().message());
    scheduler.Shutdown();
    return 1;
  }
  spdlog::info("glmq serving on http://{}:{} (data in {})", flags.frontend.http.host, *port,
               flags.data_dir);
  spdlog::info("received {}, draining", stop.Wait());
  (*frontend)->Stop();
  scheduler.Shutdown();
  return 0;
}

}  // namespace

CommandRunner AddServeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "run gateway, scheduler and engine in one process");
  auto f = std::make_shared<ServeFlags>();
  AddCommonFlags(*cmd, f->common);
  AddEngineFlags(*cmd, f->engine, /*tokenizer_only=*/false);
  AddHttpFlags(*cmd, f->frontend.http, 8080);
  AddHttpDrainFlag(*cmd, f->frontend.http);
  cmd->add_option("--data-dir", f->data_dir, "where the job store lives")
      ->envname("GLMQ_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("--retention-hours", f->retention_hours,
                  "how long finished jobs, their documents and results are kept (0 = forever)")
      ->envname("GLMQ_RETENTION_HOURS")
      ->capture_default_str();
  AddApiFlags(*cmd, f->frontend.api, f->frontend.admission);
  AddBatchApiFlags(*cmd, f->frontend.files, f->frontend.batches);
  AddWebhookFlags(*cmd, f->frontend.webhooks);
  AddSchedulerFlags(*cmd, f->sched);
  AddPolicyFlags(*cmd, f->frontend.policy);
  return [f]() { return RunServe(*f); };
}

}  // namespace glmq
