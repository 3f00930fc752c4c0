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

namespace {

// What one calibration prompt's steps measured.
struct CalibrationRun {
  double prefill_s = 0, decode_s = 0, positions = 0;
  int64_t prompt = 0, generated = 0;
};

// One prompt of about `sentences` x 10 tokens run to its end; its prefill and decode
// measures added to `m`. False if the engine would not take it.
bool RunCalibrationJob(Engine& engine, int sentences, CalibrationRun& m) {
  Job job;
  job.id = "calibration-" + std::to_string(sentences);
  std::string text;
  for (int i = 0; i < sentences; ++i) text += "The quick brown fox jumps over the lazy dog. ";
  job.request.text = text;
  job.request.question = "What does the fox do?";
  job.request.sampling.max_tokens = 16;
  job.request.sampling.temperature = 0;
  auto tokens = engine.tokenizer().TokenizePrompt(job.request);
  if (!tokens.ok() || !engine.Admit(job, *tokens).ok()) return false;
  while (engine.ActiveSequences() > 0) {
    StepReport r = engine.Step();
    if (r.prompt_tokens > 1) {
      m.prefill_s += r.seconds;
      m.prompt += r.prompt_tokens;
      m.positions += r.prompt_positions;
    } else {
      m.decode_s += r.seconds;
      m.generated += r.generated_tokens;
    }
  }
  return true;
}

}  // namespace

// Runs a short job through the engine before serving, so that the first wait estimates
// come from this machine's speed rather than from a guess; and, where it costs under
// eight seconds, a prompt four times as long, whose extra time per token is what attention
// over a longer context costs (on a CPU several times what the model's shape alone says).
void Calibrate(Engine& engine, ThroughputMeter& meter) {
  double attention = engine.info().AttentionCostPerPosition();
  CalibrationRun brief;
  if (!RunCalibrationJob(engine, 40, brief) || brief.prefill_s <= 0 || brief.decode_s <= 0 ||
      brief.generated == 0) {
    meter.SeedAttention(attention);
    return;
  }
  constexpr int kLongSentences = 160;
  constexpr double kMostLongSeconds = 8.0;
  const double brief_tps = brief.prompt / brief.prefill_s;
  CalibrationRun longer;
  bool measured = false;
  if (brief_tps * kMostLongSeconds >= brief.prompt * kLongSentences / 40.0 &&
      static_cast<int64_t>(brief.prompt) * 4 < engine.FreeKvTokens() &&
      RunCalibrationJob(engine, kLongSentences, longer) && longer.prefill_s > 0) {
    // seconds = a x tokens + a x share x positions, through both prompts.
    PrefillSums sums;
    sums.Add(static_cast<double>(brief.prompt), brief.positions, brief.prefill_s);
    sums.Add(static_cast<double>(longer.prompt), longer.positions, longer.prefill_s);
    if (const std::optional<PrefillSums::Cost> cost = sums.Solve();
        cost && cost->per_position > 0) {
      attention = cost->per_position / cost->per_token;
      measured = true;
    }
  }
  meter.SeedAttention(attention);
  // At short context: what the prompt's tokens would have cost without attention.
  const double prefill_tps = (brief.prompt + attention * brief.positions) / brief.prefill_s;
  meter.Seed(prefill_tps, brief.generated / brief.decode_s);
  spdlog::info(
      "calibrated: prefill {:.0f} tokens/s at short context (+{:.2g} of that per position "
      "of context before a token{}), decode {:.1f} tokens/s",
      prefill_tps, attention, measured ? "" : ", from the model's shape",
      brief.generated / brief.decode_s);
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
