#include "cli/frontend.h"

#include <spdlog/spdlog.h>

#include "alert/queue_signals.h"
#include "api/alerts_api.h"
#include "api/auth.h"
#include "api/batch_codec.h"
#include "api/batches_api.h"
#include "api/dashboard.h"
#include "api/metrics_api.h"
#include "api/openapi.h"
#include "api/tenant_metrics.h"
#include "net/address_policy.h"

namespace glmq {

Frontend::Frontend(const FrontendOptions& options, JobStore& store, const Tokenizer& tokenizer,
                   const CapacitySource& capacity, LocalScheduler* scheduler, JobWatchHub& watch)
    : options_(options),
      watch_(watch),
      reporter_(store, capacity, scheduler),
      pool_(static_cast<size_t>(std::max(2, options.blocking_threads))),
      admission_(store, tokenizer, capacity, options.policy, options.admission, pool_) {}

Result<std::unique_ptr<Frontend>> Frontend::Create(
    const FrontendOptions& options, const AlertConfig& alerts, SilenceStorage silences,
    JobStore& store, const Tokenizer& tokenizer, const CapacitySource& capacity,
    LocalScheduler* scheduler, JobWatchHub& watch, metrics::Registry& registry,
    JobMetrics& job_metrics, FileStore* files, BatchStore* batches) {
  std::unique_ptr<Frontend> f(new Frontend(options, store, tokenizer, capacity, scheduler, watch));
  f->files_ = files;
  f->batches_ = files != nullptr ? batches : nullptr;
  const QueueReporter& reporter = f->reporter_;
  auto alerting = MakeAlerting(
      alerts, std::move(silences),
      [&reporter, batches = f->batches_]() -> Result<AlertSignals> {
        GLMQ_ASSIGN_OR_RETURN(const QueueReport report, reporter.Read(/*with_running_jobs=*/false));
        AlertSignals signals = AlertSignalsOf(report);
        if (batches != nullptr) {
          GLMQ_ASSIGN_OR_RETURN(signals.batches, BatchOutlooks(*batches));
        }
        return signals;
      },
      [&job_metrics](const std::string& channel, const std::string& outcome) {
        job_metrics.Notification(channel, outcome);
      });
  if (!alerting.ok())
    return Status(alerting.status().code(),
                  "alerting: " + std::string(alerting.status().message()));
  f->alerting_ = std::move(*alerting);
  // Every front end sends webhooks; a delivery is leased to one sender at a time.
  f->webhooks_ = std::make_unique<WebhookSender>(store, MakeCurlHttpTransport(), options.webhooks,
                                                 f->batches_);
  AddWebhookCollector(registry, *f->webhooks_);
  f->ctx_.emplace(
      ApiContext{store, f->admission_, scheduler, f->reporter_, options.api, f->pool_, watch});
  f->ctx_->options.limits.webhook_hosts = options.webhooks.allow_hosts;
  f->ctx_->options.limits.webhook_allow_private = options.webhooks.allow_private;
  f->admission_.SetListeners(
      [&job_metrics, ctx = &*f->ctx_](const Job& job) {
        job_metrics.Submitted(job);
        if (ctx->guard != nullptr) {  // set by AddRoutes, before the first submit
          ctx->guard->Accepted(job.tenant, job.prompt_tokens + job.request.sampling.max_tokens);
        }
      },
      [scheduler] {
        if (scheduler != nullptr) scheduler->Wake();
      });
  GLMQ_RETURN_IF_ERROR(f->AddRoutes(registry, job_metrics));
  HttpServerOptions http = options.http;
  // The form around an uploaded file: its other fields and boundaries.
  constexpr uint64_t kFormOverheadBytes = 1 << 20;
  http.max_upload_bytes = static_cast<uint64_t>(options.files.max_file_bytes) + kFormOverheadBytes;
  f->server_ = std::make_unique<HttpServer>(http, f->router_);
  return f;
}

Status Frontend::AddRoutes(metrics::Registry& registry, JobMetrics& job_metrics) {
  ApiContext& ctx = *ctx_;
  keys_ = std::make_unique<KeyRing>(ctx.options.api_keys, ctx.options.api_keys_file, &ctx.store);
  if (Status read = keys_->Refresh(); !read.ok()) {
    return Status(read.code(), "API keys: " + std::string(read.message()));
  }
  if (!keys_->required()) {
    if (!net::IsLoopbackHost(options_.http.host) && !ctx.options.insecure) {
      return InvalidArgument(
          "no API key is configured and --host " + options_.http.host +
          " is not a loopback address: anyone who reaches it could read every job. Create keys "
          "('glmq keys create --tenant T --role R', or --api-keys-file), or pass --insecure");
    }
    spdlog::info(
        "no API keys: one implicit tenant, and the API answers anyone who can reach it (see "
        "'glmq keys create')");
  } else {
    spdlog::info("API keys: {}; /v1 and /api routes need 'Authorization: Bearer KEY'",
                 keys_->size());
  }
  router_.Authenticate([keys = keys_.get()](const HttpRequest& request) {
    const auto it = request.find(http::field::authorization);
    return keys->Authenticate(it == request.end()
                                  ? std::string_view()
                                  : std::string_view(it->value().data(), it->value().size()));
  });
  const ApiOptions& o = ctx.options;
  const TenantLimits& limits = o.tenant_limits;
  if (limits.max_queued_jobs > 0 || limits.max_queued_tokens > 0 || limits.tokens_per_minute > 0 ||
      o.max_drain_seconds > 0 || !o.api_keys_file.empty()) {
    ctx.guard = std::make_shared<SubmitGuard>(
        SubmitGuard::Options{.defaults = limits, .max_drain_seconds = o.max_drain_seconds},
        [keys = keys_.get()] { return keys->limit_overrides(); });
  }
  if (ctx.options.submit_rate > 0) {
    ctx.limiter = std::make_shared<RateLimiter>(ctx.options.submit_rate, ctx.options.submit_burst);
    spdlog::info("rate limit: {:g} submits a second per client, bursts of {:g}",
                 ctx.options.submit_rate, ctx.options.submit_burst);
  }
  AddApiRoutes(router_, ctx);
  if (files_ != nullptr) AddFileRoutes(router_, *files_, options_.files, pool_);
  if (batches_ != nullptr) {
    batch_codec_ = std::make_unique<ApiBatchCodec>(ctx.options.limits, admission_.model().name);
    BatchRunnerOptions runner = options_.batches;
    runner.output_retention_ms = options_.files.retention_ms;
    runner.max_line_bytes = static_cast<size_t>(options_.http.max_body_bytes);
    runner.max_queued_tokens_of = [keys = keys_.get(),
                                   flag = runner.max_queued_tokens](const std::string& tenant) {
      const std::shared_ptr<const TenantLimitOverrides> overrides = keys->limit_overrides();
      if (!overrides) return flag;
      return LimitsOf(*overrides, tenant, {.batch_max_queued_tokens = flag})
          .batch_max_queued_tokens;
    };
    batch_runner_ = std::make_unique<BatchRunner>(*batches_, *files_, ctx.store, admission_,
                                                  *batch_codec_, runner);
    batch_runner_->SetEvents(AddBatchMetrics(registry));
    AddBatchRoutes(router_, BatchRoutes{*batches_, *files_, ctx.options.limits, pool_,
                                        [runner = batch_runner_.get()] { runner->Wake(); }});
  }
  AddModelRoutes(router_, admission_.model().name, NowMs());
  AddAlertRoutes(router_, *alerting_->service, *alerting_->silences, pool_);
  AddTenantCollector(registry, *keys_, ctx.store);
  AddMetricsRoute(router_, registry, pool_);
  AddDashboardRoutes(router_);
  AddOpenApiRoute(router_);
  router_.SetObserver([&job_metrics](const std::string& route, int status, double seconds) {
    job_metrics.HttpRequest(route, status, seconds);
  });
  return Status::Ok();
}

Result<uint16_t> Frontend::Start() {
  // A key made or revoked anywhere (the keys file, `glmq keys`) counts within a second.
  key_refresh_ = std::make_unique<Periodic>(std::chrono::seconds(1), [keys = keys_.get()] {
    if (Status s = keys->Refresh(); !s.ok()) {
      spdlog::warn("API keys not read again (the keys in force stay): {}", s.message());
    }
  });
  if (ctx_->guard != nullptr && ctx_->guard->max_drain_seconds() > 0) {
    // The overload guard's view of the queue, a second old at most.
    drain_refresh_ = std::make_unique<Periodic>(std::chrono::seconds(1), [this] {
      if (auto report = reporter_.Read(/*with_running_jobs=*/false); report.ok()) {
        ctx_->guard->SetDrainSeconds(report->predicted_drain_seconds);
      }
    });
  }
  if (files_ != nullptr) {
    file_expiry_ = std::make_unique<Periodic>(
        std::chrono::minutes(1),
        [files = files_, batches = batches_, keep_ms = options_.files.retention_ms] {
          const TimeMs now = NowMs();
          if (auto n = files->DeleteExpired(now); !n.ok()) {
            spdlog::warn("files: expired files not deleted: {}", n.status().message());
          } else if (*n > 0) {
            spdlog::info("files: deleted {} expired files", *n);
          }
          // A batch is kept as long as the files it wrote.
          if (batches == nullptr || keep_ms <= 0) return;
          if (auto n = batches->DeleteEnded(now - keep_ms); !n.ok()) {
            spdlog::warn("batches: ended batches not deleted: {}", n.status().message());
          } else if (*n > 0) {
            spdlog::info("batches: deleted {} batches that ended over the retention ago", *n);
          }
        });
  }
  if (batch_runner_) batch_runner_->Start();
  webhooks_->Start();
  alerting_->service->Start();
  return server_->Start();
}

void Frontend::Stop() {
  if (stopped_) return;
  stopped_ = true;
  watch_.Close();  // long-polls answer now
  if (server_) server_->Stop();
  key_refresh_.reset();
  drain_refresh_.reset();
  file_expiry_.reset();
  if (batch_runner_) batch_runner_->Stop();
  pool_.join();
  alerting_.reset();  // a last notice goes out while the store is still open
  webhooks_.reset();
}

Frontend::~Frontend() { Stop(); }

}  // namespace glmq
