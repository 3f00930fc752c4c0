// The alert state machine: turns measured signals into alerts and decides which alerts
// must be notified now (new, repeated or resolved), with `for`, `keep_firing_for`, repeat
// intervals, silences and inhibition of a warning by the critical of the same rule.
//
// Pure and single-threaded: AlertService calls Evaluate() from its own thread with the
// time passed in, so tests drive it with any clock.
#pragma once

#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "alert/alert.h"
#include "alert/rules.h"
#include "alert/silences.h"
#include "core/job.h"
#include "store/job_store.h"

namespace glmq {

// What the rules look at, measured once per evaluation.
// A running batch of the Batch API as the batch_window rule sees it.
struct BatchOutlook {
  std::string id;
  TimeMs expires_at = 0;
  TimeMs estimated_finish_at = 0;  // 0: no estimate yet
};

struct AlertSignals {
  TimeMs now = 0;
  std::map<LengthClass, ClassStats> classes;  // queued, queued tokens, oldest per class
  double predicted_drain_seconds = 0;
  double longest_running_seconds = 0;
  std::string longest_running_job;
  // Cumulative counts of finished jobs: windows are differences between evaluations.
  int64_t finished_total = 0;
  int64_t failed_total = 0;
  // Cumulative tokens read and generated: a stall is no change while work is queued.
  int64_t work_done_total = 0;
  int64_t workers_alive = 0;
  // Store writes refused so far (cumulative), and the data directory's free bytes (-1: not
  // known, e.g. on Redis).
  int64_t store_write_failures_total = 0;
  int64_t data_dir_free_bytes = -1;
  std::vector<BatchOutlook> batches;  // running batches (glmq serve)
};

struct AlertView {
  Alert alert;
  bool pending = false;  // condition true, `for` not yet elapsed
  bool inhibited = false;
  std::vector<std::string> silenced_by;
};

class AlertEvaluator {
 public:
  AlertEvaluator(AlertConfig config, const Silences* silences);

  // Updates every alert from `signals` and returns what to send now, one Notification per
  // rule that has something to say.
  std::vector<Notification> Evaluate(const AlertSignals& signals);

  // Active (pending and firing) alerts, and the last state changes, newest first.
  std::vector<AlertView> Active() const;
  const std::deque<nlohmann::json>& History() const { return history_; }
  const AlertConfig& config() const { return config_; }

  // What was said of which alert, so that another process that takes over the evaluation
  // (distributed mode) neither repeats a notice early nor misses a resolved one.
  nlohmann::json ExportState() const;
  void ImportState(const nlohmann::json& state);

 private:
  struct Tracked {
    Alert alert;
    const RuleConfig* rule = nullptr;
    TimeMs active_since = 0;  // condition first seen true
    TimeMs last_true = 0;
    TimeMs last_sent = 0;  // 0: never notified
    bool firing = false;
  };
  struct Condition {
    const RuleConfig* rule;
    AlertSeverity severity;
    std::map<std::string, std::string> labels;
    double value;
    double threshold;
    std::string summary;
  };

  std::vector<Condition> Conditions(const AlertSignals& s);
  bool Inhibited(const Tracked& t) const;
  void Record(const Tracked& t, const char* event, TimeMs now);

  const AlertConfig config_;
  const Silences* silences_;
  std::map<std::string, Tracked> tracked_;  // by fingerprint
  struct Sample {
    TimeMs at;
    int64_t finished;
    int64_t failed;
    int64_t work_done;
    int64_t store_failures;
  };
  std::deque<Sample> samples_;  // for windowed rules, oldest first
  std::deque<nlohmann::json> history_;
};

// Alertmanager-style fingerprint of a label set: 16 hex digits, stable across runs.
std::string Fingerprint(const std::map<std::string, std::string>& labels);

}  // namespace glmq
