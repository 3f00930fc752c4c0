#include "cli/runtime.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <string>

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

namespace {

// `load(options)` (LlamaEngine::Load or LlamaTokenizer::Load), logging why not.
template <class T, class Load>
std::unique_ptr<T> LoadModel(const LlamaEngineOptions& options, Load load) {
  if (options.model_path.empty()) {
    spdlog::error("no model: give --model PATH (or GLMQ_MODEL, or `model` in the config file)");
    return nullptr;
  }
  Result<std::unique_ptr<T>> loaded = load(options);
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().message());
    return nullptr;
  }
  return std::move(*loaded);
}

}  // namespace

std::unique_ptr<LlamaEngine> LoadEngine(const LlamaEngineOptions& options) {
  auto engine = LoadModel<LlamaEngine>(options, LlamaEngine::Load);
  if (engine && engine->info().is_test_model) {
    spdlog::warn(
        "the model is a generated test model with random weights: its answers are "
        "noise. Point --model at a real GLM-4-9B-Chat-1M GGUF for real answers.");
  }
  return engine;
}

std::unique_ptr<LlamaTokenizer> LoadTokenizer(const LlamaEngineOptions& options) {
  return LoadModel<LlamaTokenizer>(options, LlamaTokenizer::Load);
}

JobListener WakeAndCount(JobWatchHub& watch, JobMetrics& job_metrics) {
  return [&watch, &job_metrics](const std::string& id, JobState state, ChangeOrigin origin) {
    watch.Notify(id, state);
    job_metrics.StateChanged(id, state, origin);
  };
}

}  // namespace glmq
