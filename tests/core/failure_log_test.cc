#include "core/failure_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <memory>
#include <string>
#include <vector>

namespace glmq {
namespace {

// Makes the default logger write into a ring buffer for the test's lifetime.
class CapturedLog {
 public:
  CapturedLog()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100)),
        previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("captured", sink_);
    logger->set_level(spdlog::level::trace);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::vector<std::string> Lines() { return sink_->last_formatted(); }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(FailureLogTest, AnOutageIsSaidWhenItStartsOnceAMinuteAndWhenItEnds) {
  CapturedLog captured;
  FailureLog log("claiming a job", spdlog::level::err, std::chrono::minutes(1));
  const Status down = Unavailable("redis: cannot connect");
  log.Record(Status::Ok(), 0);
  EXPECT_TRUE(captured.Lines().empty()) << "success alone says nothing";
  // One attempt a second for 150 s: the first failure, then a line at 60 s and at 120 s.
  for (TimeMs t = 1'000; t <= 150'000; t += 1'000) log.Record(down, t);
  log.Record(Status::Ok(), 151'000);
  log.Record(Status::Ok(), 152'000);
  const std::vector<std::string> lines = captured.Lines();
  ASSERT_EQ(lines.size(), 4u) << ::testing::PrintToString(lines);
  EXPECT_NE(lines[0].find("error claiming a job failed: unavailable: redis: cannot connect"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("still failing for 60 s (60 more failed attempts)"), std::string::npos)
      << lines[1];
  EXPECT_NE(lines[2].find("still failing for 120 s (60 more failed attempts)"), std::string::npos)
      << lines[2];
  EXPECT_NE(lines[3].find("info claiming a job works again, after 150.0 s and 150 failed attempts"),
            std::string::npos)
      << lines[3];
  // The next outage starts afresh.
  log.Record(down, 200'000);
  ASSERT_EQ(captured.Lines().size(), 5u);
  EXPECT_NE(captured.Lines()[4].find("claiming a job failed"), std::string::npos);
}

}  // namespace
}  // namespace glmq
