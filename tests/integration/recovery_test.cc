// Restarts: accepted jobs survive a crash (SIGKILL) or a graceful stop (SIGTERM) and finish
// after the server comes back on the same data directory.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

constexpr auto kJobTimeout = seconds(60);
// Long enough to be caught mid-run (progress is written about every 0.5 s), short enough
// to run again in a few seconds.
constexpr int kLongMaxTokens = 4000;
constexpr int kShortMaxTokens = 8;

struct Jobs {
  std::string long_id;
  std::vector<std::string> short_ids;
};

// Submits one long job, then (once it runs, so that the order policy cannot put them
// first) two short ones behind it, and waits until the long one has generated tokens.
Jobs SubmitAndCatchMidRun(const Server& server) {
  Jobs jobs;
  jobs.long_id = SubmitJob(server, {{"text", "Recount the history of the city."},
                                    {"max_tokens", kLongMaxTokens},
                                    {"temperature", 0}});
  EXPECT_FALSE(jobs.long_id.empty());
  if (jobs.long_id.empty()) return jobs;
  const json started = WaitForState(server, jobs.long_id, "running", seconds(30));
  EXPECT_EQ(started.value("state", ""), "running") << started;
  for (const char* text : {"Say yes.", "Say no."}) {
    jobs.short_ids.push_back(SubmitJob(server, {{"text", text}, {"max_tokens", kShortMaxTokens}}));
    EXPECT_FALSE(jobs.short_ids.back().empty());
  }
  const json running = WaitForJob(
      server, jobs.long_id,
      [](const json& j) {
        return j.value("state", "") == "running" && j["progress"].value("completion_tokens", 0) > 0;
      },
      seconds(30));
  EXPECT_EQ(running.value("state", ""), "running") << running;
  EXPECT_GT(running["progress"].value("completion_tokens", 0), 0) << running;
  EXPECT_LT(running["progress"].value("completion_tokens", kLongMaxTokens), kLongMaxTokens)
      << running;
  for (const std::string& id : jobs.short_ids) {
    EXPECT_EQ(server.Get("/v1/jobs/" + id).body_json.value("state", ""), "queued") << id;
  }
  return jobs;
}

void ExpectAllSucceed(const Server& server, const Jobs& jobs, int long_attempts) {
  const json long_job = WaitForTerminal(server, jobs.long_id, kJobTimeout);
  EXPECT_EQ(long_job.value("state", ""), "succeeded") << long_job;
  EXPECT_EQ(long_job.value("finish_reason", ""), "length") << long_job;
  EXPECT_EQ(long_job["usage"].value("completion_tokens", 0), kLongMaxTokens) << long_job;
  if (long_attempts > 0) {
    EXPECT_EQ(long_job.value("attempts", 0), long_attempts) << long_job;
  }
  for (const std::string& id : jobs.short_ids) {
    const json short_job = WaitForTerminal(server, id, kJobTimeout);
    EXPECT_EQ(short_job.value("state", ""), "succeeded") << short_job;
    EXPECT_EQ(short_job["usage"].value("completion_tokens", 0), kShortMaxTokens) << short_job;
    EXPECT_EQ(short_job.value("attempts", 0), 1) << short_job;
  }
}

TEST(RecoveryTest, JobsSurviveSigkill) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const Jobs jobs = SubmitAndCatchMidRun(server);
  if (HasFailure()) return;

  const int status = server.Kill(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;
  EXPECT_NE(server.Get("/healthz").status, 200);

  ASSERT_TRUE(server.Restart()) << server.start_error();
  ExpectAllSucceed(server, jobs, /*long_attempts=*/2);
}

TEST(RecoveryTest, JobsSurviveSigterm) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const Jobs jobs = SubmitAndCatchMidRun(server);
  if (HasFailure()) return;

  const int status = server.Kill(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;

  ASSERT_TRUE(server.Restart()) << server.start_error();
  // A graceful stop may or may not count the interrupted run; only completion is promised.
  ExpectAllSucceed(server, jobs, /*long_attempts=*/0);
}

}  // namespace
}  // namespace glmq::integration
