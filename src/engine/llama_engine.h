// LlamaEngine: llama.cpp in process. Many sequences share one context and its KV cache;
// each Step() carries one token for every generating sequence and fills the rest of the
// batch with prompt chunks (chunked prefill).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/llama_options.h"
#include "engine/llama_tokenizer.h"
#include "engine/prefix_files.h"

struct llama_model;
struct llama_context;
struct llama_sampler;
struct ggml_threadpool;
struct llama_batch;

namespace glmq {

// Shorter prefixes are not worth a file.
inline constexpr size_t kMinSavedPrefixTokens = 512;

class LlamaEngine final : public Engine {
 public:
  static Result<std::unique_ptr<LlamaEngine>> Load(const LlamaEngineOptions& options);
  ~LlamaEngine() override;

  const ModelInfo& info() const override { return info_; }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  int32_t FreeSlots() const override;
  int64_t FreeKvTokens() const override;
  int32_t ActiveSequences() const override;
  Status Admit(const Job& job, PromptTokens& prompt) override;
  void Stop(const std::string& id, JobState state) override;
  using Engine::Step;
  StepReport Step(const StepHints& hints) override;
  TimeMs alive_at() const override { return alive_at_.load(std::memory_order_relaxed); }
  TimeMs step_ends_at() const override { return step_ends_at_.load(std::memory_order_relaxed); }
  StepCosts step_costs() const override {
    return {prefill_token_seconds_, decode_step_seconds_, step_target_seconds_, info_.batch_size};
  }
  std::optional<PrefixWait> WaitsForPrefix(const std::string& job_id) const override;

 private:
  struct Sequence;

  LlamaEngine() = default;
  // Returns true when the sequence ended with this token.
  bool AcceptToken(Sequence& seq, int32_t token);
  // Ends the job in `seq`. Its KV stays in the slot for reuse when the prefix cache is on
  // and `keep_kv` (not after a failed decode).
  void Finish(Sequence& seq, Completion completion, std::vector<StepReport::Finished>& finished,
              bool keep_kv = true);
  // Ends a sequence as cancelled or expired; the next Step() reports it.
  void StopSequence(Sequence& seq, JobState state);
  Completion Outcome(const Sequence& seq, JobState state, std::string finish_reason) const;
  void RecordStepCost(double seconds, int32_t prompt_tokens, int32_t generating);
  int32_t PrefillBudget(int32_t generating, bool bound_prefill_steps) const;

  // Prefix reuse. A slot's KV cells are its own, or shared with its parent slot (the first
  // `shared` positions); see the comment above Sequence in the .cc.
  // KV tokens a slot holds that no other slot accounts for (all it will ever need, if running).
  int64_t HeldTokens(const Sequence& seq) const;
  // KV tokens no slot other than `skip` holds.
  int64_t UnheldTokens(const Sequence* skip) const;
  // Those, plus what evicting warm slots would free, for a job about to start in `admitting`
  // (whose shared prefix stays).
  int64_t AvailableTokens(const Sequence* admitting) const;
  // Drops the slot's cells from position `keep` on; cells its children share stay theirs.
  void Truncate(Sequence& seq, size_t keep);
  // A sequence waiting for its parent to read a shared prefix takes what the parent has.
  void TakeSharedPrefix(Sequence& seq);
  // Finds where `tokens` can start: the slot to run in and how many tokens it need not read.
  struct Placement {
    Sequence* slot = nullptr;
    Sequence* donor = nullptr;  // a running slot to share with (else the cells are the slot's)
    size_t reuse = 0;
  };
  Placement Place(const std::string& partition, const std::vector<int32_t>& tokens);
  // The prefix cache partition of a job (its tenant, or "" when the cache is shared).
  std::string PartitionOf(const Job& job) const;
  // A slot that holds nothing, else the warm one used longest ago; null if all run.
  Sequence* IdleSlot();
  // Disk tier: writes a warm slot's KV (if long enough and not saved already); loads a saved
  // prefix into an empty slot and keeps its first `reuse` tokens (false if it would not load).
  // `keep`: an entry about to be loaded, which the save must not push out.
  void SaveToDisk(const Sequence& seq, const std::string& keep = {});
  bool LoadFromDisk(Sequence& seq, const PrefixFiles::Match& saved);

  ModelInfo info_;
  // The model and its vocabulary; the context below runs on it. Freed after the context.
  std::unique_ptr<LlamaTokenizer> tokenizer_;
  llama_context* ctx_ = nullptr;
  ggml_threadpool* threadpool_ = nullptr;  // attached to ctx_, freed after it
  std::atomic<TimeMs> alive_at_{0};        // set between graph nodes by the abort callback
  std::atomic<TimeMs> step_ends_at_{0};    // set around each llama_decode
  std::vector<Sequence> slots_;
  std::unique_ptr<llama_batch> batch_;  // filled again by every Step()
  uint64_t admitted_ = 0;  // admission counter: prefill goes to the oldest sequence first
  std::vector<StepReport::Finished> stopped_;  // ended by Stop(), reported by the next Step()
  double step_target_seconds_ = 0;
  double prefill_token_seconds_ = 0;  // measured cost of reading one prompt token
  double decode_step_seconds_ = 0;    // measured cost of a step without prompt tokens
  bool prefix_cache_ = true;
  LlamaEngineOptions::PrefixCacheScope scope_ = LlamaEngineOptions::PrefixCacheScope::kTenant;
  std::unique_ptr<PrefixFiles> disk_;  // null: no disk tier
  uint64_t used_ = 0;  // clock of slot use: the warm slot used longest ago is evicted first
};

}  // namespace glmq
