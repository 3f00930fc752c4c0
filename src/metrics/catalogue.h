// The metrics glmq exports (GET /metrics), by name: counters and histograms fed by events
// as they happen (JobMetrics), and gauges read at scrape time from one reading of the queue
// (sched/queue_report.h), the one /v1/queue and the alert rules use too.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "alert/service.h"
#include "core/model_info.h"
#include "metrics/metrics.h"
#include "sched/job_stats.h"
#include "sched/queue_report.h"
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

// Gauges read at scrape time from `reporter`: queue per class, throughput, KV, sequences,
// drain time, token totals, workers, and the alerts of `alerts` (if any) pending and firing.
// `model` is the engine's.
void AddQueueCollectors(metrics::Registry& registry, const QueueReporter& reporter,
                        const ModelInfo& model, const AlertService* alerts);

}  // namespace glmq
