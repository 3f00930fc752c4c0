// Ending jobs early: DELETE of queued and running jobs, and deadlines that pass in the queue.
#include <gtest/gtest.h>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

constexpr auto kJobTimeout = seconds(30);
// Long enough to run for many seconds on the test model, so it is surely still running.
constexpr int kLongMaxTokens = 20000;

const json kLongJob = {{"text", "Write a long essay about the sea."},
                       {"max_tokens", kLongMaxTokens},
                       {"temperature", 0}};
const json kShortJob = {{"text", "Name a colour."}, {"max_tokens", 8}, {"temperature", 0}};

// Starts the long job on `server` and waits until it is running.
std::string StartLongJob(const Server& server) {
  const std::string id = SubmitJob(server, kLongJob);
  EXPECT_FALSE(id.empty());
  if (id.empty()) return id;
  const json running = WaitForState(server, id, "running", kJobTimeout);
  EXPECT_EQ(running.value("state", ""), "running") << running;
  return id;
}

TEST(CancelTest, QueuedAndRunningJobsAreCancelled) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string long_id = StartLongJob(server);
  ASSERT_FALSE(long_id.empty());
  if (HasFailure()) return;

  const std::string queued_id = SubmitJob(server, kShortJob);
  ASSERT_FALSE(queued_id.empty());
  HttpResult cancel_queued = server.Delete("/v1/jobs/" + queued_id);
  ASSERT_EQ(cancel_queued.status, 200) << cancel_queued.Describe();
  EXPECT_EQ(cancel_queued.body_json.value("id", ""), queued_id);
  EXPECT_EQ(cancel_queued.body_json.value("state", ""), "cancelled") << cancel_queued.body;

  const auto cancel_sent = Clock::now();
  HttpResult cancel_running = server.Delete("/v1/jobs/" + long_id);
  ASSERT_EQ(cancel_running.status, 200) << cancel_running.Describe();
  EXPECT_EQ(cancel_running.body_json.value("id", ""), long_id);
  const json ended = WaitForTerminal(server, long_id, seconds(10));
  const double seconds_to_end = std::chrono::duration<double>(Clock::now() - cancel_sent).count();
  ASSERT_EQ(ended.value("state", ""), "cancelled") << ended;
  EXPECT_LT(seconds_to_end, 5.0);
  EXPECT_EQ(ended.value("cancel_requested", false), true) << ended;
  const int64_t generated = ended["usage"].value("completion_tokens", int64_t{-1});
  EXPECT_GT(generated, 0) << ended;
  EXPECT_LT(generated, kLongMaxTokens) << ended;

  // The cancelled queued job never ran.
  HttpResult queued = server.Get("/v1/jobs/" + queued_id);
  ASSERT_EQ(queued.status, 200) << queued.Describe();
  EXPECT_EQ(queued.body_json.value("state", ""), "cancelled");
  EXPECT_EQ(queued.body_json.value("attempts", -1), 0) << queued.body;
  EXPECT_TRUE(queued.body_json["started_at"].is_null()) << queued.body;

  // The sequence is free again: a new job runs to the end.
  const std::string third_id = SubmitJob(server, kShortJob);
  ASSERT_FALSE(third_id.empty());
  const json third = WaitForTerminal(server, third_id, kJobTimeout);
  EXPECT_EQ(third.value("state", ""), "succeeded") << third;
  EXPECT_EQ(third["usage"].value("completion_tokens", 0), 8) << third;

  // Finished jobs cannot be cancelled; unknown ones are not found.
  HttpResult finished = server.Delete("/v1/jobs/" + third_id);
  EXPECT_EQ(finished.status, 409) << finished.Describe();
  EXPECT_TRUE(IsErrorBody(finished)) << finished.body;
  EXPECT_EQ(server.Get("/v1/jobs/" + third_id).body_json.value("state", ""), "succeeded");
  HttpResult unknown = server.Delete("/v1/jobs/job_000000000000000000000000");
  EXPECT_EQ(unknown.status, 404) << unknown.Describe();
  EXPECT_TRUE(IsErrorBody(unknown)) << unknown.body;
}

TEST(TimeoutTest, QueuedJobExpiresBehindLongJob) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string long_id = StartLongJob(server);
  ASSERT_FALSE(long_id.empty());
  if (HasFailure()) return;

  json body = kShortJob;
  body["timeout_seconds"] = 1;
  HttpResult accepted;
  const std::string id = SubmitJob(server, body, &accepted);
  ASSERT_FALSE(id.empty()) << accepted.Describe();
  EXPECT_EQ(accepted.body_json.value("state", ""), "queued");

  const json ended = WaitForTerminal(server, id, seconds(15));
  EXPECT_EQ(ended.value("state", ""), "expired") << ended;
  EXPECT_TRUE(ended["started_at"].is_null()) << ended;
  EXPECT_EQ(ended["usage"].value("completion_tokens", -1), 0) << ended;
  ASSERT_TRUE(ended["deadline_at"].is_number()) << ended;
  EXPECT_GE(ended.value("finished_at", 0.0), ended["deadline_at"].get<double>()) << ended;

  // The long job was not disturbed.
  EXPECT_EQ(server.Get("/v1/jobs/" + long_id).body_json.value("state", ""), "running");
  EXPECT_EQ(server.Delete("/v1/jobs/" + long_id).status, 200);
}

}  // namespace
}  // namespace glmq::integration
