#include "alert/leader.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

namespace glmq {

std::function<bool()> LeaseGate(JobStore& store, std::string name, std::string holder,
                                int64_t lease_ms) {
  auto leader = std::make_shared<std::atomic<bool>>(false);
  return [&store, leader, name = std::move(name), holder = std::move(holder), lease_ms] {
    auto held = store.AcquireLease(name, holder, NowMs(), lease_ms);
    const bool now_leader = held.ok() && *held;
    if (now_leader != leader->exchange(now_leader)) {
      spdlog::info("alerts: {} the evaluator", now_leader ? "this process is now" : "no longer");
    }
    return now_leader;
  };
}

}  // namespace glmq
