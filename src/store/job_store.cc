#include "store/job_store.h"

#include <spdlog/spdlog.h>

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

}  // namespace glmq
