// The documents submitted lately, for the prompt tokens a new job will not read: a question
// on a document another job has read (or reads before it) takes the document's KV from the
// engine's prefix cache, so of its prompt only the question is work. Without this, each of
// five questions queued on one document counts the whole document, and a job behind them is
// told five readings of it where the engine does one (Job::shared_prompt_tokens, which the
// queue's sums of work leave out).
//
// A document is a {text, question} request's text, or the messages before a chat's last
// one, within one tenant (the prefix cache keeps tenants apart by default). What this
// process accepted is all it knows: a gateway among several knows its own submits, and a
// document read so long ago that the engine has dropped it is still remembered for
// kRememberMs; both make an estimate, not a promise.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/job.h"

namespace glmq {

class DocumentMemory {
 public:
  static constexpr int64_t kRememberMs = 10 * 60 * 1000;
  static constexpr size_t kMaxDocuments = 4096;
  // Shorter shared parts are not worth the engine's reuse (its kMinReusedPrefix).
  static constexpr int64_t kMinSharedTokens = 64;

  // Which document a request asks about; unset when it has none.
  using Key = uint64_t;
  static std::optional<Key> DocumentOf(const std::string& tenant, const JobRequest& request);

  // Of a prompt of `prompt_tokens` for `request`, the tokens its document takes (its share
  // of the request's bytes; the last prompt token is always read): what a job would take
  // from another's reading of the document. 0 when it has none or it is short.
  static int64_t DocumentTokens(const JobRequest& request, int64_t prompt_tokens);

  // Whether a job with this document was accepted in the last kRememberMs before `now`.
  bool Seen(Key document, TimeMs now) const;
  // A job with this document was accepted at `now`.
  void Note(Key document, TimeMs now);

 private:
  mutable std::mutex mu_;
  std::unordered_map<Key, TimeMs> seen_at_;  // guarded by mu_
};

}  // namespace glmq
