// Periodic: a thread of its own that calls `tick` at once and then every `period`, until
// the object is destroyed. The destructor wakes the thread from its wait and joins it, so a
// tick in progress finishes first and none starts after.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace glmq {

class Periodic {
 public:
  Periodic(std::chrono::milliseconds period, std::function<void()> tick);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void Loop();

  const std::chrono::milliseconds period_;
  const std::function<void()> tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;     // last: starts once the rest is ready
};

}  // namespace glmq
