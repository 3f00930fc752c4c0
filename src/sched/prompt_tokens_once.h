// PromptTokensOnce: a large prompt tokenized once per process. Admission's settle step
// tokenizes a document right after its 202 to count it; the scheduler of the same process
// (glmq serve) claims the job and takes those tokens instead of making them again: a 10 MB
// document costs about three seconds of a core to tokenize, and its tokens twice its size
// in memory, which two tokenizers at once would double.
//
// Tokens made by the settle step are kept for the scheduler within a budget of bytes (those
// that do not fit are not kept: the jobs made first are claimed first) and for at most
// `keep_for` (a job cancelled while queued is never claimed); the scheduler tokenizes what
// was not kept, as without this. Whoever
// comes second waits for the first: a claim that finds the settle step tokenizing waits for
// its tokens, and a settle step that finds the scheduler tokenizing counts theirs.
//
// Threads: any; the waits block, so neither belongs on an io thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "engine/tokenizer.h"

namespace glmq {

class PromptTokensOnce {
 public:
  PromptTokensOnce(const Tokenizer& tokenizer, size_t keep_bytes,
                   std::chrono::steady_clock::duration keep_for = std::chrono::minutes(30));
  PromptTokensOnce(const PromptTokensOnce&) = delete;
  PromptTokensOnce& operator=(const PromptTokensOnce&) = delete;

  // The token count of job `id`'s prompt (`request`), its tokens kept for Take when they
  // fit the budget. If they are being made already, waits and counts those.
  Result<int64_t> CountAndKeep(const std::string& id, const JobRequest& request);
  // Drops what is kept for `id` (its job ended before a claim).
  void Forget(const std::string& id);
  // The prompt's tokens: those kept or being made for `id` (waiting for them), else made
  // now. Whatever was kept for `id` leaves the budget. `not_needed` is called when the
  // tokens come from elsewhere, before any wait: `request` is not read after it (the
  // scheduler frees the document it holds there).
  Result<PromptTokens> Take(const std::string& id, const JobRequest& request,
                            const std::function<void()>& not_needed = nullptr);

  // Bytes of tokens kept now, and how many jobs' tokens were taken from the keep.
  size_t kept_bytes() const;
  int64_t taken() const;

 private:
  struct Entry {
    bool done = false;
    Result<PromptTokens> tokens = PromptTokens();
    Result<int64_t> count = int64_t{0};
    size_t bytes = 0;  // counted in kept_bytes_
  };
  using Entries = std::map<std::string, std::shared_ptr<Entry>>;

  // Makes the tokens into `entry` and wakes its waiters.
  void Make(const std::shared_ptr<Entry>& entry, const JobRequest& request);
  // Waits until `entry` is done. `lock` holds mu_.
  void Wait(std::unique_lock<std::mutex>& lock, const Entry& entry);
  // Drops tokens kept longer than keep_for_. Holds mu_.
  void Expire();
  // Removes the entry, and its tokens from the keep. Holds mu_.
  void Erase(Entries::iterator it);

  const Tokenizer& tokenizer_;
  const size_t keep_bytes_;
  const std::chrono::steady_clock::duration keep_for_;
  mutable std::mutex mu_;
  std::condition_variable done_;
  Entries entries_;
  // Ids with kept tokens and when they were kept, oldest first.
  std::list<std::pair<std::string, std::chrono::steady_clock::time_point>> kept_order_;
  size_t kept_bytes_ = 0;
  int64_t taken_ = 0;
};

}  // namespace glmq
