// The documents submitted lately, for the prompt tokens a new job will not read: a question
// on a document another job has read (or reads before it) takes the document's KV from the
// engine's prefix cache, so of its prompt only the question is work. Without this, each of
// five questions queued on one document counts the whole document, and a job behind them is
// told five readings of it where the engine does one (Job::shared_prompt_tokens, which the
// queue's sums of work leave out).
//
// Until a document is read, its questions wait in their sequences for the job reading it
// (they take its KV when it has), so once its jobs hold every sequence, a question on it
// starts no sooner than its reading ends and the first of them has answered: Recall says
// when the reading should end (the first job's wait told, plus reading the document at the
// measured rate), how many jobs of it came meanwhile and the shortest answer they asked for.
//
// A document is a {text, question} request's text, or the messages before a chat's last
// one, within one tenant (the prefix cache keeps tenants apart by default). It knows what
// this process accepted and what the other gateways told it (admission/peer_notes.h, a few
// milliseconds late), and a document read so long ago that the engine has dropped it is
// still remembered for kRememberMs; both make an estimate, not a promise.
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

  struct Recall {
    TimeMs read_at = 0;  // when its first job is expected to have read it
    int32_t jobs = 0;    // jobs of it accepted since its first, before read_at, that one included
    // The least max_tokens of those: once the document is read, the one that ends first.
    int32_t fewest_max_tokens = 0;
    // The first job's slack in the queue's order (sched/policy.h), which its questions take
    // too: they sort right behind it, one after the other, while its KV is there to take,
    // rather than among other documents' questions (whose readings would push it out).
    double slack_seconds = 0;
    // The first job's max_tokens, which that slack is priced with: the settle step of a
    // question on a large document prices its exact size with it too, so the question stays
    // right behind the first job once both are counted (Admission::Settle).
    int32_t first_max_tokens = 0;
    // How far the store moved the first job's order key from the one its slack gives (a
    // kept estimate, PlaceNewJob): its questions' keys move as far, and stay behind it.
    int64_t key_offset_ms = 0;
  };
  // A document a job was accepted with in the last kRememberMs before `now`.
  std::optional<Recall> Seen(Key document, TimeMs now) const;
  // A job with this document and `max_tokens` was accepted at `now`; if it is the first
  // lately, it is expected to have read the document at `read_at`, and sorts with this slack
  // and its key moved by `key_offset_ms`.
  void Note(Key document, TimeMs now, TimeMs read_at, int32_t max_tokens, double slack_seconds,
            int64_t key_offset_ms = 0);

 private:
  struct Entry {
    TimeMs seen_at = 0;
    Recall recall;
  };
  mutable std::mutex mu_;
  std::unordered_map<Key, Entry> entries_;  // guarded by mu_
};

}  // namespace glmq
