// Test-model generator: writes a small random-weight GLM-4 GGUF (architecture `chatglm`)
// that llama.cpp loads like the real GLM-4-9B-Chat: same tensor layout, same 14 special
// tokens, a byte-level BPE tokenizer and a chat template that llama.cpp renders as
// `chatglm4`. Its answers are noise, but always valid UTF-8 that never ends early.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace glmq {

struct TestModelSpec {
  int32_t layers = 2;
  int32_t embd = 64;
  int32_t heads = 4;
  int32_t kv_heads = 2;
  int32_t ff = 128;
  // Total tokens: 256 byte tokens + learned merges + 14 GLM special tokens.
  int32_t vocab = 512;
  // chatglm.context_length; the model's weights do not depend on it.
  int32_t ctx = 131072;
  // f32 | f16 | q8_0 | q4_0 for the 2-D weight matrices; norms and biases stay f32.
  std::string type = "f32";
  uint64_t seed = 42;
  // The engine recognises the default name and warns that answers are noise.
  std::string name = "glmq-test-model";
};

// Named shapes (`glmq make-test-model --preset NAME`); nullopt for an unknown name.
//   default  the struct's defaults: a few MB, for tests
//   bench    ~280M parameters (~560 MB as f16), for throughput benchmarks on a CPU
//   glm4-9b  GLM-4-9B-Chat-1M's shape: 40 layers, 4096 wide, 32 heads, 2 KV heads, 13,696
//            feed-forward, 151,552 tokens, a 1M-token trained context; 9.4B parameters,
//            q4_0 (5.3 GB), for the GPU (bench/gpu/)
std::optional<TestModelSpec> PresetSpec(std::string_view name);

// Checks `spec` without writing anything: InvalidArgument says what is wrong.
Status ValidateTestModelSpec(const TestModelSpec& spec);

// Writes the model to `path` (through a temporary file that is renamed into place, so a
// reader never sees half a model). Same spec, same bytes. Memory stays at a few MB beyond
// the vocabulary whatever the model size: tensors are generated and written in chunks.
Status WriteTestModel(const TestModelSpec& spec, const std::string& path);

}  // namespace glmq
