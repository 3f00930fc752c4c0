// BackgroundWriter: store writes the scheduler must not wait for.
//
// Every durable write waits for an fsync (milliseconds). The scheduler thread owns the
// engine, and each millisecond it waits is a millisecond no sequence advances, so progress,
// outcomes and housekeeping go through this one thread instead, in the order they were
// handed over. Progress is advisory and coalesced: only the latest figures of a job are
// written. Claims stay synchronous: the scheduler needs the job.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

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
  // Waits until everything handed over so far is written (for shutdown and tests).
  void Flush();

 private:
  void Loop();

  JobStore& store_;
  const std::string worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::map<std::string, JobProgress> progress_;
  std::deque<std::function<void()>> tasks_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the fields above exist
};

}  // namespace glmq
