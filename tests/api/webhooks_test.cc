// The webhook sender over a real SQLite store, with a transport that records what it would
// have posted.
#include "api/webhooks.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "alert/fake_transport.h"
#include "batch/local_batch_store.h"
#include "store/sqlite_store.h"
#include "store/store_test_support.h"

namespace glmq {
namespace {

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

// Answers as the curl transport does when every address behind a URL is private.
class PrivateRefusingTransport : public FakeHttpTransport {
 public:
  Result<HttpPostResponse> Post(const HttpPostRequest& request) override {
    Result<HttpPostResponse> answer = FakeHttpTransport::Post(request);  // recorded
    if (request.url.find("private.example") == std::string::npos) return answer;
    return InvalidArgument("POST " + request.url +
                           ": refused to connect to 10.0.0.5, which is not a public address");
  }
};

// Webhooks connect to public addresses only unless --webhook-allow-private (or an allow list
// naming the host) says otherwise; a URL whose addresses are all refused is given up at
// once, not tried ten times over the next hours.
TEST(WebhookSenderTest, AWebhookReachesPublicAddressesOnlyAndARefusalIsFinal) {
  for (const bool allow_private : {false, true}) {
    std::string dir =
        (std::filesystem::temp_directory_path() / "glmq_webhook_ssrf_XXXXXX").string();
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    auto store = SqliteJobStore::Open(dir + "/jobs.db", nullptr);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    int i = 0;
    for (const char* url : {"https://hooks.example.com/a", "https://private.example/b"}) {
      Job job = MakeTestJob(i++, NowMs());
      job.request.webhook_url = url;
      ASSERT_TRUE((*store)->Insert(job).ok());
      ASSERT_EQ(MustClaim(**store, "w").id, job.id);
      ASSERT_TRUE((*store)->Complete(job.id, "w", Completion{}).ok());
    }
    auto http = std::make_shared<PrivateRefusingTransport>();
    WebhookOptions options;
    options.allow_private = allow_private;
    WebhookSender sender(**store, http, options);
    EXPECT_EQ(sender.SendDue(), 2);
    ASSERT_EQ(http->count(), 2u);
    for (const HttpPostRequest& r : http->requests()) {
      EXPECT_EQ(r.public_addresses_only, !allow_private) << r.url;
    }
    EXPECT_EQ(sender.counts().delivered.load(), 1);
    EXPECT_EQ(sender.counts().gave_up.load(), 1);
    EXPECT_EQ(sender.counts().failed.load(), 0);
    EXPECT_EQ(sender.SendDue(), 0);
    store->reset();
    std::filesystem::remove_all(dir);
  }
}

// A backlog is sent at once, a batch after another, not one batch per poll: at 32 every
// half second the sender fell behind steady traffic of more than 64 ended jobs a second, and
// the chaos run's receiver still waited for 9,185 deliveries two minutes after the load.
TEST(WebhookSenderTest, ABacklogIsSentWithoutWaitingForThePoll) {
  std::string dir = (std::filesystem::temp_directory_path() / "glmq_webhooks_XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto store = SqliteJobStore::Open(dir + "/jobs.db", nullptr);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  constexpr int kJobs = 100;
  for (int i = 0; i < kJobs; ++i) {
    Job job = MakeTestJob(i, NowMs());
    job.request.webhook_url = "https://hooks.example.com/" + std::to_string(i);
    ASSERT_TRUE((*store)->Insert(job).ok());
    ASSERT_EQ(MustClaim(**store, "w").id, job.id);
    ASSERT_TRUE((*store)->Complete(job.id, "w", Completion{}).ok());
  }
  auto http = std::make_shared<RecordingTransport>();
  WebhookOptions options;
  options.batch = 32;
  options.poll_ms = 60'000;  // one poll in this test: the first, at Start
  {
    WebhookSender sender(**store, http, options);
    sender.Start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (http->urls().size() < kJobs && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(http->urls().size(), static_cast<size_t>(kJobs));
  }
  store->reset();
  std::filesystem::remove_all(dir);
}

// A batch's end is queued for delivery just before it is written, and a runner that dies
// between the two leaves it unwritten until the next runner takes over. The claims made
// while it waits are no tries: once it ends, its receiver gets every try there is (here, a
// refused first and an accepted second), not one before it is given up.
TEST(WebhookSenderTest, WaitingForABatchsEndUsesUpNoTries) {
  std::string dir = (std::filesystem::temp_directory_path() / "glmq_webhooks_XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto store = SqliteJobStore::Open(dir + "/jobs.db", nullptr);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto batches = LocalBatchStore::Open(dir + "/batches.db");
  ASSERT_TRUE(batches.ok()) << batches.status().ToString();
  Batch batch;
  batch.id = "batch_0123456789abcdef01234567";
  batch.tenant = "default";
  batch.endpoint = "/v1/chat/completions";
  batch.input_file_id = "file-in";
  batch.completion_window = "24h";
  batch.webhook_url = "https://hooks.example.com/batches";
  batch.status = BatchStatus::kInProgress;
  batch.created_at = NowMs();
  ASSERT_TRUE((*batches)->Create(batch).ok());
  ASSERT_TRUE((*store)->QueueWebhook(batch.id, 0).ok());

  auto http = std::make_shared<FakeHttpTransport>();
  http->Script(HttpPostResponse{500, "busy"});
  WebhookOptions options;
  options.max_attempts = 2;
  options.poll_ms = 100;
  {
    WebhookSender sender(**store, http, options, batches->get());
    sender.Start();
    // Three claims (one a second) while the batch has not ended: more than max_attempts.
    std::this_thread::sleep_for(std::chrono::milliseconds(3200));
    EXPECT_EQ(http->count(), 0u) << "posted before the batch ended";
    Batch ended = batch;
    ended.status = BatchStatus::kCompleted;
    ASSERT_TRUE((*batches)->Update(ended, BatchStatus::kInProgress).ok());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (http->count() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  const std::vector<HttpPostRequest> sent = http->requests();
  ASSERT_EQ(sent.size(), 2u) << "the refused first try was the last";
  auto header = [](const HttpPostRequest& r, const std::string& name) {
    for (const std::string& h : r.headers) {
      if (h.rfind(name + ": ", 0) == 0) return h.substr(name.size() + 2);
    }
    return std::string();
  };
  EXPECT_EQ(header(sent[0], "Glmq-Attempt"), "1");
  EXPECT_EQ(header(sent[1], "Glmq-Attempt"), "2");
  EXPECT_EQ(header(sent[1], "Glmq-Event"), "batch.completed");
  store->reset();
  batches->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace glmq
