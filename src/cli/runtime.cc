#include "cli/runtime.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <string>

#include "api/alerts_api.h"
#include "api/auth.h"
#include "api/dashboard.h"
#include "api/metrics_api.h"
#include "api/openapi.h"

namespace glmq {

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

const char* StopSignals::Wait() {
  int sig = 0;
  sigwait(&signals_, &sig);
  return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}

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
  auto tokens = engine.tokenizer().TokenizePrompt(job.request);
  if (!tokens.ok() || !engine.Admit(job, *tokens).ok()) return;
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

std::unique_ptr<LlamaEngine> LoadEngine(const LlamaEngineOptions& options) {
  if (options.model_path.empty()) {
    spdlog::error("no model: give --model PATH (or GLMQ_MODEL, or `model` in the config file)");
    return nullptr;
  }
  auto engine = LlamaEngine::Load(options);
  if (!engine.ok()) {
    spdlog::error("{}", engine.status().message());
    return nullptr;
  }
  if ((*engine)->info().is_test_model) {
    spdlog::warn(
        "the model is a generated test model with random weights: its answers are "
        "noise. Point --model at a real GLM-4-9B-Chat-1M GGUF for real answers.");
  }
  return std::move(*engine);
}

std::unique_ptr<LlamaTokenizer> LoadTokenizer(const LlamaEngineOptions& options) {
  if (options.model_path.empty()) {
    spdlog::error("no model: give --model PATH (or GLMQ_MODEL, or `model` in the config file)");
    return nullptr;
  }
  auto tokenizer = LlamaTokenizer::Load(options);
  if (!tokenizer.ok()) {
    spdlog::error("{}", tokenizer.status().message());
    return nullptr;
  }
  return std::move(*tokenizer);
}

JobListener WakeAndCount(JobWatchHub& watch, JobMetrics& job_metrics) {
  return [&watch, &job_metrics](const std::string& id, JobState state, ChangeOrigin origin) {
    watch.Notify(id, state);
    job_metrics.StateChanged(id, state, origin);
  };
}

Status AddPublicRoutes(Router& router, ApiContext& ctx, Alerting& alerting,
                       metrics::Registry& registry, JobMetrics& job_metrics) {
  GLMQ_ASSIGN_OR_RETURN(ApiKeys keys,
                        ApiKeys::Load(ctx.options.api_keys, ctx.options.api_keys_file));
  if (keys.empty()) {
    spdlog::info("no API keys: the API answers anyone who can reach it (see --api-key)");
  } else {
    spdlog::info("API keys: {}; /v1 and /api routes need 'Authorization: Bearer KEY'", keys.size());
    router.RequireKey([keys = std::move(keys)](const HttpRequest& request) {
      const auto it = request.find(http::field::authorization);
      return it != request.end() &&
             keys.Accepts(std::string_view(it->value().data(), it->value().size()));
    });
  }
  LocalScheduler* scheduler = ctx.scheduler;
  ctx.admission.SetListeners([&job_metrics](const Job& job) { job_metrics.Submitted(job); },
                             [scheduler] {
                               if (scheduler != nullptr) scheduler->Wake();
                             });
  if (ctx.options.submit_rate > 0) {
    ctx.limiter = std::make_shared<RateLimiter>(ctx.options.submit_rate, ctx.options.submit_burst);
    spdlog::info("rate limit: {:g} submits a second per client, bursts of {:g}",
                 ctx.options.submit_rate, ctx.options.submit_burst);
  }
  AddApiRoutes(router, ctx);
  AddAlertRoutes(router, *alerting.service, *alerting.silences, ctx.pool);
  AddMetricsRoute(router, registry, ctx.pool);
  AddDashboardRoutes(router);
  AddOpenApiRoute(router);
  router.SetObserver([&job_metrics](const std::string& route, int status, double seconds) {
    job_metrics.HttpRequest(route, status, seconds);
  });
  return Status::Ok();
}

}  // namespace glmq
