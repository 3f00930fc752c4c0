// The public side of `glmq serve` and `glmq gateway`, wired the same way for both: the
// alerting (evaluated from one reading of the queue), admission, the webhook sender, the
// routes (job API, alerts and silences, /metrics, the dashboard, API keys, rate limits,
// request metrics) and the HTTP server. What differs is handed in: the store, the tokenizer,
// where the speeds come from, whether a scheduler runs here, where silences live.
#pragma once

#include <memory>
#include <optional>

#include "admission/admission.h"
#include "alert/alerting.h"
#include "api/api.h"
#include "api/auth.h"
#include "api/files_api.h"
#include "api/http_server.h"
#include "api/webhooks.h"
#include "batch/batch_runner.h"
#include "core/periodic.h"
#include "metrics/catalogue.h"
#include "sched/queue_report.h"

namespace glmq {

struct FrontendOptions {
  HttpServerOptions http;
  ApiOptions api;
  AdmissionOptions admission;
  WebhookOptions webhooks;
  PolicyOptions policy;
  FilesOptions files;
  BatchRunnerOptions batches;
  int32_t blocking_threads = 16;
};

class Frontend {
 public:
  // `scheduler`: the one in this process (serve), or null (a gateway). `files` and
  // `batches`: where the Batch API's files and batches live (null: no /v1/files, no
  // /v1/batches; with both, this front end runs the batches too). Everything handed in
  // outlives the front end. Fails for a bad alert or key configuration.
  static Result<std::unique_ptr<Frontend>> Create(
      const FrontendOptions& options, const AlertConfig& alerts, SilenceStorage silences,
      JobStore& store, const Tokenizer& tokenizer, const CapacitySource& capacity,
      LocalScheduler* scheduler, JobWatchHub& watch, metrics::Registry& registry,
      JobMetrics& job_metrics, FileStore* files = nullptr, BatchStore* batches = nullptr);
  Frontend(const Frontend&) = delete;
  Frontend& operator=(const Frontend&) = delete;
  ~Frontend();

  // Starts the evaluator, the webhook sender and the server; returns the bound port.
  Result<uint16_t> Start();
  // Long-polls answer now, the server finishes what is in flight, the pool drains, and a
  // last alert notice goes out while the store is still open.
  void Stop();

  AlertService& alerts() { return *alerting_->service; }
  // Before Start: to link it with the other gateways' (Admission::TellPeers, NotePeers).
  Admission& admission() { return admission_; }
  // Before Start: see BatchRunner::SetGate (no-op without the Batch API).
  void SetBatchGate(std::function<bool()> gate) {
    if (batch_runner_) batch_runner_->SetGate(std::move(gate));
  }
  const QueueReporter& reporter() const { return reporter_; }

 private:
  Frontend(const FrontendOptions& options, JobStore& store, const Tokenizer& tokenizer,
           const CapacitySource& capacity, LocalScheduler* scheduler, JobWatchHub& watch);
  Status AddRoutes(metrics::Registry& registry, JobMetrics& job_metrics);

  const FrontendOptions options_;
  JobWatchHub& watch_;
  QueueReporter reporter_;
  asio::thread_pool pool_;
  Admission admission_;
  std::unique_ptr<Alerting> alerting_;
  std::unique_ptr<WebhookSender> webhooks_;
  std::unique_ptr<KeyRing> keys_;
  std::unique_ptr<Periodic> key_refresh_;    // every second, from Start
  std::unique_ptr<Periodic> drain_refresh_;  // with --max-drain-seconds
  FileStore* files_ = nullptr;
  std::unique_ptr<Periodic> file_expiry_;  // with files_, from Start
  BatchStore* batches_ = nullptr;
  std::unique_ptr<BatchCodec> batch_codec_;
  std::unique_ptr<BatchRunner> batch_runner_;  // with files_ and batches_
  std::optional<ApiContext> ctx_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
  bool stopped_ = false;
};

}  // namespace glmq
