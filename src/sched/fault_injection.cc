#include "sched/fault_injection.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

namespace glmq {

std::function<void(const Job&)> CrashOnTextFromEnvironment() {
  const char* marker = std::getenv("GLMQ_FAULT_CRASH_ON_TEXT");
  if (marker == nullptr || *marker == '\0') return nullptr;
  spdlog::warn("fault injection on: jobs whose text contains '{}' crash this worker", marker);
  return [m = std::string(marker)](const Job& job) {
    if (job.request.text.find(m) != std::string::npos) {
      spdlog::critical("fault injection: crashing on job {}", job.id);
      std::abort();
    }
  };
}

}  // namespace glmq
