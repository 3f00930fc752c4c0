// JobWatchHub: wakes long-polls and event streams when a job changes state (each rereads
// the job and decides whether to answer).
//
// The store's listener calls Notify() from whatever thread committed the change; each
// waiter is woken on its own connection's strand by cancelling its timer there.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/asio.h"
#include "core/job.h"

namespace glmq {

class JobWatchHub {
 public:
  using Timer = asio::steady_timer;

  // Registers a timer to cancel when `id` changes state. Returns a handle for Remove().
  uint64_t Add(const std::string& id, std::shared_ptr<Timer> timer);
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
    std::shared_ptr<Timer> timer;
  };
  mutable std::mutex mu_;
  bool closed_ = false;
  uint64_t next_handle_ = 1;
  std::map<uint64_t, Waiter> waiters_;
  std::multimap<std::string, uint64_t> by_id_;
};

}  // namespace glmq
