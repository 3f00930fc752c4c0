// How llama.cpp loads a model and runs it: the options of LlamaTokenizer (which reads the
// model's vocabulary and the context its engines have) and LlamaEngine.
#pragma once

#include <cstdint>
#include <string>

namespace glmq {

struct LlamaEngineOptions {
  std::string model_path;
  int64_t ctx_size = 0;  // KV tokens in all; 0 = min(model's training context, 32768)
  int32_t parallel = 1;
  int32_t batch_size = 2048;
  int32_t ubatch_size = 512;
  int32_t threads = 0;              // 0 = all hardware threads
  std::string flash_attn = "auto";  // on | off | auto
  std::string kv_type = "f16";      // f16 | q8_0 | q4_0
  int32_t gpu_layers = -1;          // layers offloaded to a GPU build; -1 = all
  // GPU memory kept free beside the weights, the KV and the attention masks: compute
  // buffers, the CUDA runtime's own. Sizes the context (engine/device_memory.h).
  int32_t gpu_headroom_mib = 1024;
  // Target duration of a step that carries generating sequences; prompt chunks are sized
  // to fit it. 0 = always fill the batch.
  int32_t step_target_ms = 200;
  // Reuse the KV of prompt prefixes (api: usage.prompt_tokens_details.cached_tokens): a
  // finished sequence keeps its KV in its slot until the memory is needed, and a job whose
  // prompt starts with tokens another sequence holds, or is reading, shares those cells
  // instead of reading them again. Several questions on one document read it once.
  bool prefix_cache = true;
  // Who may reuse whose KV: kTenant (the default), a job only KV its own tenant's jobs
  // computed, in memory and on disk, so no tenant can learn another's documents from
  // cached_tokens or timing; kGlobal, every job any KV (one party, or parties that share
  // their documents).
  enum class PrefixCacheScope { kTenant, kGlobal };
  PrefixCacheScope prefix_cache_scope = PrefixCacheScope::kTenant;
  // The prefix cache's disk tier: a warm slot of at least kMinSavedPrefixTokens evicted for
  // memory (or left at shutdown) is saved here first, and a job whose prompt starts the
  // same way loads it instead of reading it again, after a restart too. 0 bytes = off.
  // Saving costs the KV's size in writes (GLM-4-9B f16: 40 KiB per token) on the engine
  // thread.
  std::string prefix_cache_dir;
  int64_t prefix_cache_disk_bytes = 0;
};

// Name that `glmq make-test-model` writes into general.name.
inline constexpr char kTestModelName[] = "glmq-test-model";

}  // namespace glmq
