// BatchRunner: takes each batch through its life (batch/batch.h). It reads and checks the
// input file, turns the lines into jobs of the batch's tenant in a tier below interactive
// work (admission/), gathers each job's outcome into its line once, expires or cancels what
// is left when it must, and writes the output and error files at the end.
//
// Every step is resumable: a runner that starts after a crash picks each active batch up
// where its records say it was. A line's job has an id derived from the batch and the line
// (BatchLineJobId), so submitting a line twice finds the job already there; a line's result
// is written once (BatchStore::SetResult).
//
// Threads: its own, one round every `period` (or at Wake); RunOnce for tests. Where several
// processes share the stores, one runs the rounds at a time (SetGate); the others keep only
// the metrics current.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "admission/admission.h"
#include "batch/batch_codec.h"
#include "batch/batch_store.h"
#include "files/file_store.h"
#include "store/job_store.h"

namespace glmq {

struct BatchRunnerOptions {
  int64_t max_lines = 50'000;
  // A longer line fails its batch (line_too_large) and is never held whole: a request
  // body's limit (--max-body-bytes), as a submit has.
  size_t max_line_bytes = 64u << 20;
  // A batch whose requests (prompt and max_tokens, estimated) with the tenant's queued work
  // come to more fails with token_limit_exceeded before a line runs (0: no limit), as
  // OpenAI's limit on a project's enqueued batch tokens.
  int64_t max_queued_tokens = 0;
  // A tenant's own limit in place of max_queued_tokens (a keys file's
  // batch_max_queued_tokens=); empty: max_queued_tokens for every tenant.
  std::function<int64_t(const std::string& tenant)> max_queued_tokens_of;
  // Lines checked for an outcome per batch per round.
  int32_t lines_per_round = 2'000;
  // Lines made into jobs per store write.
  int32_t submit_chunk = 5000;
  std::chrono::milliseconds period{500};
  // Output and error files are kept this long (0: until deleted).
  int64_t output_retention_ms = 30ll * 24 * 3600 * 1000;
};

// What the runner tells the metrics: the batches in each status after every round, and each
// request as its outcome is recorded (succeeded, failed, refused, expired, cancelled).
struct BatchEvents {
  std::function<void(const std::map<BatchStatus, int64_t>&)> statuses;
  std::function<void(const char* outcome)> request_ended;
};

class BatchRunner {
 public:
  BatchRunner(BatchStore& batches, FileStore& files, JobStore& jobs, Admission& admission,
              const BatchCodec& codec, BatchRunnerOptions options);
  ~BatchRunner();
  BatchRunner(const BatchRunner&) = delete;
  BatchRunner& operator=(const BatchRunner&) = delete;

  // Before Start.
  void SetEvents(BatchEvents events) { events_ = std::move(events); }
  // Before Start: rounds run only while `gate` says so (distributed mode: the holder of the
  // "batches" lease, so that one runner among the gateways moves each batch on). Without
  // one, every round runs.
  void SetGate(std::function<bool()> gate) { gate_ = std::move(gate); }
  void Start();
  void Stop();
  // A round now (a batch was created or cancelled).
  void Wake();
  // One round over every active batch.
  void RunOnce();

  // How long the batch's requests take at the rates measured now, and where its lines go in
  // the queue: behind interactive work while the window allows (see BatchOrderKey).
  double PredictedSeconds(const JobStore::WorkAhead& work) const {
    return admission_.SecondsFor(work);
  }

 private:
  void Loop();
  // Every active batch one step on.
  void Round();
  Status Advance(Batch& batch);
  // validating -> in_progress (or failed, or cancelled when cancelled meanwhile).
  Status Validate(Batch& batch);
  // in_progress / cancelling: outcomes gathered, expiry and cancel applied.
  Status Gather(Batch& batch);
  // finalizing -> completed | expired | cancelled, with the output and error files.
  Status Finalize(Batch& batch);
  // Deletes the tenant's output and error files named for `batch` that it does not name.
  Status RemoveUnrecordedFiles(const Batch& batch);
  Status Move(Batch& batch, BatchStatus to);
  // Sets estimated_finish_at from the work queued before the batch's last line.
  Status Estimate(Batch& batch);
  // Why the tenant's queued tokens and the batch's (`work`, estimated) would be more than
  // `limit`; nullopt when they are not.
  Result<std::optional<std::string>> OverQueuedTokens(const Batch& batch,
                                                      const JobStore::WorkAhead& work,
                                                      int64_t limit);
  void Ended(const char* outcome) const {
    if (events_.request_ended) events_.request_ended(outcome);
  }

  BatchStore& batches_;
  FileStore& files_;
  JobStore& jobs_;
  Admission& admission_;
  const BatchCodec& codec_;
  const BatchRunnerOptions options_;
  BatchEvents events_;
  std::function<bool()> gate_;

  std::map<std::string, int64_t> cursor_;       // per batch: the last line checked
  std::map<std::string, TimeMs> estimated_at_;  // per batch: when its estimate was written
  std::set<std::string> fresh_finalizing_;      // moved to finalizing here, not yet tried
  bool more_now_ = false;  // a round left work a next one can do at once (only thread_)
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

// Where a batch's lines go in the queue: after the interactive work that arrives while the
// window leaves time to spare, then ahead of it. `window_ms` the completion window,
// `predicted_ms` how long its requests take at the measured rates: a line's key is its
// batch's creation plus the part of the window it may wait, which is half the window, or
// less when the batch needs more than half of it, and never less than nothing.
int64_t BatchOrderKey(TimeMs created_at, int64_t window_ms, int64_t predicted_ms, int64_t rank);

}  // namespace glmq
