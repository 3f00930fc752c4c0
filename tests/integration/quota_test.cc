// Per-tenant quotas and the overload guard as a client meets them: past a limit a 429
// quota_exceeded that names it, with Retry-After, and nothing stored for the refused submit;
// other tenants unaffected; a queue predicted to drain slower than --max-drain-seconds gets
// 503 overloaded with Retry-After. Both on `glmq serve`.
#include <gtest/gtest.h>

#include <fstream>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

constexpr char kAlpha[] = "alpha-submit-key-0123456789";
constexpr char kBeta[] = "beta-submit-key-0123456789";

HttpClient As(const Server& server, const std::string& key) {
  HttpClient c = server.client();
  c.SetHeader("Authorization", "Bearer " + key);
  return c;
}

size_t Listed(const HttpClient& c) { return c.Get("/v1/jobs?limit=100").body_json["data"].size(); }

TEST(QuotaTest, ATenantOverItsQueuedJobsGets429AndOthersDoNot) {
  const std::string keys = ScratchDir("glmq-quota") + "/keys";
  std::ofstream(keys) << "alpha submit " << kAlpha << "\nbeta submit " << kBeta
                      << "\ntenant beta max_queued=100\n";
  // One sequence kept busy by alpha's long job: alpha's next ones stay queued.
  Server server({"--api-keys-file", keys, "--parallel", "1", "--tenant-max-queued", "2"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const HttpClient alpha = As(server, kAlpha), beta = As(server, kBeta);
  const HttpResult busy =
      alpha.Post("/v1/jobs", json{{"text", "Tell a very long story."}, {"max_tokens", 20000}});
  ASSERT_EQ(busy.status, 202) << busy.Describe();
  const std::string busy_id = busy.body_json.value("id", "");
  ASSERT_TRUE(PollUntil(
      [&] { return alpha.Get("/v1/jobs/" + busy_id).body_json.value("state", "") == "running"; },
      seconds(30)));
  const json small = {{"text", "Name a colour."}, {"max_tokens", 2}};
  EXPECT_EQ(alpha.Post("/v1/jobs", small).status, 202);
  EXPECT_EQ(alpha.Post("/v1/jobs", small).status, 202);
  const HttpResult refused = alpha.Post("/v1/jobs", small);
  EXPECT_EQ(refused.status, 429) << refused.Describe();
  EXPECT_EQ(refused.body_json["error"].value("code", ""), "quota_exceeded") << refused.body;
  EXPECT_NE(refused.body.find("max_queued"), std::string::npos) << refused.body;
  EXPECT_GE(std::stoi(refused.Header("retry-after")), 1);
  EXPECT_EQ(Listed(alpha), 3u);  // nothing stored for the refused one
  // The chat routes count against the same quota.
  EXPECT_EQ(alpha.Post("/api/v1/chat", json{{"text", "Hi"}, {"max_length", 2}}).status, 429);
  // Beta's own limit (the keys file's) is 100: its submits go on.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(beta.Post("/v1/jobs", small).status, 202);
  EXPECT_EQ(alpha.Delete("/v1/jobs/" + busy_id).status, 200);
}

TEST(QuotaTest, TokensPerMinuteRefuseOnceSpent) {
  const std::string keys = ScratchDir("glmq-tpm") + "/keys";
  std::ofstream(keys) << "alpha submit " << kAlpha << "\nbeta submit " << kBeta << "\n";
  Server server({"--api-keys-file", keys, "--tenant-tokens-per-minute", "300"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const HttpClient alpha = As(server, kAlpha), beta = As(server, kBeta);
  // 200 max tokens + the prompt: the second spends what is left, the third is refused.
  const json job = {{"text", "Name a colour."}, {"max_tokens", 200}};
  EXPECT_EQ(alpha.Post("/v1/jobs", job).status, 202);
  EXPECT_EQ(alpha.Post("/v1/jobs", job).status, 202);
  const HttpResult refused = alpha.Post("/v1/jobs", job);
  EXPECT_EQ(refused.status, 429) << refused.Describe();
  EXPECT_NE(refused.body.find("tokens_per_minute"), std::string::npos) << refused.body;
  EXPECT_GE(std::stoi(refused.Header("retry-after")), 10) << refused.Header("retry-after");
  EXPECT_EQ(Listed(alpha), 2u);
  EXPECT_EQ(beta.Post("/v1/jobs", job).status, 202);
}

TEST(QuotaTest, AQueueSlowerThanMaxDrainSecondsGets503) {
  // One sequence, busy with a long job: the queued long documents behind it take far longer
  // than a second to drain at the measured rates.
  Server server({"--parallel", "1", "--max-drain-seconds", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string busy =
      SubmitJob(server, {{"text", "Tell a very long story."}, {"max_tokens", 20000}});
  ASSERT_FALSE(busy.empty());
  HttpResult refused;
  ASSERT_TRUE(PollUntil(
      [&] {
        refused =
            server.Post("/v1/jobs", {{"text", "Tell a very long story."}, {"max_tokens", 20000}});
        return refused.status == 503;
      },
      seconds(20)))
      << refused.Describe();
  EXPECT_EQ(refused.body_json["error"].value("code", ""), "overloaded") << refused.body;
  EXPECT_GE(std::stoi(refused.Header("retry-after")), 1);
  // Cancelled, the queue drains at once, and submits are taken again within a second or so.
  const HttpResult listed = server.Get("/v1/jobs?limit=100");
  ASSERT_GT(listed.body_json["data"].size(), 1u) << listed.Describe();
  for (const json& j : listed.body_json["data"]) {
    const HttpResult d = server.Delete("/v1/jobs/" + j.value("id", ""));
    EXPECT_EQ(d.status, 200) << d.Describe();
  }
  EXPECT_TRUE(PollUntil(
      [&] {
        return server.Post("/v1/jobs", {{"text", "Hi"}, {"max_tokens", 2}}).status == 202;
      },
      seconds(10)))
      << server.Get("/v1/queue").body;
}

}  // namespace
}  // namespace glmq::integration
