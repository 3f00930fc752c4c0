// Backlog alerting end to end: a real queue on the generated model, low thresholds, and a
// webhook receiver in the test that gets what glmq sends (Alertmanager's v4 payload).
#include <gtest/gtest.h>

#include <fstream>

#include "integration/harness.h"
#include "integration/webhook_receiver.h"

namespace glmq::integration {
namespace {

using Received = WebhookReceiver::Received;

// Only queue_depth, warning at 3 short jobs, a quick evaluation.
std::string WriteConfig(const WebhookReceiver& receiver, const std::string& repeat) {
  const std::string dir = ScratchDir("glmq-alert-config");
  const std::string path = dir + "/glmq.toml";
  std::ofstream out(path);
  out << "[alerts]\n"
         "interval = \"200ms\"\n"
         "[alerts.rules.queue_depth]\n"
         "warning = 3\n"
         "critical = false\n"
         "for = \"400ms\"\n"
         "repeat-warning = \""
      << repeat
      << "\"\n"
         "labels = { team = \"search\" }\n";
  for (const char* rule : {"drain_time", "oldest_age", "running_duration", "error_rate",
                           "no_worker", "stalled", "store_errors", "disk_free"}) {
    out << "[alerts.rules." << rule << "]\nenabled = false\n";
  }
  out << "[[alerts.channels]]\n"
         "name = \"ops\"\n"
         "type = \"webhook\"\n"
         "url = \""
      << receiver.url() << "\"\n";
  return path;
}

// One job that keeps the single sequence busy, and `n` short ones queued behind it.
std::string MakeBacklog(const Server& server, int n) {
  const std::string busy = SubmitJob(server, {{"text", "Busy."}, {"max_tokens", 30000}});
  EXPECT_FALSE(busy.empty());
  WaitForState(server, busy, "running", seconds(30));
  for (int i = 0; i < n; ++i) {
    EXPECT_FALSE(
        SubmitJob(server, {{"text", "Question " + std::to_string(i)}, {"max_tokens", 2}}).empty());
  }
  return busy;
}

std::vector<Received> WithStatus(const std::vector<Received>& all, const std::string& status) {
  std::vector<Received> out;
  for (const Received& r : all) {
    if (r.body.is_object() && r.body.value("status", "") == status) out.push_back(r);
  }
  return out;
}

std::string Describe(const std::vector<Received>& all) {
  std::string out;
  for (const Received& r : all) out += r.path + " " + r.raw_body.substr(0, 600) + "\n";
  return out;
}

bool QueueEmpty(const Server& server) {
  const HttpResult q = server.Get("/v1/queue");
  return q.status == 200 && q.body_json.value("queued", -1) == 0;
}

TEST(AlertingTest, BacklogFiresOnceThenResolvesWithLabelsAndValues) {
  WebhookReceiver receiver;
  Server server({"--parallel", "1", "--config", WriteConfig(receiver, "1h")});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string busy = MakeBacklog(server, 4);

  auto got = receiver.WaitFor(1, seconds(20));
  ASSERT_EQ(got.size(), 1u) << Describe(got) << server.LogTail();
  const json firing = got[0].body;
  ASSERT_TRUE(firing.is_object() && firing["alerts"].is_array() && !firing["alerts"].empty() &&
              firing["alerts"][0].is_object())
      << Describe(got) << server.LogTail();
  EXPECT_EQ(got[0].path, "/hook");
  EXPECT_EQ(firing.value("version", ""), "4") << firing;
  EXPECT_EQ(firing.value("status", ""), "firing") << firing;
  EXPECT_EQ(firing.value("receiver", ""), "ops") << firing;
  ASSERT_EQ(firing["alerts"].size(), 1u) << firing;
  const json alert = firing["alerts"][0];
  EXPECT_EQ(alert["labels"].value("alertname", ""), "queue_depth") << alert;
  EXPECT_EQ(alert["labels"].value("class", ""), "short") << alert;
  EXPECT_EQ(alert["labels"].value("severity", ""), "warning") << alert;
  EXPECT_EQ(alert["labels"].value("team", ""), "search") << alert;
  EXPECT_EQ(alert["annotations"].value("value", ""), "4") << alert;
  EXPECT_EQ(alert["annotations"].value("threshold", ""), "3") << alert;
  EXPECT_EQ(alert.value("endsAt", ""), "0001-01-01T00:00:00Z") << alert;

  // /v1/alerts shows it firing; /metrics counts the notification.
  const HttpResult alerts = server.Get("/v1/alerts");
  ASSERT_EQ(alerts.status, 200);
  ASSERT_TRUE(alerts.body_json["active"].is_array()) << alerts.body;
  ASSERT_EQ(alerts.body_json["active"].size(), 1u) << alerts.body;
  ASSERT_TRUE(alerts.body_json["active"][0].is_object()) << alerts.body;
  EXPECT_EQ(alerts.body_json["active"][0].value("state", ""), "firing");
  // The receiver has the notice before the sender has its answer and counts it "sent":
  // wait for the count rather than race it.
  const std::string sent = "glmq_notifications_total{channel=\"ops\",outcome=\"sent\"} 1";
  PollUntil([&] { return server.Get("/metrics").body.find(sent) != std::string::npos; },
            seconds(10));
  const HttpResult metrics = server.Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(
      metrics.body.find("glmq_alerts_firing{alertname=\"queue_depth\",severity=\"warning\"} 1"),
      std::string::npos)
      << metrics.body.substr(0, 4000);
  // The alert as Alertmanager exports its own: glmq_alerts{alertname, severity, state}.
  EXPECT_NE(metrics.body.find("glmq_alerts{alertname=\"queue_depth\",severity=\"warning\","
                              "state=\"firing\"} 1"),
            std::string::npos)
      << metrics.body.substr(0, 4000);
  EXPECT_NE(metrics.body.find(sent), std::string::npos) << metrics.body.substr(0, 4000);

  // Drain: the busy job goes, the short ones run, and the alert resolves exactly once.
  ASSERT_EQ(server.Delete("/v1/jobs/" + busy).status, 200);
  ASSERT_TRUE(PollUntil([&] { return QueueEmpty(server); }, seconds(60)));
  got = receiver.WaitFor(2, seconds(20));
  ASSERT_EQ(got.size(), 2u);
  const json& resolved = got[1].body;
  EXPECT_EQ(resolved.value("status", ""), "resolved") << resolved;
  ASSERT_EQ(resolved["alerts"].size(), 1u);
  EXPECT_EQ(resolved["alerts"][0]["labels"], alert["labels"]);
  EXPECT_EQ(resolved["alerts"][0].value("fingerprint", ""), alert.value("fingerprint", "?"));
  EXPECT_NE(resolved["alerts"][0].value("endsAt", ""), "0001-01-01T00:00:00Z");
  // Nothing more: no repeat within the hour, no second resolve.
  std::this_thread::sleep_for(milliseconds(1500));
  const std::vector<Received> all = receiver.received();
  EXPECT_EQ(all.size(), 2u) << Describe(all) << server.LogTail();
}

TEST(AlertingTest, RepeatIntervalIsRespected) {
  WebhookReceiver receiver;
  Server server({"--parallel", "1", "--config", WriteConfig(receiver, "2s")});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string busy = MakeBacklog(server, 4);
  auto got = receiver.WaitFor(1, seconds(20));
  ASSERT_EQ(got.size(), 1u) << server.LogTail();
  const auto first = got[0].at;
  // About 5 s of firing at a 200 ms evaluation: 25 chances, but a repeat only every 2 s.
  std::this_thread::sleep_for(milliseconds(5000));
  got = receiver.received();
  const auto repeats = WithStatus(got, "firing");
  EXPECT_GE(repeats.size(), 2u);
  EXPECT_LE(repeats.size(), 4u);
  for (size_t i = 1; i < repeats.size(); ++i) {
    EXPECT_GE(repeats[i].at - repeats[i - 1].at, milliseconds(1900)) << "repeat " << i;
  }
  EXPECT_GE(repeats.back().at - first, milliseconds(3800));
  server.Delete("/v1/jobs/" + busy);
}

TEST(AlertingTest, SilenceStopsNotificationsUntilItIsRemoved) {
  WebhookReceiver receiver;
  Server server({"--parallel", "1", "--config", WriteConfig(receiver, "1h")});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const HttpResult created = server.Post(
      "/v1/silences", {{"matchers", {{{"name", "alertname"}, {"value", "queue_depth"}}}},
                       {"duration", 600},
                       {"createdBy", "test"},
                       {"comment", "known backlog"}});
  ASSERT_EQ(created.status, 201) << created.Describe();
  const std::string silence = created.body_json.value("silenceID", "");
  ASSERT_FALSE(silence.empty());
  EXPECT_EQ(server.Get("/v1/silences").body_json["silences"].size(), 1u);

  const std::string busy = MakeBacklog(server, 4);
  // Firing, but silenced: /v1/alerts says so and nothing is sent.
  ASSERT_TRUE(PollUntil(
      [&] {
        const HttpResult a = server.Get("/v1/alerts");
        return a.body_json["active"].size() == 1 &&
               a.body_json["active"][0].value("state", "") == "firing";
      },
      seconds(20)));
  const HttpResult alerts = server.Get("/v1/alerts");
  EXPECT_EQ(alerts.body_json["active"][0]["silenced_by"], json::array({silence}));
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_TRUE(receiver.received().empty());

  // Removing the silence lets the firing alert through at once.
  ASSERT_EQ(server.Delete("/v1/silences/" + silence).status, 200);
  const auto got = receiver.WaitFor(1, seconds(10));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body.value("status", ""), "firing");
  server.Delete("/v1/jobs/" + busy);
}

TEST(AlertingTest, BadSilencesAndAlertConfigsAreRefusedClearly) {
  WebhookReceiver receiver;
  Server server({"--parallel", "1", "--config", WriteConfig(receiver, "1h")});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const HttpResult no_matchers = server.Post("/v1/silences", {{"duration", 60}});
  EXPECT_EQ(no_matchers.status, 422);
  EXPECT_TRUE(IsErrorBody(no_matchers)) << no_matchers.body;
  const HttpResult bad_regex = server.Post(
      "/v1/silences",
      {{"matchers", {{{"name", "a"}, {"value", "("}, {"isRegex", true}}}}, {"duration", 60}});
  EXPECT_EQ(bad_regex.status, 422);
  EXPECT_NE(bad_regex.body.find("regular expression"), std::string::npos) << bad_regex.body;
  EXPECT_EQ(server.PostRaw("/v1/silences", "{nope").status, 400);
  EXPECT_EQ(server.Delete("/v1/silences/sil_0000000000000000").status, 404);

  // A config with an unknown rule stops the start with a message naming it.
  const std::string dir = ScratchDir("glmq-alert-bad");
  std::ofstream(dir + "/bad.toml") << "[alerts.rules.queue_deep]\nwarning = 1\n";
  Server bad({"--config", dir + "/bad.toml"});
  EXPECT_FALSE(bad.Start());
  EXPECT_NE(bad.LogTail().find("unknown rule 'queue_deep'"), std::string::npos) << bad.LogTail();
}

}  // namespace
}  // namespace glmq::integration
