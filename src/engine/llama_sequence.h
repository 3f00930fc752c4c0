// The engine's slot (LlamaEngine::Sequence) and the helpers its two halves share: the
// decode loop (llama_engine.cc) and the prefix cache (llama_prefix_cache.cc). Private to
// engine/.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/llama_engine.h"
#include "engine/token_sampler.h"
#include "llama.h"

namespace glmq {

// A slot runs one sequence at a time (seq_id = its index). With the prefix cache on, a slot
// keeps its KV after its job ends (a warm slot) until a job that starts with the same
// tokens reuses it, or the memory is needed. Cells are shared by prefix: a slot whose
// `parent` is set holds the parent's first `shared` cells too (llama_memory_seq_cp adds
// the slot's seq id to them; in the unified KV cache that costs no memory), and counts
// only the rest as its own. A running sequence that shares a prefix its parent has not
// read yet `waits` and reads nothing until the parent has. Invariant: a parent holds at
// least `shared` cells (or, while its child waits, is running and will); Truncate keeps it.
struct LlamaEngine::Sequence {
  bool active = false;
  int32_t seq_id = 0;
  uint64_t admitted = 0;
  std::string job_id;
  std::vector<llama_token> prompt;
  size_t prompt_read = 0;
  int32_t n_past = 0;
  bool generating = false;
  llama_token next_token = -1;  // sampled, fed in the next step
  int32_t max_tokens = 0;
  std::vector<std::string> stop;
  size_t longest_stop = 0;
  TimeMs deadline_at = 0;
  TokenSampler sampler;    // the running job's
  std::string bytes;       // raw bytes of the generated pieces; sanitized when the job ends
  size_t bytes_shown = 0;  // how many of them went out as text while it runs (stable_text.h)
  int64_t completion_tokens = 0;
  int32_t batch_index = -1;  // row of this sequence's logits in the current batch
  int32_t chunk = 0;         // prompt tokens in the current batch

  // The tokens whose KV this slot holds, by position: the prompt as read, then the
  // generated tokens fed back. Outlives the job in a warm slot.
  std::vector<llama_token> kv;
  // Whose KV it is: the tenant of the job that computed it ("" when the cache is shared, see
  // PrefixCacheScope). Only a job of the same partition reuses it.
  std::string partition;
  int32_t parent = -1;  // slot whose first `shared` cells this one shares; -1 = none
  size_t shared = 0;
  bool waiting = false;       // for the parent to read `shared` tokens of this prompt
  int64_t cached_tokens = 0;  // prompt tokens this job did not read (reused KV)
  bool took_prefix = false;   // took its shared prefix in this step: report its progress
  uint64_t used = 0;          // when it last ran a job (eviction order of warm slots)
};

inline size_t CommonPrefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
  const size_t n = std::min(a.size(), b.size());
  return static_cast<size_t>(std::mismatch(a.begin(), a.begin() + n, b.begin()).first - a.begin());
}

// Shorter common prefixes are not worth a wait for another sequence to read them (every
// prompt starts with the chat template's few tokens).
inline constexpr size_t kMinReusedPrefix = 64;

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace glmq
