#include "support/scratch_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <vector>

namespace glmq {
namespace {

// The directories made so far; its destructor runs at exit, before gtest's own singleton
// goes (that one was made first), so it can ask whether every test passed.
class Registry {
 public:
  void Add(std::string dir) {
    std::lock_guard lock(mu_);
    dirs_.push_back(std::move(dir));
  }
  ~Registry() {
    const char* keep = std::getenv("GLMQ_KEEP_TEST_DIRS");
    const bool failed = ::testing::UnitTest::GetInstance()->Failed();
    for (const std::string& dir : dirs_) {
      if (failed || (keep != nullptr && *keep != '\0')) {
        std::cerr << "test files kept in " << dir << "\n";
        continue;
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::string> dirs_;
};

Registry& Dirs() {
  static Registry registry;
  return registry;
}

}  // namespace

std::string ScratchDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::cerr << "mkdtemp(" << pattern << ") failed: " << std::strerror(errno) << "\n";
    return {};
  }
  std::string dir = buf.data();
  Dirs().Add(dir);
  return dir;
}

}  // namespace glmq
