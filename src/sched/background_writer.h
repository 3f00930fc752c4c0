// BackgroundWriter: store writes the scheduler must not wait for.
//
// Every durable write waits for an fsync (milliseconds). The scheduler thread owns the
// engine, and each millisecond it waits is a millisecond no sequence advances, so progress,
// outcomes and housekeeping go through this one thread instead, in the order they were
// handed over. Progress is advisory and coalesced: only the latest figures of a job are
// written. Claims stay synchronous: the scheduler needs the job.
//
// An outcome is never dropped: when the store refuses its write (disk full, store down),
// the writer keeps it and tries again, waiting 100 ms, doubling up to 5 s, until the store
// takes it or answers that the job is no longer this worker's (its lease ran out and the
// write-once rule decides). Meanwhile the job is listed in HeldOutcomes(), whose leases
// the scheduler keeps renewing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/job_store.h"

namespace glmq {

class BackgroundWriter {
 public:
  // Progress is written as `worker`'s (the store ignores it once another worker holds the job).
  BackgroundWriter(JobStore& store, std::string worker);
  ~BackgroundWriter();  // writes everything handed over, then joins

  void Progress(const std::string& id, const JobProgress& progress);
  void Complete(const std::string& id, const std::string& worker, Completion completion);
  // Any other store work, run in order with the completions.
  void Run(std::function<void()> task);
  // Waits until everything handed over so far is written, or kept for a retry (for
  // shutdown and tests).
  void Flush();
  // Jobs whose outcome is kept because the store refused it; retried until it is taken.
  std::vector<std::string> HeldOutcomes() const;

 private:
  struct Kept {
    std::string worker;
    Completion completion;
    std::chrono::milliseconds backoff{0};
    std::chrono::steady_clock::time_point retry_at;
  };
  static constexpr std::chrono::milliseconds kFirstRetry{100};
  static constexpr std::chrono::milliseconds kLongestRetry{5000};

  void Loop();
  // Writes an outcome; true when it is settled (written, or no longer ours to write).
  bool WriteOutcome(const std::string& id, const std::string& worker, const Completion& completion);
  // Tries the kept outcomes whose time has come (writer thread, without mu_).
  void RetryKept();

  JobStore& store_;
  const std::string worker_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::map<std::string, JobProgress> progress_;
  std::deque<std::function<void()>> tasks_;
  std::map<std::string, Kept> kept_;  // guarded by mu_
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the fields above exist
};

}  // namespace glmq
