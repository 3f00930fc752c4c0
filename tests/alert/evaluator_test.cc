#include "alert/evaluator.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

constexpr TimeMs kStart = 1'800'000'000'000;

// Only queue_depth on, warning at 3 and critical at 6, `for` 10 s, repeats 60 s / 30 s.
AlertConfig DepthOnly() {
  AlertConfig c = DefaultAlertConfig();
  for (RuleConfig& r : c.rules) {
    r.enabled = r.kind == RuleKind::kQueueDepth;
    if (r.kind == RuleKind::kQueueDepth) {
      r.warning = 3;
      r.critical = 6;
      r.for_ms = 10'000;
      r.repeat_warning_ms = 60'000;
      r.repeat_critical_ms = 30'000;
      r.labels = {{"team", "ml"}};
    }
  }
  return c;
}

AlertSignals Depth(TimeMs now, int64_t short_queued) {
  AlertSignals s;
  s.now = now;
  s.workers_alive = 1;
  s.classes[LengthClass::kShort] = {.queued = short_queued,
                                    .queued_prompt_tokens = short_queued * 100,
                                    .queued_max_tokens = 0,
                                    .oldest_created_at = short_queued > 0 ? now - 5000 : 0};
  s.classes[LengthClass::kLong] = {};
  return s;
}

std::vector<Alert> Flatten(const std::vector<Notification>& ns) {
  std::vector<Alert> out;
  for (const Notification& n : ns) out.insert(out.end(), n.alerts.begin(), n.alerts.end());
  return out;
}

TEST(AlertEvaluatorTest, FiresAfterForThenRepeatsThenResolvesOnce) {
  AlertEvaluator ev(DepthOnly(), nullptr);
  EXPECT_TRUE(ev.Evaluate(Depth(kStart, 4)).empty());  // pending
  ASSERT_EQ(ev.Active().size(), 1u);
  EXPECT_TRUE(ev.Active()[0].pending);
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 5'000, 4)).empty());

  auto sent = Flatten(ev.Evaluate(Depth(kStart + 10'000, 5)));
  ASSERT_EQ(sent.size(), 1u);
  const Alert a = sent[0];  // a copy: `sent` is assigned again below
  EXPECT_TRUE(a.firing);
  EXPECT_EQ(a.rule, "queue_depth");
  EXPECT_EQ(a.severity, AlertSeverity::kWarning);
  EXPECT_EQ(a.labels.at("alertname"), "queue_depth");
  EXPECT_EQ(a.labels.at("class"), "short");
  EXPECT_EQ(a.labels.at("severity"), "warning");
  EXPECT_EQ(a.labels.at("team"), "ml");
  EXPECT_EQ(a.value, 5);
  EXPECT_EQ(a.threshold, 3);
  EXPECT_EQ(a.starts_at, kStart + 10'000);
  EXPECT_NE(a.annotations.at("summary").find("5 short jobs queued"), std::string::npos);

  // Nothing new until the repeat interval has passed.
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 40'000, 5)).empty());
  sent = Flatten(ev.Evaluate(Depth(kStart + 70'000, 4)));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].firing);
  EXPECT_EQ(sent[0].starts_at, kStart + 10'000);  // the same alert, repeated

  sent = Flatten(ev.Evaluate(Depth(kStart + 75'000, 0)));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(sent[0].firing);
  EXPECT_EQ(sent[0].ends_at, kStart + 75'000);
  EXPECT_EQ(sent[0].fingerprint, a.fingerprint);
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 80'000, 0)).empty());
  EXPECT_TRUE(ev.Active().empty());
  ASSERT_GE(ev.History().size(), 3u);
  EXPECT_EQ(ev.History().front()["event"], "resolved");
}

TEST(AlertEvaluatorTest, PendingThatClearsSaysNothing) {
  AlertEvaluator ev(DepthOnly(), nullptr);
  EXPECT_TRUE(ev.Evaluate(Depth(kStart, 4)).empty());
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 5'000, 1)).empty());
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 20'000, 1)).empty());
  EXPECT_TRUE(ev.Active().empty());
}

TEST(AlertEvaluatorTest, CriticalInhibitsTheWarningOfTheSameLabels) {
  AlertEvaluator ev(DepthOnly(), nullptr);
  ev.Evaluate(Depth(kStart, 8));
  auto sent = Flatten(ev.Evaluate(Depth(kStart + 10'000, 8)));
  // Both levels are crossed; only the critical is said.
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].severity, AlertSeverity::kCritical);
  auto active = ev.Active();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].alert.severity, AlertSeverity::kCritical);
  EXPECT_TRUE(active[1].inhibited);
  // The critical clears, the warning holds: now the warning is said.
  sent = Flatten(ev.Evaluate(Depth(kStart + 12'000, 4)));
  ASSERT_EQ(sent.size(), 2u);
  int resolved = 0, firing = 0;
  for (const Alert& a : sent) {
    if (!a.firing && a.severity == AlertSeverity::kCritical) ++resolved;
    if (a.firing && a.severity == AlertSeverity::kWarning) ++firing;
  }
  EXPECT_EQ(resolved, 1);
  EXPECT_EQ(firing, 1);
}

TEST(AlertEvaluatorTest, KeepFiringForHoldsThroughABriefDip) {
  AlertConfig c = DepthOnly();
  c.rules[0].keep_firing_for_ms = 30'000;
  AlertEvaluator ev(c, nullptr);
  ev.Evaluate(Depth(kStart, 4));
  ASSERT_EQ(Flatten(ev.Evaluate(Depth(kStart + 10'000, 4))).size(), 1u);
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 20'000, 0)).empty());  // still firing
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 25'000, 4)).empty());  // back: same alert
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 50'000, 0)).empty());
  auto sent = Flatten(ev.Evaluate(Depth(kStart + 56'000, 0)));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(sent[0].firing);
}

TEST(AlertEvaluatorTest, SilenceStopsNotificationsButNotTheResolvedNotice) {
  Silences silences;
  AlertEvaluator ev(DepthOnly(), &silences);
  ev.Evaluate(Depth(kStart, 4));
  ASSERT_EQ(Flatten(ev.Evaluate(Depth(kStart + 10'000, 4))).size(), 1u);
  Silence s;
  s.matchers = {{.name = "alertname", .value = "queue_depth"},
                {.name = "class", .value = "sh.*", .is_regex = true}};
  s.starts_at = kStart + 10'000;
  s.ends_at = kStart + 200'000;
  ASSERT_TRUE(silences.Add(s).ok());
  EXPECT_TRUE(ev.Evaluate(Depth(kStart + 80'000, 4)).empty());  // the repeat is silenced
  ASSERT_EQ(ev.Active().size(), 1u);
  EXPECT_EQ(ev.Active()[0].silenced_by.size(), 1u);
  auto sent = Flatten(ev.Evaluate(Depth(kStart + 90'000, 0)));
  ASSERT_EQ(sent.size(), 1u);  // it was heard firing, so its end is said
  EXPECT_FALSE(sent[0].firing);

  // A silence that does not match lets alerts through.
  Silences other;
  Silence miss;
  miss.matchers = {{.name = "class", .value = "long"}};
  miss.starts_at = kStart;
  miss.ends_at = kStart + 200'000;
  ASSERT_TRUE(other.Add(miss).ok());
  AlertEvaluator ev2(DepthOnly(), &other);
  ev2.Evaluate(Depth(kStart, 4));
  EXPECT_EQ(Flatten(ev2.Evaluate(Depth(kStart + 10'000, 4))).size(), 1u);
}

TEST(AlertEvaluatorTest, ErrorRateNeedsEnoughJobsInTheWindow) {
  AlertConfig c = DefaultAlertConfig();
  for (RuleConfig& r : c.rules) r.enabled = r.kind == RuleKind::kErrorRate;
  c.rules[4].for_ms = 0;
  c.rules[4].min_jobs = 10;
  AlertEvaluator ev(c, nullptr);
  AlertSignals s;
  s.now = kStart;
  ev.Evaluate(s);
  s.now += 60'000;
  s.finished_total = 5;
  s.failed_total = 5;  // 100 %, but only 5 jobs
  EXPECT_TRUE(ev.Evaluate(s).empty());
  s.now += 60'000;
  s.finished_total = 20;
  s.failed_total = 8;  // 40 % of 20
  auto sent = Flatten(ev.Evaluate(s));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].severity, AlertSeverity::kCritical);
  EXPECT_DOUBLE_EQ(sent[0].value, 0.4);
  // Ten minutes of clean jobs later the window no longer holds the failures.
  for (int i = 0; i < 10; ++i) {
    s.now += 60'000;
    s.finished_total += 30;
    sent = Flatten(ev.Evaluate(s));
  }
  EXPECT_TRUE(ev.Active().empty());
}

TEST(AlertEvaluatorTest, NoWorkerAndStalledWatchQueuedWork) {
  AlertConfig c = DefaultAlertConfig();
  for (RuleConfig& r : c.rules) {
    r.enabled = r.kind == RuleKind::kNoWorker || r.kind == RuleKind::kStalled;
    r.for_ms = 0;
    r.window_ms = 60'000;
  }
  AlertEvaluator ev(c, nullptr);
  AlertSignals s = Depth(kStart, 2);
  s.workers_alive = 0;
  auto sent = Flatten(ev.Evaluate(s));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].rule, "no_worker");
  // A worker is back but nothing moves for the whole window: stalled.
  s.workers_alive = 1;
  s.now += 30'000;
  sent = Flatten(ev.Evaluate(s));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(sent[0].firing);  // no_worker resolved
  s.now += 31'000;
  sent = Flatten(ev.Evaluate(s));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].rule, "stalled");
  // Progress resolves it.
  s.now += 5'000;
  s.work_done_total += 100;
  sent = Flatten(ev.Evaluate(s));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(sent[0].firing);
}

// store_errors fires while the store refuses writes and resolves a window after the last
// refusal; disk_free fires below its levels (warning, then critical), never above them.
TEST(AlertEvaluatorTest, StoreErrorsAndDiskFreeWatchTheStore) {
  AlertConfig c = DefaultAlertConfig();
  for (RuleConfig& r : c.rules) {
    r.enabled = r.kind == RuleKind::kStoreErrors || r.kind == RuleKind::kDiskFree;
    r.for_ms = 0;
  }
  AlertEvaluator ev(c, nullptr);
  AlertSignals s = Depth(kStart, 0);
  s.data_dir_free_bytes = 100LL << 30;
  EXPECT_TRUE(ev.Evaluate(s).empty());
  s.now += 5'000;
  s.store_write_failures_total = 3;
  auto sent = Flatten(ev.Evaluate(s));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].rule, "store_errors");
  EXPECT_TRUE(sent[0].firing);
  EXPECT_EQ(sent[0].severity, AlertSeverity::kCritical);
  // Writes are taken again: it holds for the window, then resolves.
  s.now += 30'000;
  EXPECT_TRUE(Flatten(ev.Evaluate(s)).empty());
  s.now += 31'000;
  sent = Flatten(ev.Evaluate(s));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(sent[0].firing);

  s.now += 5'000;
  s.data_dir_free_bytes = 3LL << 30;
  sent = Flatten(ev.Evaluate(s));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].rule, "disk_free");
  EXPECT_EQ(sent[0].severity, AlertSeverity::kWarning);
  s.now += 5'000;
  s.data_dir_free_bytes = 100LL << 20;
  sent = Flatten(ev.Evaluate(s));
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent[0].severity, AlertSeverity::kCritical);
  s.now += 5'000;
  s.data_dir_free_bytes = -1;  // not known: says nothing
  sent = Flatten(ev.Evaluate(s));
  ASSERT_FALSE(sent.empty());
  for (const Alert& a : sent) EXPECT_FALSE(a.firing);
}

TEST(AlertEvaluatorTest, FingerprintIsStableAndLabelSensitive) {
  const std::map<std::string, std::string> a{{"alertname", "x"}, {"class", "short"}};
  EXPECT_EQ(Fingerprint(a), Fingerprint(a));
  EXPECT_EQ(Fingerprint(a).size(), 16u);
  EXPECT_NE(Fingerprint(a), Fingerprint({{"alertname", "x"}, {"class", "long"}}));
  // Separators matter: ("ab","c") is not ("a","bc").
  EXPECT_NE(Fingerprint({{"ab", "c"}}), Fingerprint({{"a", "bc"}}));
}

}  // namespace
}  // namespace glmq

namespace glmq {
namespace {

// A second process that takes over the evaluation continues where the first stopped: no
// early repeat, and the resolved notice still comes.
TEST(AlertEvaluatorTest, StateMovesToTheNextEvaluator) {
  AlertEvaluator first(DepthOnly(), nullptr);
  first.Evaluate(Depth(kStart, 4));
  ASSERT_EQ(Flatten(first.Evaluate(Depth(kStart + 10'000, 4))).size(), 1u);
  const nlohmann::json saved = first.ExportState();

  AlertEvaluator next(DepthOnly(), nullptr);
  next.ImportState(nlohmann::json::parse(saved.dump()));
  EXPECT_TRUE(next.Evaluate(Depth(kStart + 20'000, 4)).empty());  // said 10 s ago
  auto sent = Flatten(next.Evaluate(Depth(kStart + 71'000, 4)));
  ASSERT_EQ(sent.size(), 1u);  // the repeat, on time
  EXPECT_EQ(sent[0].starts_at, kStart + 10'000);
  sent = Flatten(next.Evaluate(Depth(kStart + 80'000, 0)));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(sent[0].firing);
  // Garbage or an unknown version is ignored, not trusted.
  AlertEvaluator fresh(DepthOnly(), nullptr);
  fresh.ImportState(nlohmann::json::parse(R"({"version":7,"alerts":[1]})"));
  fresh.ImportState(nlohmann::json());
  EXPECT_TRUE(fresh.Active().empty());
}

// batch_window: a batch expected to need most of the time its window has left warns, one
// expected to finish after its window closes is critical; a batch without an estimate yet,
// or one with time to spare, says nothing.
TEST(AlertEvaluatorTest, BatchWindowWarnsOfABatchThatWouldMissItsWindow) {
  AlertConfig c = DefaultAlertConfig();
  for (RuleConfig& r : c.rules) {
    r.enabled = r.kind == RuleKind::kBatchWindow;
    r.for_ms = 0;
  }
  AlertEvaluator ev(c, nullptr);
  AlertSignals s;
  s.now = kStart;
  s.workers_alive = 1;
  constexpr TimeMs kHour = 3'600'000;
  s.batches = {
      {.id = "batch_late", .expires_at = kStart + kHour, .estimated_finish_at = kStart + 2 * kHour},
      {.id = "batch_tight",
       .expires_at = kStart + kHour,
       .estimated_finish_at = kStart + 54 * 60'000},
      {.id = "batch_fine",
       .expires_at = kStart + kHour,
       .estimated_finish_at = kStart + 10 * 60'000},
      {.id = "batch_new", .expires_at = kStart + kHour, .estimated_finish_at = 0}};
  std::map<std::string, std::string> severity_of;
  for (const Alert& a : Flatten(ev.Evaluate(s))) {
    EXPECT_EQ(a.labels.at("alertname"), "batch_window");
    severity_of[a.labels.at("batch")] = AlertSeverityName(a.severity);
  }
  EXPECT_EQ(severity_of, (std::map<std::string, std::string>{{"batch_late", "critical"},
                                                             {"batch_tight", "warning"}}));
}

}  // namespace
}  // namespace glmq
