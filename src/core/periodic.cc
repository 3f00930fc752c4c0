#include "core/periodic.h"

#include <utility>

namespace glmq {

Periodic::Periodic(std::chrono::milliseconds period, std::function<void()> tick)
    : period_(period), tick_(std::move(tick)), thread_([this] { Loop(); }) {}

Periodic::~Periodic() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Periodic::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    tick_();
    lock.lock();
    cv_.wait_for(lock, period_, [this] { return stopping_; });
  }
}

}  // namespace glmq
