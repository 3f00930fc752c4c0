#include "api/webhook_hosts.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <mutex>

#include "api/job_request.h"
#include "api/webhooks.h"
#include "store/sqlite_store.h"
#include "store/store_test_support.h"

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

// Records what would have been posted.
class RecordingTransport : public HttpTransport {
 public:
  Result<HttpPostResponse> Post(const HttpPostRequest& request) override {
    std::lock_guard lock(mu_);
    urls_.push_back(request.url);
    return HttpPostResponse{.status = 200, .body = ""};
  }
  std::vector<std::string> urls() const {
    std::lock_guard lock(mu_);
    return urls_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> urls_;
};

// A job accepted before the allow list named its host is not sent once it does.
TEST(WebhookHostsTest, TheSenderDoesNotPostToAHostTheListLeftOut) {
  std::string dir = (std::filesystem::temp_directory_path() / "glmq_webhook_hosts_XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto store = SqliteJobStore::Open(dir + "/jobs.db", nullptr);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto finished_with_hook = [&](const std::string& url) {
    Job job = MakeTestJob(1, NowMs());
    job.request.webhook_url = url;
    EXPECT_TRUE((*store)->Insert(job).ok());
    EXPECT_EQ(MustClaim(**store, "w").id, job.id);
    EXPECT_TRUE((*store)->Complete(job.id, "w", Completion{}).ok());
  };
  finished_with_hook("http://10.0.0.5/internal");
  finished_with_hook("https://hooks.example.com/ok");

  auto http = std::make_shared<RecordingTransport>();
  WebhookOptions options;
  options.allow_hosts = {"hooks.example.com"};
  WebhookSender sender(**store, http, options);
  EXPECT_EQ(sender.SendDue(), 2);
  EXPECT_EQ(http->urls(), std::vector<std::string>{"https://hooks.example.com/ok"});
  EXPECT_EQ(sender.counts().gave_up.load(), 1);
  EXPECT_EQ(sender.counts().delivered.load(), 1);
  EXPECT_EQ(sender.SendDue(), 0);  // the refused one is not tried again
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace glmq
