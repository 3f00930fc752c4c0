#include "api/webhook_hosts.h"

#include <gtest/gtest.h>

#include "api/job_request.h"

namespace glmq {
namespace {

TEST(WebhookHostsTest, PatternsAreNamesSubdomainWildcardsOrAll) {
  const std::vector<std::string> allow = {"hooks.example.com", "*.corp.example", "10.1.2.3"};
  EXPECT_TRUE(WebhookHostAllowed("hooks.example.com", allow));
  EXPECT_TRUE(WebhookHostAllowed("a.b.corp.example", allow));
  EXPECT_TRUE(WebhookHostAllowed("10.1.2.3", allow));
  EXPECT_FALSE(WebhookHostAllowed("corp.example", allow));  // a wildcard wants a subdomain
  EXPECT_FALSE(WebhookHostAllowed("evilcorp.example", allow));
  EXPECT_FALSE(WebhookHostAllowed("example.com", allow));
  EXPECT_FALSE(WebhookHostAllowed("169.254.169.254", allow));
  EXPECT_FALSE(WebhookHostAllowed("", allow));
  EXPECT_TRUE(WebhookHostAllowed("anything", {}));
  EXPECT_TRUE(WebhookHostAllowed("anything", {"*"}));
}

TEST(WebhookHostsTest, ASubmitNamingAnotherHostIsRefused) {
  RequestLimits limits;
  limits.webhook_hosts = {"hooks.example.com"};
  auto ok = ParseJobRequest(R"({"text":"d","webhook_url":"https://hooks.example.com/a"})", limits);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  auto refused =
      ParseJobRequest(R"({"text":"d","webhook_url":"http://169.254.169.254/latest"})", limits);
  ASSERT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("169.254.169.254"), std::string::npos);
  EXPECT_NE(refused.status().message().find("--webhook-allow-hosts"), std::string::npos);
}

}  // namespace
}  // namespace glmq
