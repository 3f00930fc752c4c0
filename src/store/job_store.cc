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

NewJobPlace PlaceNewJob(int64_t given_key, const WaitModel& wait,
                        std::optional<double> slack_seconds,
                        const std::function<JobStore::WorkAhead(int64_t)>& work_before,
                        std::optional<double> kept_slack_seconds) {
  NewJobPlace place;
  double wait_seconds = 0;
  const auto measure = [&](int64_t key) {
    place.order_key = key;
    place.ahead = work_before(key);
    wait_seconds = wait.Seconds(place.ahead.prompt_tokens, place.ahead.max_tokens);
  };
  measure(given_key);
  if (!slack_seconds) {
    place.estimated_wait_seconds = wait.Told(place.ahead.prompt_tokens, place.ahead.max_tokens);
    if (!kept_slack_seconds) return place;
    // Its arrival, less what its priority is worth.
    const int64_t arrival = given_key - std::llround(1000.0 * *kept_slack_seconds);
    for (int round = 1; round < kPromiseRounds; ++round) {
      const int64_t next = arrival + std::llround(1000.0 * place.estimated_wait_seconds);
      if (next >= place.order_key) break;
      measure(next);
      place.estimated_wait_seconds = wait.Told(place.ahead.prompt_tokens, place.ahead.max_tokens);
    }
    return place;
  }
  for (int round = 1; round < kPromiseRounds; ++round) {
    const int64_t next = given_key + std::llround(1000.0 * wait_seconds);
    if (next <= place.order_key) break;
    measure(next);
  }
  place.estimated_wait_seconds = wait_seconds + *slack_seconds / 2;
  return place;
}

}  // namespace glmq
