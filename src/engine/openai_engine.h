// OpenAiEngine: runs jobs on a remote OpenAI-compatible server (vLLM, SGLang, llama.cpp's
// llama-server, another glmq) instead of an in-process model: `glmq worker --engine openai`.
// Each admitted job is one POST {upstream}/chat/completions on a thread of its own, up to
// --parallel at once; Step() reports the ones that ended. Prompts are counted and checked
// with the model's own vocabulary (a vocabulary-only load of the same GGUF), so the queue's
// costs and the context check stay exact. The upstream schedules its own batch and KV:
// there is no progress while a request runs, and a cancel drops the connection (an upstream
// that stops on disconnect stops generating). An upstream that cannot be reached, or answers
// 408, 429 or 5xx, hands the job back to the queue (Completion::retry_later) and the worker
// waits before it claims again; other errors (4xx) fail the job with the upstream's reason.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace glmq {

struct OpenAiEngineOptions {
  std::string base_url;  // e.g. http://10.0.0.5:8000/v1; requests go to {base_url}/chat/completions
  std::string api_key;   // sent as a Bearer token; empty = none
  std::string model;     // "model" of each request; empty = the GGUF's general.name
  int32_t parallel = 8;  // requests in flight at once
  double timeout_seconds = 3600;  // one request, start to answer
};

class OpenAiEngine final : public Engine {
 public:
  // `tokenizer` counts and checks prompts (a vocabulary-only LlamaTokenizer whose context is
  // the upstream's).
  static Result<std::unique_ptr<OpenAiEngine>> Create(std::unique_ptr<Tokenizer> tokenizer,
                                                      OpenAiEngineOptions options);
  ~OpenAiEngine() override;

  const ModelInfo& info() const override { return info_; }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  int32_t FreeSlots() const override;
  int64_t FreeKvTokens() const override;
  int32_t ActiveSequences() const override;
  Status Admit(const Job& job, PromptTokens& prompt) override;
  bool ReadsRequestText() const override { return true; }
  void Stop(const std::string& id, JobState state) override;
  using Engine::Step;
  StepReport Step(const StepHints& hints) override;
  TimeMs alive_at() const override { return NowMs(); }  // requests wait on the network

  // The chat request for `request` as the upstream gets it (for tests).
  std::string RequestBody(const JobRequest& request) const;

 private:
  struct Call;
  OpenAiEngine(std::unique_ptr<Tokenizer> tokenizer, OpenAiEngineOptions options);
  void Run(std::shared_ptr<Call> call);

  std::unique_ptr<Tokenizer> tokenizer_;
  const OpenAiEngineOptions options_;
  ModelInfo info_;
  mutable std::mutex mu_;
  std::condition_variable ended_;
  std::map<std::string, std::shared_ptr<Call>> calls_;  // by job id, until reported
};

}  // namespace glmq
