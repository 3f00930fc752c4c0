// Admission: what happens between a parsed request and a stored job, for every route that
// makes jobs (/v1/jobs, chat completions, the seed API): the prompt's size (counted with
// the model's tokenizer, or estimated for a large text and settled right after the 202),
// the check against the context, the length class, the order key (sched/policy.h), the
// wait estimate, the part of the prompt it will take from a document read for another job
// (document_memory.h), and the insert, batched with the submits that arrive meanwhile.
//
// Threads: Prepare and the Insert* calls from any thread; Prepare and InsertNow block (they
// tokenize and write) and belong on a pool, except where PreparesWithoutBlocking says so.
// The settle step of an estimated job runs on `pool`.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "admission/document_memory.h"
#include "admission/insert_batcher.h"
#include "admission/peer_notes.h"
#include "core/job.h"
#include "core/model_info.h"
#include "core/status.h"
#include "sched/capacity.h"
#include "sched/overtaking.h"
#include "sched/policy.h"
#include "store/job_store.h"

namespace glmq {

class Tokenizer;         // engine/tokenizer.h
class PromptTokensOnce;  // sched/prompt_tokens_once.h

struct AdmissionOptions {
  // Texts up to this size are tokenized before the 202; larger ones are accepted on an
  // estimate and counted right after (tokenizing runs at a few MB/s).
  size_t sync_count_bytes = 256 * 1024;
  // false: this process never tokenizes a submitted text; every job is accepted on the byte
  // estimate, and the worker's count (it tokenizes the prompt to run it) replaces it. What a
  // gateway does by default: tokenizing is most of a submit's CPU.
  bool count_tokens = true;
  // Submit batches written to the store at once (InsertBatcher::Options::in_flight).
  int32_t submit_batches_in_flight = 1;
  // Where the settle step keeps the tokens it made for the scheduler of this process
  // (glmq serve); null: it counts them only.
  PromptTokensOnce* tokens_once = nullptr;
};

class Admission {
 public:
  // A parsed request made ready to insert: counted (or estimated), checked and ordered.
  // What follows a durable insert, decided by Prepare.
  struct AfterInsert {
    bool prompt_tokens_estimated = false;
    bool count_after = false;   // counted exactly once durable (Settle), off the caller's path
    bool note_arrival = false;  // an arrival later jobs' waits foresee (sched/overtaking.h)
    // Its document, which jobs after it will not read again (DocumentMemory), and for the
    // first job of it lately, the seconds reading it takes.
    std::optional<DocumentMemory::Key> document;
    double document_read_seconds = 0;
    // Its slack in the queue's order (sched/policy.h): its own, or for a question on a
    // document accepted lately, the document's first job's.
    double slack_seconds = 0;
    // The max_tokens that slack is priced with (its own, or the document's first job's),
    // with which the settle step prices the exact count.
    int32_t slack_max_tokens = 0;
    // For a question on a document accepted lately, how far the first job's key was moved
    // (DocumentMemory::Recall::key_offset_ms): its own key is moved as far.
    int64_t key_offset_ms = 0;
  };
  struct Prepared {
    JobStore::NewJob job;
    AfterInsert after;
  };
  // How Prepare sizes a prompt: as AdmissionOptions say (counted now, or estimated and
  // counted right after the insert), or estimated only, the engine's count replacing it
  // when the job starts (a batch's lines, whose place in the queue is the batch's).
  enum class Counting { kAsConfigured, kEstimate };
  // A durable job and where it landed.
  struct Accepted {
    Job job;
    int64_t queue_position = 0;
    bool prompt_tokens_estimated = false;
  };

  Admission(JobStore& store, const Tokenizer& tokenizer, const CapacitySource& capacity,
            PolicyOptions policy, AdmissionOptions options, asio::thread_pool& pool);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Told of each accepted job once it is durable (metrics), and that the queue has work
  // (a scheduler in this process). Set before the first submit.
  void SetListeners(std::function<void(const Job&)> on_accepted, std::function<void()> on_queued);

  // Other processes that admit into the same queue (gateways sharing Redis): `tell` gets a
  // line for each job accepted here (admission/peer_notes.h), and NotePeers takes theirs, so
  // the overtaking forecast and the documents seen count the whole queue's submits. Set
  // before the first submit.
  void TellPeers(std::function<void(std::string line)> tell) { tell_peers_ = std::move(tell); }
  // Lines other processes' TellPeers gave; a malformed line is skipped.
  void NotePeers(std::string_view lines);

  // Whether preparing a body of this size does no blocking work (no tokenizing).
  bool PreparesWithoutBlocking(size_t body_bytes) const;

  // Counts tokens (see AdmissionOptions), checks the job can ever run, orders it, and says
  // how its wait follows from the work it will find ahead. kUnprocessable when it can never
  // fit the context.
  Result<Prepared> Prepare(std::string tenant, JobRequest request,
                           Counting counting = Counting::kAsConfigured) const;

  // Inserts in the next shared batch (from a coroutine on any executor).
  asio::awaitable<Result<Accepted>> InsertBatched(Prepared prepared);
  // Inserts on the calling thread, blocking.
  Result<Accepted> InsertNow(Prepared prepared);
  // Inserts all in one store write on the calling thread, blocking: a batch's lines. One
  // result per job, in order; a job refused (an id that exists: kConflict) leaves the others.
  std::vector<Result<Accepted>> InsertMany(std::vector<Prepared> prepared);
  // With an idempotency key: measures the work ahead first, and inserts the job together
  // with `status` and `answer(accepted)` as the key's recorded answer for `ttl_ms`
  // (JobStore::InsertIdempotent).
  Result<Accepted> InsertIdempotent(Prepared prepared, const JobStore::IdempotencyClaim& claim,
                                    int status,
                                    const std::function<std::string(const Accepted&)>& answer,
                                    int64_t ttl_ms);

  // A queued job's estimated wait as it stands now (the one it was given at submit time is
  // its estimated_wait_seconds). Blocks on the store.
  Result<double> CurrentWaitSeconds(const Job& job) const;
  // The wait of a job with nothing queued ahead of it.
  double WaitWithNothingAhead() const;
  // How long `work` takes to go through the engines, at the rates measured now.
  double SecondsFor(const JobStore::WorkAhead& work) const {
    return CurrentWaitModel().Seconds(work.prompt_tokens, work.max_tokens);
  }

  // The model jobs run on, and the context of its engines.
  const ModelInfo& model() const;
  const CapacitySource& capacity() const { return capacity_; }
  const PolicyOptions& policy() const { return policy_; }

 private:
  WaitModel CurrentWaitModel() const;
  // Notes a prompt's size for the typical size of queued prompts (size-weighted).
  void NotePromptSize(int64_t prompt_tokens) const;
  double TypicalPromptTokens() const;
  // `promised_ms`: how far the store moved its order key (later for the wait ahead of it
  // under promised order, earlier to a kept estimate), which the settle step keeps.
  Accepted Accept(Job job, int64_t position, AfterInsert after, int64_t promised_ms);
  // Notes an accepted job, this process's or a peer's, for later forecasts and documents.
  void Remember(const PeerNote& note);
  // Counts a large document's tokens after its 202 and records the exact figure, or fails
  // the job if it can never fit. A job the engine claims first is counted there anyway. Its
  // order key is priced anew from the exact count and `slack_max_tokens` (AfterInsert), and
  // moved by `moved_ms` as the store (or its document's first job) moved it.
  void Settle(const Job& job, int64_t moved_ms, int32_t slack_max_tokens) const;

  JobStore& store_;
  const Tokenizer& tokenizer_;
  const CapacitySource& capacity_;
  const PolicyOptions policy_;
  const AdmissionOptions options_;
  asio::thread_pool& pool_;
  InsertBatcher inserts_;
  std::function<void(const Job&)> on_accepted_;
  std::function<void()> on_queued_;
  std::function<void(std::string)> tell_peers_;
  // Exponentially weighted means of submitted prompts' sizes and squared sizes.
  mutable std::mutex sizes_mu_;
  mutable double mean_prompt_ = 0;
  mutable double mean_prompt_squared_ = 0;
  // The jobs submitted lately, for the overtaking a new job's wait foresees.
  ArrivalWindow arrivals_;
  // Their documents, for the prompt tokens a job takes from another's reading.
  DocumentMemory documents_;
};

}  // namespace glmq
