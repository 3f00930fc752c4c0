#include "alert/rules.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/scratch_dir.h"

namespace glmq {
namespace {

std::string WriteToml(const std::string& text) {
  static const std::string dir = ScratchDir("glmq-rules-test");
  static int n = 0;
  const std::string path = dir + "/" + std::to_string(n++) + ".toml";
  std::ofstream(path) << text;
  return path;
}

const RuleConfig& Find(const AlertConfig& c, RuleKind kind) {
  for (const RuleConfig& r : c.rules) {
    if (r.kind == kind) return r;
  }
  throw std::runtime_error("rule missing");
}

TEST(AlertRulesTest, DefaultsAreTheSeedsThresholds) {
  const AlertConfig c = DefaultAlertConfig();
  ASSERT_EQ(c.rules.size(), std::size(kAllRuleKinds));
  const RuleConfig& depth = Find(c, RuleKind::kQueueDepth);
  EXPECT_EQ(depth.warning, 50);
  EXPECT_EQ(depth.critical, 100);
  EXPECT_EQ(depth.for_ms, 60'000);
  EXPECT_EQ(depth.repeat_critical_ms, 5 * 60'000);
  EXPECT_EQ(depth.repeat_warning_ms, 15 * 60'000);
  EXPECT_EQ(Find(c, RuleKind::kRunningDuration).warning, 300);
  EXPECT_EQ(Find(c, RuleKind::kRunningDuration).critical, 600);
  EXPECT_EQ(Find(c, RuleKind::kErrorRate).warning, 0.10);
  EXPECT_EQ(Find(c, RuleKind::kErrorRate).critical, 0.30);
  EXPECT_EQ(Find(c, RuleKind::kDrainTime).warning, 300);
  EXPECT_EQ(Find(c, RuleKind::kDrainTime).critical, 900);
  EXPECT_TRUE(LoadAlertConfig("").ok());
}

TEST(AlertRulesTest, ReadsRulesAndChannels) {
  const std::string path = WriteToml(R"(
port = 9000  # a serve flag: not the alerts' business
[alerts]
interval = "2s"
external-url = "http://glmq.example:8080/"
[alerts.rules.queue_depth]
warning = 10
critical = false
for = "90s"
keep-firing-for = 30
repeat-warning = "1h"
labels = { team = "ml", env = "prod" }
[alerts.rules.error_rate]
window = "10m"
min-jobs = 5
[alerts.rules.stalled]
enabled = false
[[alerts.channels]]
name = "oncall"
type = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=x"
secret = "SEC123"
rate-limits = [{ max = 10, per = "1m" }]
[[alerts.channels]]
type = "email"
smtp-url = "smtp://mail.example:587"
from = "glmq@example.com"
to = ["a@example.com", "b@example.com"]
timeout = "5s"
)");
  auto c = LoadAlertConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->interval_ms, 2000);
  EXPECT_EQ(c->external_url, "http://glmq.example:8080/");
  const RuleConfig& depth = Find(*c, RuleKind::kQueueDepth);
  EXPECT_EQ(depth.warning, 10);
  EXPECT_FALSE(depth.critical.has_value());
  EXPECT_EQ(depth.for_ms, 90'000);
  EXPECT_EQ(depth.keep_firing_for_ms, 30'000);
  EXPECT_EQ(depth.repeat_warning_ms, 3'600'000);
  EXPECT_EQ(depth.labels.at("env"), "prod");
  EXPECT_EQ(Find(*c, RuleKind::kErrorRate).window_ms, 600'000);
  EXPECT_EQ(Find(*c, RuleKind::kErrorRate).min_jobs, 5);
  EXPECT_FALSE(Find(*c, RuleKind::kStalled).enabled);
  ASSERT_EQ(c->channels.size(), 2u);
  EXPECT_EQ(c->channels[0].name, "oncall");
  EXPECT_EQ(c->channels[0].secret, "SEC123");
  ASSERT_TRUE(c->channels[0].rate_limits.has_value());
  ASSERT_EQ(c->channels[0].rate_limits->size(), 1u);
  EXPECT_EQ((*c->channels[0].rate_limits)[0].max_messages, 10);
  EXPECT_EQ((*c->channels[0].rate_limits)[0].per_seconds, 60);
  EXPECT_FALSE(c->channels[1].rate_limits.has_value());  // the type's defaults
  EXPECT_EQ(c->channels[1].name, "email");               // defaults to the type
  EXPECT_EQ(c->channels[1].to.size(), 2u);
  EXPECT_EQ(c->channels[1].timeout_seconds, 5);
}

TEST(AlertRulesTest, MistakesNameTheKey) {
  auto expect_error = [](const std::string& toml, const std::string& needle) {
    auto c = LoadAlertConfig(WriteToml(toml));
    ASSERT_FALSE(c.ok()) << toml;
    EXPECT_NE(c.status().message().find(needle), std::string::npos) << c.status().message();
  };
  expect_error("[alerts.rules.queue_deep]\nwarning = 1\n", "unknown rule 'queue_deep'");
  expect_error("[alerts.rules.queue_depth]\nwarnin = 1\n", "unknown key 'warnin'");
  expect_error("[alerts.rules.queue_depth]\nfor = \"5 parsecs\"\n", "alerts.rules.queue_depth.for");
  expect_error("[alerts.rules.queue_depth]\nwarning = 10\ncritical = 5\n", "below warning");
  // disk_free fires below its levels: its critical level must be the lower one.
  expect_error("[alerts.rules.disk_free]\nwarning = 1e9\ncritical = 5e9\n", "above warning");
  EXPECT_TRUE(LoadAlertConfig(WriteToml("[alerts.rules.disk_free]\nenabled = false\n")).ok());
  expect_error("[alerts]\ninterval = \"1ms\"\n", "at least 10ms");
  expect_error("[alerts]\nchannels = 3\n", "[[alerts.channels]]");
  expect_error("[[alerts.channels]]\ntype = \"webhook\"\nurll = \"x\"\n", "unknown key 'urll'");
  expect_error("[alerts\n", "cannot read config file");
}

TEST(AlertRulesTest, Durations) {
  EXPECT_EQ(*ParseDurationMs("250ms"), 250);
  EXPECT_EQ(*ParseDurationMs("1.5s"), 1500);
  EXPECT_EQ(*ParseDurationMs("5m"), 300'000);
  EXPECT_EQ(*ParseDurationMs("2h"), 7'200'000);
  EXPECT_EQ(*ParseDurationMs("7"), 7000);
  EXPECT_FALSE(ParseDurationMs("").ok());
  EXPECT_FALSE(ParseDurationMs("-1s").ok());
  EXPECT_FALSE(ParseDurationMs("3d").ok());
}

}  // namespace
}  // namespace glmq
