// Observability of a `glmq serve` process: the Prometheus metrics (GET /metrics) and the
// backlog alerting that watches the same numbers. Wiring only: the metrics library lives in
// metrics/, the rules and notifiers in alert/.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "alert/dispatcher.h"
#include "alert/rules.h"
#include "alert/service.h"
#include "alert/silences.h"
#include "api/webhooks.h"
#include "engine/engine.h"
#include "metrics/metrics.h"
#include "sched/capacity.h"
#include "sched/job_stats.h"
#include "sched/scheduler.h"
#include "sched/throughput.h"
#include "store/job_store.h"

namespace glmq {

// Counters and histograms fed by events as they happen. Thread-safe.
class JobMetrics {
 public:
  explicit JobMetrics(metrics::Registry& registry);

  // From the API once a job is durable.
  void Submitted(const Job& job);
  // From the store's listener: every state change of every job. A job's end counts in
  // glmq_jobs_finished_total where it was made (kHere), so that the sum over the gateways
  // and workers sharing a store counts each job once.
  void StateChanged(const std::string& id, JobState state, ChangeOrigin origin);
  // From the scheduler (JobStats listener).
  void JobEvent(const glmq::JobEvent& event);
  void HttpRequest(const std::string& route, int status, double seconds);
  void Notification(const std::string& channel, const std::string& outcome);

 private:
  metrics::CounterFamily* submitted_;
  metrics::CounterFamily* finished_;
  metrics::HistogramFamily* queue_wait_;
  metrics::HistogramFamily* run_;
  metrics::HistogramFamily* first_token_;
  metrics::CounterFamily* http_requests_;
  metrics::HistogramFamily* http_seconds_;
  metrics::CounterFamily* notifications_;

  // Remembers the class of a job submitted or started here: the store's events carry only
  // the state.
  void Remember(const std::string& id, LengthClass length_class);

  struct Open {
    LengthClass length_class;
    TimeMs since;
  };
  std::mutex mu_;
  // Jobs submitted or started here and not ended yet. An entry leaves when the job's end is
  // heard from any process; one whose end was never heard (an event lost while the store was
  // unreachable) is forgotten after kForgetOpenJobMs, so the map stays bounded. A job ended
  // without an entry (accepted before a restart, or by another gateway, and ended here, say
  // by cancel) counts as class "unknown".
  std::unordered_map<std::string, Open> open_jobs_;  // guarded by mu_
  size_t sweep_at_size_ = 0;                         // guarded by mu_
};

// What the alert rules look at, measured now.
// `capacity` gives the speeds behind the predicted drain time: this process's engine, or
// the live workers' reports on a gateway.
Result<AlertSignals> MeasureAlertSignals(JobStore& store, const Scheduler* scheduler,
                                         const CapacitySource& capacity);

// glmq_webhook_deliveries_total{result}: this process's webhook tries.
void AddWebhookCollector(metrics::Registry& registry, const WebhookSender& sender);

// Gauges read at scrape time: queue per class, throughput, KV, sequences, drain time,
// token totals, workers, alerts firing.
void AddServeCollectors(metrics::Registry& registry, JobStore& store, const Scheduler& scheduler,
                        const ThroughputMeter& meter, const Engine& engine,
                        const AlertService* alerts);

// The alerting parts of one process, started together and stopped in reverse.
struct Alerting {
  std::unique_ptr<Silences> silences;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<AlertService> service;

  ~Alerting();
};

// Builds the dispatcher (a "log" channel is always there) and the evaluator; silences live
// in `silences`. Does not start the evaluation thread.
Result<std::unique_ptr<Alerting>> MakeAlerting(const AlertConfig& config, SilenceStorage silences,
                                               AlertService::SignalSource source,
                                               JobMetrics* job_metrics);

}  // namespace glmq
