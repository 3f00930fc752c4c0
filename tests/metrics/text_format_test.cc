#include "metrics/text_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace glmq::metrics {
namespace {

TEST(MetricsTextFormatTest, MetricNames) {
  EXPECT_TRUE(ValidateMetricName("glmq_jobs_submitted_total").ok());
  EXPECT_TRUE(ValidateMetricName("_x").ok());
  EXPECT_TRUE(ValidateMetricName("job:glmq_queue_depth:sum").ok());
  EXPECT_TRUE(ValidateMetricName("a1").ok());
  EXPECT_FALSE(ValidateMetricName("").ok());
  EXPECT_FALSE(ValidateMetricName("1a").ok());
  EXPECT_FALSE(ValidateMetricName("glmq-queue").ok());
  EXPECT_FALSE(ValidateMetricName("glmq queue").ok());
  EXPECT_FALSE(ValidateMetricName("glmq_\xC3\xA9").ok());
  EXPECT_EQ(ValidateMetricName("a.b").code(), StatusCode::kInvalidArgument);
}

TEST(MetricsTextFormatTest, LabelNames) {
  EXPECT_TRUE(ValidateLabelName("class").ok());
  EXPECT_TRUE(ValidateLabelName("_state2").ok());
  EXPECT_TRUE(ValidateLabelName("le").ok());  // only histograms reserve it
  EXPECT_FALSE(ValidateLabelName("").ok());
  EXPECT_FALSE(ValidateLabelName("2x").ok());
  EXPECT_FALSE(ValidateLabelName("a:b").ok());  // colons are for metric names only
  EXPECT_FALSE(ValidateLabelName("__name__").ok());
  EXPECT_FALSE(ValidateLabelName("a-b").ok());
}

TEST(MetricsTextFormatTest, FormatsValuesAsPrometheusParsesThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-0.0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(1048576), "1048576");
  EXPECT_EQ(FormatValue(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(1.5), "1.5");
  EXPECT_EQ(FormatValue(-2.25), "-2.25");
  EXPECT_EQ(FormatValue(1e-7), "1e-07");
  EXPECT_EQ(FormatValue(0.1 + 0.2), "0.30000000000000004");  // round-trips, not rounded
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(-std::nan("")), "NaN");
}

TEST(MetricsTextFormatTest, EscapesLabelValuesAndHelp) {
  std::string out;
  AppendEscapedLabelValue(out, "a\\b\"c\nd\te");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd\te");

  out.clear();
  AppendEscapedHelp(out, "line \"one\"\nback\\slash");
  EXPECT_EQ(out, "line \"one\"\\nback\\\\slash");
}

TEST(MetricsTextFormatTest, Samples) {
  std::string out;
  AppendSample(out, "m", {}, {}, 1);
  const std::vector<std::string> names{"route", "code"};
  const std::vector<std::string> values{"/v1/jobs", "2\"0\"0"};
  AppendSample(out, "m", names, values, 0.5);
  AppendSample(out, "m_bucket", names, values, 7, "le", "+Inf");
  AppendSample(out, "m_bucket", {}, {}, 3, "le", "0.25");
  EXPECT_EQ(out,
            "m 1\n"
            "m{route=\"/v1/jobs\",code=\"2\\\"0\\\"0\"} 0.5\n"
            "m_bucket{route=\"/v1/jobs\",code=\"2\\\"0\\\"0\",le=\"+Inf\"} 7\n"
            "m_bucket{le=\"0.25\"} 3\n");
}

TEST(MetricsTextFormatTest, Header) {
  std::string out;
  AppendHeader(out, "glmq_workers_alive", "Workers with a fresh\nheartbeat.", "gauge");
  EXPECT_EQ(out,
            "# HELP glmq_workers_alive Workers with a fresh\\nheartbeat.\n"
            "# TYPE glmq_workers_alive gauge\n");
}

}  // namespace
}  // namespace glmq::metrics
