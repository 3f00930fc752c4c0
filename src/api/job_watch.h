// JobWatchHub: wakes long-polls and event streams when a job changes state (each rereads
// the job and decides whether to answer).
//
// The store's listener calls Notify() from whatever thread committed the change; each
// waiter is woken on its own connection's thread (its io_context runs on one thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/asio.h"
#include "core/job.h"

namespace glmq {

// One waiter's alarm: a timer set to its deadline, and a flag that says it was woken. The
// flag keeps a wake-up that arrives before the waiter starts waiting (while it reads the
// job) from being lost: cancelling a timer nobody waits on does nothing. Both are touched
// only on the waiter's executor.
struct JobAlarm {
  JobAlarm(const asio::any_io_executor& executor, std::chrono::steady_clock::time_point until)
      : timer(executor, until) {}
  void Ring() {
    rung = true;
    timer.cancel();
  }
  asio::steady_timer timer;
  bool rung = false;
};

class JobWatchHub {
 public:
  // Registers an alarm to ring when `id` changes state. Returns a handle for Remove().
  uint64_t Add(const std::string& id, std::shared_ptr<JobAlarm> alarm);
  void Remove(uint64_t handle);
  void Notify(const std::string& id, JobState state);
  // The server is draining: wakes every waiter now, and long-polls answer at once from now
  // on (with the job as it is), so that they do not hold the shutdown.
  void Close();
  bool closed() const;
  size_t size() const;

 private:
  struct Waiter {
    std::string id;
    std::shared_ptr<JobAlarm> alarm;
  };
  mutable std::mutex mu_;
  bool closed_ = false;
  uint64_t next_handle_ = 1;
  std::map<uint64_t, Waiter> waiters_;
  std::multimap<std::string, uint64_t> by_id_;
};

// Watches one job from its construction until `until`: register first, then read the job,
// then Wait(), so that a change made after the read is never missed.
class JobWait {
 public:
  JobWait(JobWatchHub& watch, const std::string& id, const asio::any_io_executor& executor,
          std::chrono::steady_clock::time_point until);
  ~JobWait();
  JobWait(const JobWait&) = delete;
  JobWait& operator=(const JobWait&) = delete;

  // True when the job changed since construction (at once if it already has), false when
  // the time ran out.
  asio::awaitable<bool> Wait();

 private:
  JobWatchHub& watch_;
  std::shared_ptr<JobAlarm> alarm_;
  uint64_t handle_ = 0;
};

}  // namespace glmq
