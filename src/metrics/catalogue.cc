#include "metrics/catalogue.h"

#include <spdlog/spdlog.h>

#include "metrics/buckets.h"
#include "metrics/exposition.h"
#include "sched/policy.h"

namespace glmq {
namespace {

// See JobMetrics::open_jobs_: twice the default retention, far past any live job's events.
constexpr int64_t kForgetOpenJobMs = 48 * 3600 * 1000;
// The map is swept for forgotten jobs whenever it has doubled since the last sweep.
constexpr size_t kFirstSweepSize = 65'536;

}  // namespace

JobMetrics::JobMetrics(metrics::Registry& r)
    : submitted_(r.AddCounter("glmq_jobs_submitted_total", "Jobs accepted (202), by length class.",
                              {"class"})),
      finished_(r.AddCounter("glmq_jobs_finished_total",
                             "Jobs that reached a terminal state, by state and length class.",
                             {"state", "class"})),
      queue_wait_(r.AddHistogram("glmq_queue_wait_seconds",
                                 "Seconds from submit to the start of the run.", {"class"},
                                 metrics::JobLatencyBuckets())),
      run_(r.AddHistogram("glmq_job_run_seconds", "Seconds from start to end of a run.", {"class"},
                          metrics::JobLatencyBuckets())),
      first_token_(r.AddHistogram("glmq_time_to_first_token_seconds",
                                  "Seconds from submit to the first generated token.", {"class"},
                                  metrics::JobLatencyBuckets())),
      http_requests_(r.AddCounter("glmq_http_requests_total",
                                  "HTTP requests answered, by route pattern and status code.",
                                  {"route", "code"})),
      http_seconds_(r.AddHistogram("glmq_http_request_duration_seconds",
                                   "Seconds to answer an HTTP request, by route pattern.",
                                   {"route"}, metrics::HttpLatencyBuckets())),
      notifications_(r.AddCounter("glmq_notifications_total",
                                  "Alert notifications by channel and outcome (sent, failed, "
                                  "retried, merged into a digest).",
                                  {"channel", "outcome"})) {
  // Every series from the start, so rates and sums see 0 rather than nothing.
  for (LengthClass c : kAllLengthClasses) {
    const std::string cls = LengthClassName(c);
    submitted_->With({cls});
    for (JobState s :
         {JobState::kSucceeded, JobState::kFailed, JobState::kCancelled, JobState::kExpired}) {
      finished_->With({JobStateName(s), cls});
    }
  }
}

void JobMetrics::Submitted(const Job& job) {
  submitted_->With({LengthClassName(job.length_class)}).Inc();
  Remember(job.id, job.length_class);
}

void JobMetrics::Remember(const std::string& id, LengthClass length_class) {
  const TimeMs now = NowMs();
  std::lock_guard lock(mu_);
  open_jobs_[id] = Open{length_class, now};
  if (open_jobs_.size() < std::max(sweep_at_size_, kFirstSweepSize)) return;
  std::erase_if(open_jobs_,
                [now](const auto& entry) { return now - entry.second.since > kForgetOpenJobMs; });
  sweep_at_size_ = 2 * open_jobs_.size();
}

void JobMetrics::StateChanged(const std::string& id, JobState state, ChangeOrigin origin) {
  if (!IsTerminal(state)) return;
  std::string cls = "unknown";
  {
    std::lock_guard lock(mu_);
    if (auto it = open_jobs_.find(id); it != open_jobs_.end()) {
      cls = LengthClassName(it->second.length_class);
      open_jobs_.erase(it);
    }
  }
  if (origin == ChangeOrigin::kHere) finished_->With({JobStateName(state), cls}).Inc();
}

void JobMetrics::JobEvent(const glmq::JobEvent& e) {
  const std::string cls = LengthClassName(e.length_class);
  switch (e.kind) {
    case JobEvent::Kind::kStarted:
      Remember(e.job_id, e.length_class);
      queue_wait_->With({cls}).Observe(e.seconds);
      break;
    case JobEvent::Kind::kFirstToken:
      first_token_->With({cls}).Observe(e.seconds);
      break;
    case JobEvent::Kind::kFinished:
      run_->With({cls}).Observe(e.seconds);
      break;
  }
}

void JobMetrics::HttpRequest(const std::string& route, int status, double seconds) {
  http_requests_->With({route, std::to_string(status)}).Inc();
  http_seconds_->With({route}).Observe(seconds);
}

void JobMetrics::Notification(const std::string& channel, const std::string& outcome) {
  notifications_->With({channel, outcome}).Inc();
}

void AddQueueCollectors(metrics::Registry& registry, const QueueReporter& reporter,
                        const ModelInfo& model, const AlertService* alerts) {
  registry.AddCollector([&reporter, &model, alerts](metrics::Exposition& out) {
    auto report = reporter.Read(/*with_running_jobs=*/false);
    if (!report.ok()) {
      spdlog::warn("metrics: reading the queue failed: {}", report.status().ToString());
      return;
    }
    const QueueReport& r = *report;
    for (LengthClass c : kAllLengthClasses) {
      auto it = r.queue.classes.find(c);
      const ClassStats s = it == r.queue.classes.end() ? ClassStats{} : it->second;
      const metrics::Labels labels{{"class", LengthClassName(c)}};
      out.Gauge("glmq_queue_depth", "Queued jobs per length class.", labels,
                static_cast<double>(s.queued));
      out.Gauge("glmq_queue_prompt_tokens", "Prompt tokens of the queued jobs per class.", labels,
                static_cast<double>(s.queued_prompt_tokens));
      out.Gauge("glmq_queue_oldest_age_seconds",
                "Age of the oldest queued job per class (0 when none).", labels,
                s.oldest_created_at > 0 ? (r.now - s.oldest_created_at) / 1000.0 : 0.0);
    }
    out.Gauge("glmq_dead_letter_jobs", "Jobs failed after their last delivery.", {},
              static_cast<double>(r.queue.dead_letter));
    out.Gauge("glmq_predicted_drain_seconds",
              "Seconds to finish the queued and running work at the measured throughput.", {},
              r.predicted_drain_seconds);
    const ThroughputSnapshot& rates = r.capacity.rates;
    const char* help_tps = "Measured throughput in tokens per second by phase.";
    out.Gauge("glmq_throughput_tokens_per_second", help_tps, {{"phase", "prefill"}},
              rates.prefill_tokens_per_second);
    out.Gauge("glmq_throughput_tokens_per_second", help_tps, {{"phase", "decode"}},
              rates.decode_tokens_per_second);
    out.Gauge("glmq_throughput_tokens_per_second", help_tps, {{"phase", "recent"}},
              rates.recent_tokens_per_second);
    out.Counter("glmq_prompt_tokens_total", "Prompt tokens read by the engine.", {},
                static_cast<double>(rates.prompt_tokens_total));
    out.Counter("glmq_generated_tokens_total", "Tokens generated by the engine.", {},
                static_cast<double>(rates.generated_tokens_total));
    out.Counter("glmq_prompt_tokens_reused_total",
                "Prompt tokens taken from the KV of another job with the same prefix instead of "
                "being read (--prefix-cache).",
                {}, static_cast<double>(rates.reused_prompt_tokens_total));
    const RunningWork work = r.local.value_or(RunningWork{});
    out.Gauge("glmq_kv_used_tokens", "KV cache tokens reserved by running jobs.", {},
              static_cast<double>(work.kv_reserved_tokens));
    out.Gauge("glmq_kv_capacity_tokens", "KV cache tokens shared by all sequences.", {},
              static_cast<double>(model.ctx_size));
    out.Gauge("glmq_running_sequences", "Sequences the engine is running.", {},
              static_cast<double>(work.sequences));
    out.Gauge("glmq_parallel_sequences", "Sequences the engine can run at once.", {},
              static_cast<double>(model.parallel));
    out.Gauge("glmq_running_job_max_seconds", "How long the longest-running job has run.", {},
              r.longest_running_seconds);
    out.Gauge("glmq_workers_alive", "Engines whose scheduler loop turned recently.", {},
              static_cast<double>(r.workers_alive));
    out.Counter("glmq_store_write_failures_total",
                "Store writes refused (disk full, I/O error, store down), as this process saw.", {},
                static_cast<double>(r.store_health.failures_total));
    if (r.storage.store_bytes >= 0) {
      out.Gauge("glmq_store_bytes", "Bytes the embedded store's files take.", {},
                static_cast<double>(r.storage.store_bytes));
    }
    if (r.storage.free_bytes >= 0) {
      out.Gauge("glmq_data_dir_free_bytes", "Free bytes on the file system of the data directory.",
                {}, static_cast<double>(r.storage.free_bytes));
    }
    if (alerts) {
      // As Alertmanager exports alertmanager_alerts: every alert pending or firing now.
      std::map<std::pair<std::string, std::string>, int> firing, pending;
      for (const AlertView& v : alerts->Active()) {
        auto& counts = v.pending ? pending : firing;
        ++counts[{v.alert.rule, AlertSeverityName(v.alert.severity)}];
      }
      for (const auto& [key, n] : firing) {
        out.Gauge("glmq_alerts_firing", "Alerts firing, by rule and severity.",
                  {{"alertname", key.first}, {"severity", key.second}}, n);
      }
      const char* help = "Alerts pending (condition true, 'for' not yet over) or firing.";
      for (const auto* counts : {&pending, &firing}) {
        const char* state = counts == &pending ? "pending" : "firing";
        for (const auto& [key, n] : *counts) {
          out.Gauge("glmq_alerts", help,
                    {{"alertname", key.first}, {"severity", key.second}, {"state", state}}, n);
        }
      }
    }
  });
}

}  // namespace glmq
