#include "store/lease_gate.h"

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
      spdlog::info("lease '{}': {}", name,
                   now_leader ? "held by this process, which does its work now"
                              : "no longer held by this process");
    }
    return now_leader;
  };
}

}  // namespace glmq
