// Submit rate limits as a client meets them: a 429 with Retry-After past the burst, no job
// made by it, and each tenant counted apart (its keys share its rate).
#include <gtest/gtest.h>

#include <fstream>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

const json kJob = {{"text", "Name a colour."}, {"max_tokens", 2}};

TEST(RateLimitTest, SubmitsPastTheBurstGet429AndMakeNoJob) {
  // One submit a minute, two at once: the third in a row is refused.
  Server server({"--rate-limit", "0.0166", "--rate-limit-burst", "2"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  EXPECT_EQ(server.Post("/v1/jobs", kJob).status, 202);
  EXPECT_EQ(server.Post("/api/v1/chat", {{"text", "Hello?"}, {"max_length", 2}}).status,
            200);  // counted too
  const HttpResult refused = server.Post("/v1/jobs", kJob);
  EXPECT_EQ(refused.status, 429) << refused.Describe();
  EXPECT_EQ(refused.body_json["error"].value("code", ""), "rate_limited") << refused.body;
  EXPECT_GE(std::stoi(refused.Header("retry-after")), 30) << refused.Header("retry-after");
  EXPECT_EQ(server.Get("/v1/jobs").body_json["data"].size(), 2u);
  // Reading is not limited.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(server.Get("/v1/queue").status, 200);
}

TEST(RateLimitTest, EachTenantHasItsOwnLimitSharedByItsKeys) {
  const std::string a1 = "key-a1-0123456789abcdef", a2 = "key-a2-0123456789abcdef",
                    b = "key-b-0123456789abcdef";
  const std::string keys = ScratchDir("glmq-rate") + "/keys";
  std::ofstream(keys) << "alpha submit " << a1 << "\nalpha submit " << a2 << "\nbeta submit " << b
                      << "\n";
  Server server({"--api-keys-file", keys, "--rate-limit", "0.0166", "--rate-limit-burst", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  auto submit = [&](const std::string& key) {
    return server.client().Request("POST", "/v1/jobs", kJob.dump(),
                                   {{"Authorization", "Bearer " + key}});
  };
  EXPECT_EQ(submit(a1).status, 202);
  EXPECT_EQ(submit(a1).status, 429);
  EXPECT_EQ(submit(a2).status, 429);  // the same tenant: another key does not help
  EXPECT_EQ(submit(b).status, 202);
  // A request without a key is refused for that, not counted against anyone.
  EXPECT_EQ(server.Post("/v1/jobs", kJob).status, 401);
}

}  // namespace
}  // namespace glmq::integration
