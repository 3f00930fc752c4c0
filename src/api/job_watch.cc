#include "api/job_watch.h"

#include <vector>

namespace glmq {
namespace {

void RingAll(std::vector<std::shared_ptr<JobAlarm>> alarms) {
  for (auto& alarm : alarms) {
    // The alarm belongs to its connection's thread: touch it only there.
    asio::post(alarm->timer.get_executor(), [alarm] { alarm->Ring(); });
  }
}

}  // namespace

uint64_t JobWatchHub::Add(const std::string& id, std::shared_ptr<JobAlarm> alarm) {
  std::lock_guard lock(mu_);
  const uint64_t handle = next_handle_++;
  waiters_[handle] = Waiter{id, std::move(alarm)};
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
  std::vector<std::shared_ptr<JobAlarm>> ring;
  {
    std::lock_guard lock(mu_);
    auto [lo, hi] = by_id_.equal_range(id);
    for (auto it = lo; it != hi; ++it) ring.push_back(waiters_[it->second].alarm);
  }
  RingAll(std::move(ring));
}

void JobWatchHub::Close() {
  std::vector<std::shared_ptr<JobAlarm>> ring;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& [handle, waiter] : waiters_) ring.push_back(waiter.alarm);
  }
  RingAll(std::move(ring));
}

bool JobWatchHub::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

size_t JobWatchHub::size() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

JobWait::JobWait(JobWatchHub& watch, const std::string& id, const asio::any_io_executor& executor,
                 std::chrono::steady_clock::time_point until)
    : watch_(watch), alarm_(std::make_shared<JobAlarm>(executor, until)) {
  handle_ = watch_.Add(id, alarm_);
}

JobWait::~JobWait() { watch_.Remove(handle_); }

asio::awaitable<bool> JobWait::Wait() {
  if (!alarm_->rung) {
    boost::system::error_code ec;
    co_await alarm_->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return alarm_->rung;
}

}  // namespace glmq
