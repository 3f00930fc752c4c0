// Webhook deliveries from `glmq serve`: a job with a webhook_url is POSTed once it ends,
// signed, retried after a failure, and still delivered after a crash.
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <csignal>
#include <thread>

#include "integration/harness.h"
#include "integration/webhook_receiver.h"

namespace glmq::integration {
namespace {

constexpr char kSecret[] = "s3cret";

// "t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>", computed here independently.
std::string ExpectedSignature(const std::string& header, const std::string& body) {
  const size_t comma = header.find(',');
  if (header.rfind("t=", 0) != 0 || comma == std::string::npos) return "malformed: " + header;
  const std::string t = header.substr(2, comma - 2);
  const std::string text = t + "." + body;
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret, sizeof(kSecret) - 1,
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    static const char* const kDigits = "0123456789abcdef";
    hex.push_back(kDigits[mac[i] >> 4]);
    hex.push_back(kDigits[mac[i] & 15]);
  }
  return "t=" + t + ",v1=" + hex;
}

std::string Header(const WebhookReceiver::Received& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

TEST(WebhookDeliveryTest, AnEndedJobIsPostedSignedAndRetriedUntilTaken) {
  WebhookReceiver receiver;
  receiver.FailNext(1, 503);
  Server server({"--webhook-secret", kSecret, "--webhook-allow-private"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string hook = receiver.url("/done?source=glmq");
  const std::string id =
      SubmitJob(server, {{"text", "Hooked."}, {"max_tokens", 5}, {"webhook_url", hook}});
  ASSERT_FALSE(id.empty());
  const std::string plain = SubmitJob(server, {{"text", "Not hooked."}, {"max_tokens", 5}});
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(WaitForTerminal(server, plain, seconds(30)).value("state", ""), "succeeded");

  const auto got = receiver.WaitFor(2, seconds(30));
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < got.size(); ++i) {
    const auto& r = got[i];
    EXPECT_EQ(r.path, "/done?source=glmq");
    EXPECT_EQ(Header(r, "glmq-event"), "job.succeeded");
    EXPECT_EQ(Header(r, "glmq-delivery"), id);
    EXPECT_EQ(Header(r, "glmq-attempt"), std::to_string(i + 1));
    EXPECT_EQ(Header(r, "content-type"), "application/json");
    const std::string signature = Header(r, "glmq-signature");
    EXPECT_EQ(signature, ExpectedSignature(signature, r.raw_body));
    ASSERT_FALSE(r.body.is_discarded()) << r.raw_body;
    EXPECT_EQ(r.body.value("event", ""), "job.succeeded");
    EXPECT_EQ(r.body["job"].value("id", ""), id);
    EXPECT_EQ(r.body["job"].value("state", ""), "succeeded");
    EXPECT_TRUE(r.body["job"].contains("text")) << r.raw_body;
    EXPECT_EQ(r.body["job"].value("webhook_url", ""), hook);
  }
  EXPECT_EQ(got[0].answered, 503);
  EXPECT_EQ(got[1].answered, 200);
  // Taken: nothing more, and nothing for the job without a webhook.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(receiver.received().size(), 2u);
  const std::string metrics = server.Get("/metrics").body;
  EXPECT_NE(metrics.find("glmq_webhook_deliveries_total{result=\"delivered\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("glmq_webhook_deliveries_total{result=\"failed\"} 1\n"),
            std::string::npos);
}

TEST(WebhookDeliveryTest, ADeliveryOutlivesACrashOfTheServer) {
  WebhookReceiver receiver;
  receiver.FailNext(2, 500);  // tries 1 and 2 fail; try 3 waits 2 s
  Server server({"--webhook-allow-private"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string id =
      SubmitJob(server, {{"text", "Hooked."}, {"max_tokens", 5}, {"webhook_url", receiver.url()}});
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(receiver.WaitFor(2, seconds(30)).size(), 2u);
  // Past the second failure's bookkeeping (a delivery caught mid-try instead waits out its
  // lease), before the third try.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  server.Kill(SIGKILL);
  ASSERT_TRUE(server.Restart()) << server.start_error();
  const auto got = receiver.WaitFor(3, seconds(30));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].answered, 200);
  EXPECT_EQ(Header(got[2], "glmq-delivery"), id);
  EXPECT_EQ(Header(got[2], "glmq-attempt"), "3");
  EXPECT_EQ(Header(got[2], "glmq-signature"), "");  // no secret given
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(receiver.received().size(), 3u);
}

TEST(WebhookDeliveryTest, ABadWebhookUrlIsA400) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  for (const char* url :
       {"ftp://example.com/x", "http://", "http:///path", "not a url", "https://exa mple.com/"}) {
    const HttpResult r = server.Post("/v1/jobs", {{"text", "x"}, {"webhook_url", url}});
    EXPECT_EQ(r.status, 400) << url << ": " << r.Describe();
    EXPECT_EQ(r.body_json["error"].value("code", ""), "invalid_request") << r.body;
  }
  // This machine and its network, in any spelling, without --webhook-allow-private.
  for (const char* url : {"http://127.0.0.1:9/hook", "http://localhost:9/", "http://[::1]:9/",
                          "http://[::ffff:127.0.0.1]:9/", "http://2130706433:9/",
                          "http://169.254.169.254/latest/meta-data", "http://192.168.0.1/"}) {
    const HttpResult r = server.Post("/v1/jobs", {{"text", "x"}, {"webhook_url", url}});
    EXPECT_EQ(r.status, 400) << url << ": " << r.Describe();
    EXPECT_NE(r.body_json["error"].value("message", "").find("--webhook-allow-private"),
              std::string::npos)
        << r.body;
  }
}

TEST(WebhookDeliveryTest, AWebhookToAHostNotAllowedIsA400) {
  WebhookReceiver receiver;  // on 127.0.0.1
  Server server({"--webhook-allow-hosts", "hooks.example.com,127.0.0.1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const HttpResult refused = server.Post(
      "/v1/jobs", {{"text", "x"}, {"webhook_url", "http://169.254.169.254/latest/meta-data"}});
  EXPECT_EQ(refused.status, 400) << refused.Describe();
  EXPECT_NE(refused.body_json["error"].value("message", "").find("--webhook-allow-hosts"),
            std::string::npos)
      << refused.body;
  const std::string id =
      SubmitJob(server, {{"text", "Hooked."}, {"max_tokens", 2}, {"webhook_url", receiver.url()}});
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(receiver.WaitFor(1, seconds(30)).size(), 1u);
}

}  // namespace
}  // namespace glmq::integration
