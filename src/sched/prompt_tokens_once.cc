#include "sched/prompt_tokens_once.h"

namespace glmq {

PromptTokensOnce::PromptTokensOnce(const Tokenizer& tokenizer, size_t keep_bytes,
                                   std::chrono::steady_clock::duration keep_for)
    : tokenizer_(tokenizer), keep_bytes_(keep_bytes), keep_for_(keep_for) {}

void PromptTokensOnce::Make(const std::shared_ptr<Entry>& entry, const JobRequest& request) {
  Result<PromptTokens> tokens = tokenizer_.TokenizePrompt(request);
  std::lock_guard lock(mu_);
  // The count first: a waiter that only counts reads it while the taker moves the tokens.
  entry->count = tokens.ok() ? Result<int64_t>(static_cast<int64_t>(tokens->size()))
                             : Result<int64_t>(tokens.status());
  entry->tokens = std::move(tokens);
  entry->done = true;
  done_.notify_all();
}

void PromptTokensOnce::Wait(std::unique_lock<std::mutex>& lock, const Entry& entry) {
  done_.wait(lock, [&entry] { return entry.done; });
}

void PromptTokensOnce::Erase(Entries::iterator it) {
  if (it->second->bytes > 0) {
    kept_bytes_ -= it->second->bytes;
    it->second->bytes = 0;
    std::erase_if(kept_order_, [&](const auto& kept) { return kept.first == it->first; });
  }
  entries_.erase(it);
}

void PromptTokensOnce::Expire() {
  const auto now = std::chrono::steady_clock::now();
  while (!kept_order_.empty() && now - kept_order_.front().second > keep_for_) {
    Erase(entries_.find(kept_order_.front().first));
  }
}

Result<int64_t> PromptTokensOnce::CountAndKeep(const std::string& id, const JobRequest& request) {
  std::unique_lock lock(mu_);
  Expire();
  if (auto it = entries_.find(id); it != entries_.end()) {
    const std::shared_ptr<Entry> entry = it->second;
    Wait(lock, *entry);
    return entry->count;
  }
  auto entry = std::make_shared<Entry>();
  entries_[id] = entry;
  lock.unlock();
  Make(entry, request);
  lock.lock();
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second != entry) return entry->count;  // taken meanwhile
  const size_t bytes = entry->tokens.ok() ? entry->tokens->size() * sizeof(int32_t) : 0;
  if (entry->tokens.ok() && kept_bytes_ + bytes <= keep_bytes_) {
    entry->bytes = bytes;
    kept_bytes_ += bytes;
    kept_order_.emplace_back(id, std::chrono::steady_clock::now());
  } else {
    Erase(it);
  }
  return entry->count;
}

void PromptTokensOnce::Forget(const std::string& id) {
  std::lock_guard lock(mu_);
  // An entry being made is left to its maker.
  if (auto it = entries_.find(id); it != entries_.end() && it->second->done) Erase(it);
}

Result<PromptTokens> PromptTokensOnce::Take(const std::string& id, const JobRequest& request,
                                            const std::function<void()>& not_needed) {
  std::unique_lock lock(mu_);
  Expire();
  if (auto it = entries_.find(id); it != entries_.end()) {
    const std::shared_ptr<Entry> entry = it->second;
    Erase(it);  // nobody else takes it, and a settle step still making it keeps nothing
    if (not_needed) {
      lock.unlock();
      not_needed();
      lock.lock();
    }
    Wait(lock, *entry);
    ++taken_;
    return std::move(entry->tokens);
  }
  // Made here: a settle step that comes meanwhile counts these.
  auto entry = std::make_shared<Entry>();
  entries_[id] = entry;
  lock.unlock();
  Make(entry, request);
  lock.lock();
  if (auto it = entries_.find(id); it != entries_.end() && it->second == entry) Erase(it);
  return std::move(entry->tokens);
}

size_t PromptTokensOnce::kept_bytes() const {
  std::lock_guard lock(mu_);
  return kept_bytes_;
}

int64_t PromptTokensOnce::taken() const {
  std::lock_guard lock(mu_);
  return taken_;
}

}  // namespace glmq
