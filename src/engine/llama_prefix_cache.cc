// LlamaEngine's prefix cache: where a job starts (a warm slot, a running donor, a file on
// disk), the KV accounting that counts a shared prefix once, and trimming slots without
// taking cells from the slots that share them. See Sequence in llama_sequence.h.
#include <spdlog/spdlog.h>

#include "engine/llama_engine.h"
#include "engine/llama_sequence.h"
#include "llama.h"

namespace glmq {

std::string LlamaEngine::PartitionOf(const Job& job) const {
  return scope_ == LlamaEngineOptions::PrefixCacheScope::kGlobal ? std::string() : job.tenant;
}

LlamaEngine::Placement LlamaEngine::Place(const std::string& partition,
                                          const std::vector<llama_token>& tokens) {
  Placement place;
  if (prefix_cache_) {
    // The longest prefix some slot of the same partition holds, or a running one is
    // reading; a warm slot wins a tie (nothing to wait for). The last prompt token is
    // always read, for its logits.
    const size_t most = tokens.size() - 1;
    for (Sequence& s : slots_) {
      if (s.partition != partition) continue;
      const size_t n = std::min(CommonPrefix(s.active ? s.prompt : s.kv, tokens), most);
      if (n < kMinReusedPrefix || n < place.reuse) continue;
      if (n == place.reuse && (s.active || place.donor == nullptr)) continue;
      place.reuse = n;
      place.donor = s.active ? &s : nullptr;
      place.slot = s.active ? nullptr : &s;
    }
  }
  if (place.slot == nullptr) place.slot = IdleSlot();
  return place;
}

LlamaEngine::Sequence* LlamaEngine::IdleSlot() {
  Sequence* slot = nullptr;
  for (Sequence& s : slots_) {
    if (s.active) continue;
    if (slot == nullptr || (!slot->kv.empty() && (s.kv.empty() || s.used < slot->used))) slot = &s;
  }
  return slot;
}

void LlamaEngine::SaveToDisk(const Sequence& seq, const std::string& keep) {
  if (disk_ == nullptr || seq.kv.size() < kMinSavedPrefixTokens) return;
  if (auto covered = disk_->Find(seq.partition, seq.kv, seq.kv.size());
      covered && covered->reuse + kMinSavedPrefixTokens > seq.kv.size()) {
    disk_->Touch(covered->kv_path);  // saved already, but for a tail not worth a file
    return;
  }
  if (static_cast<int64_t>(llama_state_seq_get_size(ctx_, seq.seq_id)) > disk_->max_bytes()) {
    return;  // would be dropped at once
  }
  const auto start = std::chrono::steady_clock::now();
  const std::string path = disk_->PathFor(seq.partition, seq.kv);
  const size_t bytes =
      llama_state_seq_save_file(ctx_, path.c_str(), seq.seq_id, seq.kv.data(), seq.kv.size());
  if (bytes == 0) {
    spdlog::warn("prefix cache: cannot save {} tokens to {}", seq.kv.size(), path);
    return;
  }
  if (const Status s = disk_->Commit(seq.partition, seq.kv, static_cast<int64_t>(bytes), keep);
      !s.ok()) {
    spdlog::warn("prefix cache: {}", s.message());
    return;
  }
  spdlog::info("prefix cache: saved {} tokens ({} KiB) in {:.2f} s", seq.kv.size(), bytes >> 10,
               SecondsSince(start));
}

bool LlamaEngine::LoadFromDisk(Sequence& seq, const PrefixFiles::Match& saved) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<llama_token> tokens(saved.tokens);
  size_t count = 0;
  const size_t bytes = llama_state_seq_load_file(ctx_, saved.kv_path.c_str(), seq.seq_id,
                                                 tokens.data(), tokens.size(), &count);
  if (bytes == 0 || count != saved.tokens) {
    spdlog::warn("prefix cache: {} did not load; reading the prompt instead", saved.kv_path);
    llama_memory_seq_rm(llama_get_memory(ctx_), seq.seq_id, -1, -1);
    disk_->Forget(saved.kv_path);
    return false;
  }
  disk_->Touch(saved.kv_path);
  tokens.resize(count);
  seq.kv = std::move(tokens);
  Truncate(seq, saved.reuse);
  spdlog::debug("prefix cache: loaded {} tokens in {:.2f} s", saved.reuse, SecondsSince(start));
  return true;
}

int64_t LlamaEngine::HeldTokens(const Sequence& seq) const {
  const int64_t own = seq.active ? static_cast<int64_t>(seq.prompt.size()) + seq.max_tokens
                                 : static_cast<int64_t>(seq.kv.size());
  return own - static_cast<int64_t>(seq.shared);
}

int64_t LlamaEngine::UnheldTokens(const Sequence* skip) const {
  int64_t held = 0;
  for (const Sequence& s : slots_) held += &s == skip ? 0 : HeldTokens(s);
  return info_.ctx_size - held;
}

int64_t LlamaEngine::AvailableTokens(const Sequence* admitting) const {
  // How far into each slot's cells a running sequence (or the one being admitted) needs
  // them, through any chain of shares: evicting a warm slot frees only the rest.
  std::vector<size_t> pinned(slots_.size(), 0);
  auto pin = [&](const Sequence& s) {
    size_t len = s.shared;
    for (int32_t p = s.parent, hops = 0;
         p >= 0 && len > 0 && hops < static_cast<int32_t>(slots_.size());
         p = slots_[p].parent, ++hops) {
      pinned[p] = std::max(pinned[p], len);
      len = std::min(len, slots_[p].shared);
    }
  };
  for (const Sequence& s : slots_) {
    if (s.active || &s == admitting) pin(s);
  }
  int64_t evictable = 0;
  for (const Sequence& s : slots_) {
    if (s.active || &s == admitting) continue;
    const size_t keep = std::max(pinned[s.seq_id], s.shared);
    evictable += s.kv.size() > keep ? static_cast<int64_t>(s.kv.size() - keep) : 0;
  }
  return UnheldTokens(admitting) + evictable;
}

void LlamaEngine::Truncate(Sequence& x, size_t keep) {
  // x is not running, so no child waits on it: Finish() gave its waiting followers what it
  // had when it stopped.
  if (keep >= x.kv.size()) return;
  // Cells from `keep` on that children share stay, held from now on by the child that
  // shares the most of them; the other children share theirs from that one.
  Sequence* heir = nullptr;
  for (Sequence& c : slots_) {
    if (c.parent == x.seq_id && c.shared > keep && (heir == nullptr || c.shared > heir->shared))
      heir = &c;
  }
  if (heir != nullptr) {
    for (Sequence& c : slots_) {
      if (&c != heir && c.parent == x.seq_id && c.shared > keep) c.parent = heir->seq_id;
    }
    if (x.shared > keep) {
      // What x kept is its own parent's too; the heir shares as much of that as it can.
      heir->parent = x.parent;
      heir->shared = std::min(heir->shared, x.shared);
    } else {
      heir->parent = keep > 0 ? x.seq_id : -1;
      heir->shared = keep;
    }
  }
  if (!llama_memory_seq_rm(llama_get_memory(ctx_), x.seq_id, static_cast<llama_pos>(keep), -1)) {
    spdlog::error("llama.cpp cannot drop the end of sequence {}'s KV: its memory is not freed",
                  x.seq_id);
  }
  x.kv.resize(keep);
  if (x.shared > keep) {
    x.shared = keep;
    if (keep == 0) x.parent = -1;
  }
}

std::optional<Engine::PrefixWait> LlamaEngine::WaitsForPrefix(const std::string& job_id) const {
  for (const Sequence& seq : slots_) {
    if (!seq.active || seq.job_id != job_id) continue;
    if (!seq.waiting) return std::nullopt;
    return PrefixWait{.donor_job = slots_[seq.parent].job_id,
                      .shared_tokens = static_cast<int64_t>(seq.shared)};
  }
  return std::nullopt;
}

void LlamaEngine::TakeSharedPrefix(Sequence& seq) {
  const Sequence& parent = slots_[seq.parent];
  // All of the promised prefix once the parent has read it; what it has if it stopped early.
  const size_t take = std::min(seq.shared, CommonPrefix(parent.kv, seq.prompt));
  if (take > 0) {
    llama_memory_seq_cp(llama_get_memory(ctx_), parent.seq_id, seq.seq_id, 0,
                        static_cast<llama_pos>(take));
  }
  seq.waiting = false;
  seq.shared = take;
  if (take == 0) seq.parent = -1;
  seq.kv.assign(seq.prompt.begin(), seq.prompt.begin() + static_cast<ptrdiff_t>(take));
  seq.prompt_read = take;
  seq.n_past = static_cast<int32_t>(take);
  seq.cached_tokens = static_cast<int64_t>(take);
  seq.took_prefix = true;
}

}  // namespace glmq
