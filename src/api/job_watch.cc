#include "api/job_watch.h"

#include <vector>

namespace glmq {

uint64_t JobWatchHub::Add(const std::string& id, std::shared_ptr<Timer> timer) {
  std::lock_guard lock(mu_);
  const uint64_t handle = next_handle_++;
  waiters_[handle] = Waiter{id, std::move(timer)};
  by_id_.emplace(id, handle);
  return handle;
}

void JobWatchHub::Remove(uint64_t handle) {
  std::lock_guard lock(mu_);
  auto it = waiters_.find(handle);
  if (it == waiters_.end()) return;
  auto [lo, hi] = by_id_.equal_range(it->second.id);
  for (auto b = lo; b != hi; ++b) {
    if (b->second == handle) {
      by_id_.erase(b);
      break;
    }
  }
  waiters_.erase(it);
}

void JobWatchHub::Notify(const std::string& id, JobState /*state*/) {
  std::vector<std::shared_ptr<Timer>> wake;
  {
    std::lock_guard lock(mu_);
    auto [lo, hi] = by_id_.equal_range(id);
    for (auto it = lo; it != hi; ++it) wake.push_back(waiters_[it->second].timer);
  }
  for (auto& timer : wake) {
    // The timer belongs to its connection's strand: touch it only there.
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }
}

void JobWatchHub::Close() {
  std::vector<std::shared_ptr<Timer>> wake;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& [handle, waiter] : waiters_) wake.push_back(waiter.timer);
  }
  for (auto& timer : wake) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

bool JobWatchHub::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

size_t JobWatchHub::size() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace glmq
