// Helpers for the engine tests: a generated test model, engines over it, jobs, and a loop
// that runs them to the end.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "engine/llama_engine.h"
#include "support/scratch_dir.h"
#include "testmodel/test_model.h"

namespace glmq {

inline std::string ModelPath() {
  static const std::string path = [] {
    const std::string p = ScratchDir("glmq-engine-test") + "/model.gguf";
    const Status s = WriteTestModel(TestModelSpec{}, p);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return p;
  }();
  return path;
}

// Options for an engine over the test model: one thread, and no flash attention (f32
// weights + no flash attention: batch shape does not change results).
inline LlamaEngineOptions TestOptions(int32_t parallel, int64_t ctx = 4096) {
  LlamaEngineOptions o;
  o.model_path = ModelPath();
  o.parallel = parallel;
  o.ctx_size = ctx;
  o.threads = 1;
  o.flash_attn = "off";
  return o;
}

// Null, with a test failure, when it does not load.
inline std::unique_ptr<LlamaEngine> LoadWith(const LlamaEngineOptions& o) {
  auto engine = LlamaEngine::Load(o);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

inline std::unique_ptr<LlamaEngine> LoadEngine(int32_t parallel, int64_t ctx = 4096,
                                               bool prefix_cache = true) {
  LlamaEngineOptions o = TestOptions(parallel, ctx);
  o.prefix_cache = prefix_cache;
  return LoadWith(o);
}

inline Job MakeJob(const std::string& id, const std::string& text, int32_t max_tokens) {
  Job job;
  job.id = id;
  job.request.text = text;
  job.request.question = "What is this about?";
  job.request.sampling.max_tokens = max_tokens;
  job.request.sampling.temperature = 0;
  return job;
}

// Tokenizes the job's prompt with the engine's vocabulary and admits it, as the scheduler
// does.
inline Status Admit(Engine& engine, const Job& job) {
  auto prompt = engine.tokenizer().TokenizePrompt(job.request);
  if (!prompt.ok()) return prompt.status();
  return engine.Admit(job, *prompt);
}

// Steps until every sequence ends; returns completions by job id.
inline std::map<std::string, Completion> RunAll(Engine& engine, int max_steps = 10000) {
  std::map<std::string, Completion> done;
  for (int i = 0; i < max_steps && engine.ActiveSequences() > 0; ++i) {
    for (auto& f : engine.Step().finished) done[f.id] = f.completion;
  }
  return done;
}

}  // namespace glmq
