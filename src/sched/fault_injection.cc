#include "sched/fault_injection.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
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

std::unique_ptr<Periodic> StoreFaultFromEnvironment(std::function<void(bool)> set_fault) {
  const char* path = std::getenv("GLMQ_FAULT_STORE_FILE");
  if (path == nullptr || *path == '\0') return nullptr;
  spdlog::warn("fault injection on: the store refuses writes while {} exists", path);
  return std::make_unique<Periodic>(
      std::chrono::milliseconds(100),
      [file = std::string(path), set_fault = std::move(set_fault), on = false]() mutable {
        std::error_code ec;
        const bool exists = std::filesystem::exists(file, ec);
        if (exists == on) return;
        on = exists;
        spdlog::warn("fault injection: the store {} writes", on ? "refuses" : "takes");
        set_fault(on);
      });
}

}  // namespace glmq
