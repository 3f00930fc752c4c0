#include "metrics/exposition.h"

#include <gtest/gtest.h>

#include "metrics/metrics.h"

namespace glmq::metrics {
namespace {

TEST(MetricsExpositionTest, GroupsSamplesUnderOneHeaderPerName) {
  Exposition e;
  e.Gauge("glmq_queue_depth", "Queued jobs per class.", {{"class", "short"}}, 3);
  e.Gauge("glmq_queue_prompt_tokens", "Queued prompt tokens.", {{"class", "short"}}, 1200);
  e.Gauge("glmq_queue_depth", "a different help is ignored", {{"class", "long"}}, 1);
  e.Counter("glmq_notifications_total", "Notifications.",
            {{"channel", "slack"}, {"outcome", "sent"}}, 4);
  e.Gauge("glmq_workers_alive", "Live workers.", {}, 2);
  std::string out;
  e.AppendTo(out);
  EXPECT_EQ(out,
            "# HELP glmq_queue_depth Queued jobs per class.\n"
            "# TYPE glmq_queue_depth gauge\n"
            "glmq_queue_depth{class=\"short\"} 3\n"
            "glmq_queue_depth{class=\"long\"} 1\n"
            "# HELP glmq_queue_prompt_tokens Queued prompt tokens.\n"
            "# TYPE glmq_queue_prompt_tokens gauge\n"
            "glmq_queue_prompt_tokens{class=\"short\"} 1200\n"
            "# HELP glmq_notifications_total Notifications.\n"
            "# TYPE glmq_notifications_total counter\n"
            "glmq_notifications_total{channel=\"slack\",outcome=\"sent\"} 4\n"
            "# HELP glmq_workers_alive Live workers.\n"
            "# TYPE glmq_workers_alive gauge\n"
            "glmq_workers_alive 2\n");
}

TEST(MetricsExpositionTest, CollectorsRunOnEveryRenderAfterTheFamilies) {
  Registry registry;
  registry.AddGauge("glmq_running_sequences", "Sequences decoding.")->With({}).Set(2);
  int depth = 5;
  int calls = 0;
  registry.AddCollector([&](Exposition& e) {
    ++calls;
    for (const char* cls : {"short", "medium", "long"}) {
      e.Gauge("glmq_queue_depth", "Queued jobs.", {{"class", cls}}, cls[0] == 'l' ? depth : 0);
    }
  });
  registry.AddCollector([](Exposition& e) {
    e.Gauge("glmq_alerts_firing", "Alerts firing.",
            {{"alertname", "queue_depth"}, {"severity", "critical"}}, 1);
  });
  const std::string expected_tail =
      "# HELP glmq_queue_depth Queued jobs.\n"
      "# TYPE glmq_queue_depth gauge\n"
      "glmq_queue_depth{class=\"short\"} 0\n"
      "glmq_queue_depth{class=\"medium\"} 0\n"
      "glmq_queue_depth{class=\"long\"} 5\n"
      "# HELP glmq_alerts_firing Alerts firing.\n"
      "# TYPE glmq_alerts_firing gauge\n"
      "glmq_alerts_firing{alertname=\"queue_depth\",severity=\"critical\"} 1\n";
  EXPECT_EQ(registry.Render(),
            "# HELP glmq_running_sequences Sequences decoding.\n"
            "# TYPE glmq_running_sequences gauge\n"
            "glmq_running_sequences 2\n" +
                expected_tail);
  depth = 9;
  EXPECT_NE(registry.Render().find("glmq_queue_depth{class=\"long\"} 9\n"), std::string::npos);
  EXPECT_EQ(calls, 2);
}

TEST(MetricsExpositionTest, EscapesLabelValues) {
  Exposition e;
  e.Gauge("g", "h", {{"alertname", "a\"b\\c\nd"}}, 0.25);
  std::string out;
  e.AppendTo(out);
  EXPECT_EQ(out, "# HELP g h\n# TYPE g gauge\ng{alertname=\"a\\\"b\\\\c\\nd\"} 0.25\n");
}

class MetricsExpositionDeathTest : public testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(MetricsExpositionDeathTest, ProgrammerErrorsAbort) {
  EXPECT_DEATH(Exposition().Gauge("bad name", "h", {}, 1), "invalid metric name");
  EXPECT_DEATH(Exposition().Gauge("g", "h", {{"bad-label", "v"}}, 1), "invalid label name");
  EXPECT_DEATH(
      {
        Exposition e;
        e.Gauge("g", "h", {}, 1);
        e.Counter("g", "h", {}, 1);
      },
      "both gauge and counter");
  Registry registry;
  registry.AddGauge("glmq_kv_used_tokens", "KV.");
  registry.AddCollector([](Exposition& e) { e.Gauge("glmq_kv_used_tokens", "KV.", {}, 1); });
  EXPECT_DEATH(registry.Render(), "reuses a registered metric's name");
}

}  // namespace
}  // namespace glmq::metrics
