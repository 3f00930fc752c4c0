#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "metrics/buckets.h"

namespace glmq::metrics {
namespace {

TEST(MetricsRegistryTest, RendersCountersGaugesAndHistogramsExactly) {
  Registry registry;
  CounterFamily* submitted =
      registry.AddCounter("glmq_jobs_submitted_total", "Jobs accepted.", {"class"});
  submitted->With({"short"}).Inc();
  submitted->With({"long"}).Inc(2);
  GaugeFamily* kv = registry.AddGauge("glmq_kv_used_tokens", "KV cells in use.");
  kv->With({}).Set(1536);
  HistogramFamily* wait =
      registry.AddHistogram("glmq_queue_wait_seconds", "Time queued.", {"class"}, {0.5, 1, 60});
  Histogram& short_wait = wait->With({"short"});
  for (double seconds : {0.25, 0.5, 30.0, 120.0}) short_wait.Observe(seconds);

  EXPECT_EQ(registry.Render(),
            "# HELP glmq_jobs_submitted_total Jobs accepted.\n"
            "# TYPE glmq_jobs_submitted_total counter\n"
            "glmq_jobs_submitted_total{class=\"long\"} 2\n"
            "glmq_jobs_submitted_total{class=\"short\"} 1\n"
            "# HELP glmq_kv_used_tokens KV cells in use.\n"
            "# TYPE glmq_kv_used_tokens gauge\n"
            "glmq_kv_used_tokens 1536\n"
            "# HELP glmq_queue_wait_seconds Time queued.\n"
            "# TYPE glmq_queue_wait_seconds histogram\n"
            "glmq_queue_wait_seconds_bucket{class=\"short\",le=\"0.5\"} 2\n"
            "glmq_queue_wait_seconds_bucket{class=\"short\",le=\"1\"} 2\n"
            "glmq_queue_wait_seconds_bucket{class=\"short\",le=\"60\"} 3\n"
            "glmq_queue_wait_seconds_bucket{class=\"short\",le=\"+Inf\"} 4\n"
            "glmq_queue_wait_seconds_sum{class=\"short\"} 150.75\n"
            "glmq_queue_wait_seconds_count{class=\"short\"} 4\n");
}

TEST(MetricsRegistryTest, UnlabelledFamiliesShowZeroLabelledOnesWaitForAChild) {
  Registry registry;
  registry.AddCounter("glmq_prompt_tokens_total", "Prompt tokens read.");
  registry.AddGauge("glmq_queue_depth_unused", "Never touched.", {"class"});
  registry.AddHistogram("glmq_job_run_seconds", "Run time.", {}, {1});
  EXPECT_EQ(registry.Render(),
            "# HELP glmq_prompt_tokens_total Prompt tokens read.\n"
            "# TYPE glmq_prompt_tokens_total counter\n"
            "glmq_prompt_tokens_total 0\n"
            "# HELP glmq_job_run_seconds Run time.\n"
            "# TYPE glmq_job_run_seconds histogram\n"
            "glmq_job_run_seconds_bucket{le=\"1\"} 0\n"
            "glmq_job_run_seconds_bucket{le=\"+Inf\"} 0\n"
            "glmq_job_run_seconds_sum 0\n"
            "glmq_job_run_seconds_count 0\n");
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  CounterFamily* requests = registry.AddCounter(
      "glmq_http_requests_total", "HTTP requests\nby \\route\\ and \"code\".", {"route", "code"});
  requests->With({"/v1/jobs/\"x\"\\y\nz", "200"}).Inc();
  EXPECT_EQ(registry.Render(),
            "# HELP glmq_http_requests_total HTTP requests\\nby \\\\route\\\\ and \"code\".\n"
            "# TYPE glmq_http_requests_total counter\n"
            "glmq_http_requests_total{route=\"/v1/jobs/\\\"x\\\"\\\\y\\nz\",code=\"200\"} 1\n");
}

TEST(MetricsRegistryTest, WithReturnsTheSameChild) {
  Registry registry;
  CounterFamily* finished =
      registry.AddCounter("glmq_jobs_finished_total", "Jobs done.", {"state", "class"});
  Counter& a = finished->With({"succeeded", "short"});
  const std::vector<std::string> values{"succeeded", "short"};
  Counter& b = finished->With(values);
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &finished->With({"failed", "short"}));
  a.Inc(3);
  EXPECT_EQ(b.Value(), 3);
}

TEST(MetricsRegistryTest, CounterIgnoresNegativeAndNaNDeltas) {
  Counter counter;
  counter.Inc(2.5);
  counter.Inc(-1);
  counter.Inc(std::nan(""));
  EXPECT_EQ(counter.Value(), 2.5);
}

TEST(MetricsRegistryTest, GaugeSetIncDec) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Inc();
  gauge.Inc(4);
  gauge.Dec(0.5);
  gauge.Dec();
  EXPECT_EQ(gauge.Value(), 13.5);
  gauge.Set(-2);
  EXPECT_EQ(gauge.Value(), -2);
}

TEST(MetricsRegistryTest, HistogramBoundsAreInclusiveAndNaNGoesToInf) {
  const std::vector<double> bounds{1, 2};
  Histogram histogram(bounds);
  histogram.Observe(1);  // le="1" includes 1
  histogram.Observe(1.0000001);
  histogram.Observe(-5);
  histogram.Observe(std::nan(""));
  const Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.cumulative, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(snapshot.count, 4u);
  EXPECT_TRUE(std::isnan(snapshot.sum));
}

TEST(MetricsRegistryTest, SpecialValuesRender) {
  Registry registry;
  GaugeFamily* gauge = registry.AddGauge("glmq_predicted_drain_seconds", "Drain time.");
  gauge->With({}).Set(std::numeric_limits<double>::infinity());
  EXPECT_NE(registry.Render().find("glmq_predicted_drain_seconds +Inf\n"), std::string::npos);
  gauge->With({}).Set(std::nan(""));
  EXPECT_NE(registry.Render().find("glmq_predicted_drain_seconds NaN\n"), std::string::npos);
}

TEST(MetricsConcurrencyTest, IncFromSeveralThreadsSumsRight) {
  Registry registry;
  CounterFamily* tokens =
      registry.AddCounter("glmq_generated_tokens_total", "Tokens generated.", {"class"});
  HistogramFamily* ttft = registry.AddHistogram("glmq_time_to_first_token_seconds", "TTFT.",
                                                {"class"}, JobLatencyBuckets());
  constexpr int kThreads = 4;
  constexpr int kIncrements = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every thread looks the children up itself, racing on their creation.
      Counter& counter = tokens->With({"long"});
      Histogram& histogram = ttft->With({"long"});
      for (int i = 0; i < kIncrements; ++i) {
        counter.Inc();
        histogram.Observe(0.5 * (t + 1));
      }
    });
  }
  // Scrapes running alongside must neither crash nor see a half-made child: a histogram
  // either is not there yet or has all its lines.
  for (int i = 0; i < 20; ++i) {
    const std::string text = registry.Render();
    EXPECT_EQ(text.find("_bucket{") == std::string::npos,
              text.find("glmq_time_to_first_token_seconds_count{") == std::string::npos);
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(tokens->With({"long"}).Value(), kThreads * kIncrements);
  const Histogram::Snapshot snapshot = ttft->With({"long"}).Read();
  EXPECT_EQ(snapshot.count, static_cast<uint64_t>(kThreads * kIncrements));
  EXPECT_EQ(snapshot.sum, kIncrements * 0.5 * (1 + 2 + 3 + 4));
}

TEST(MetricsRegistryTest, RenderedTextMatchesTheFormatGrammar) {
  Registry registry;
  registry.AddCounter("glmq_notifications_total", "Sent.", {"channel", "outcome"})
      ->With({"slack", "sent"})
      .Inc(7);
  registry
      .AddHistogram("glmq_http_request_duration_seconds", "Latency.", {"route"},
                    HttpLatencyBuckets())
      ->With({"POST /v1/jobs"})
      .Observe(0.0003);
  registry.AddGauge("glmq_throughput_tokens_per_second", "Speed.", {"phase"})
      ->With({"decode"})
      .Set(12.75);
  registry.AddCollector([](Exposition& e) {
    e.Gauge("glmq_alerts_firing", "Firing.", {{"alertname", "QueueDepth"}, {"severity", "x\"y"}},
            1);
  });
  const std::regex comment(R"(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*)");
  const std::regex sample(
      R"([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")"
      R"((,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? )"
      R"(([+-]?[0-9]+(\.[0-9]+)?(e[+-][0-9]+)?|\+Inf|-Inf|NaN))");
  std::istringstream lines(registry.Render());
  int samples = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("#")) {
      EXPECT_TRUE(std::regex_match(line, comment)) << line;
    } else {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
      ++samples;
    }
  }
  EXPECT_EQ(samples, 1 + (16 + 3) + 1 + 1);
}

TEST(MetricsBucketsTest, DefaultsAreUsableAndCoverHours) {
  Registry registry;
  // AddHistogram aborts on bad bounds, so registering them is the check.
  registry.AddHistogram("a_seconds", "a", {}, JobLatencyBuckets());
  registry.AddHistogram("b_seconds", "b", {}, HttpLatencyBuckets());
  registry.AddHistogram("c_tokens", "c", {}, TokenCountBuckets());
  const std::vector<double> latency = JobLatencyBuckets();
  EXPECT_EQ(latency.front(), 0.005);
  for (double must : {300.0, 600.0, 900.0, 1800.0, 3600.0}) {
    EXPECT_NE(std::find(latency.begin(), latency.end(), must), latency.end()) << must;
  }
  EXPECT_EQ(TokenCountBuckets().back(), 1048576);
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_TRUE(ExponentialBuckets(1, 2, 0).empty());
}

class MetricsRegistryDeathTest : public testing::Test {
 protected:
  // Other tests start threads; forking a multi-threaded process needs the re-exec style.
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(MetricsRegistryDeathTest, InvalidNamesAbort) {
  Registry registry;
  EXPECT_DEATH(registry.AddCounter("1jobs_total", "x"), "invalid metric name");
  EXPECT_DEATH(registry.AddGauge("glmq-depth", "x"), "invalid metric name");
  EXPECT_DEATH(registry.AddGauge("glmq_depth", "x", {"cla ss"}), "invalid label name");
  EXPECT_DEATH(registry.AddGauge("glmq_depth", "x", {"__class"}), "reserved");
  EXPECT_DEATH(registry.AddGauge("glmq_depth", "x", {"class", "class"}), "repeats label");
}

TEST_F(MetricsRegistryDeathTest, DuplicateFamiliesAbort) {
  Registry registry;
  registry.AddCounter("glmq_jobs_submitted_total", "x", {"class"});
  EXPECT_DEATH(registry.AddGauge("glmq_jobs_submitted_total", "x"), "already registered");
  registry.AddHistogram("glmq_job_run_seconds", "x", {"class"}, {1, 2});
  EXPECT_DEATH(registry.AddCounter("glmq_job_run_seconds_count", "x"), "already registered");
  EXPECT_DEATH(registry.AddGauge("glmq_job_run_seconds", "x"), "already registered");
}

TEST_F(MetricsRegistryDeathTest, BadHistogramsAbort) {
  Registry registry;
  EXPECT_DEATH(registry.AddHistogram("h", "x", {"le"}, {1}), "label \"le\"");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {1, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {2, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {1, std::numeric_limits<double>::infinity()}),
               "strictly increasing");
}

TEST_F(MetricsRegistryDeathTest, WrongLabelCountAborts) {
  Registry registry;
  CounterFamily* finished =
      registry.AddCounter("glmq_jobs_finished_total", "x", {"state", "class"});
  EXPECT_DEATH(finished->With({"succeeded"}), "takes 2 label values, got 1");
}

}  // namespace
}  // namespace glmq::metrics
