#include "store/job_store.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <exception>

namespace glmq {

void TellListener(const JobListener& listener, const std::string& id, JobState state,
                  ChangeOrigin origin) {
  if (!listener) return;
  try {
    listener(id, state, origin);
  } catch (const std::exception& e) {
    spdlog::error("job listener threw on {} -> {}: {}", id, JobStateName(state), e.what());
  } catch (...) {
    spdlog::error("job listener threw on {} -> {}", id, JobStateName(state));
  }
}

Promise PromisedOrderKey(int64_t base_key, const WaitModel& wait,
                         const std::function<JobStore::WorkAhead(int64_t)>& work_before) {
  Promise p;
  const auto measure = [&](int64_t key) {
    p.order_key = key;
    p.ahead = work_before(key);
    p.wait_seconds = wait.Seconds(p.ahead.prompt_tokens, p.ahead.max_tokens);
  };
  measure(base_key);
  for (int round = 1; round < kPromiseRounds; ++round) {
    const int64_t next = base_key + std::llround(1000.0 * p.wait_seconds);
    if (next <= p.order_key) break;
    measure(next);
  }
  return p;
}

}  // namespace glmq
