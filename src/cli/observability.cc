#include "cli/observability.h"

#include <spdlog/spdlog.h>

#include "metrics/buckets.h"
#include "metrics/exposition.h"
#include "sched/policy.h"

namespace glmq {
namespace {

// The scheduler loop turns at least every housekeeping interval and the engine beats between
// graph nodes inside a step: this long without either is a stuck engine, not a slow one.
constexpr int64_t kWorkerSilenceMs = 120'000;
// See JobMetrics::open_jobs_: twice the default retention, far past any live job's events.
constexpr int64_t kForgetOpenJobMs = 48 * 3600 * 1000;
// The map is swept for forgotten jobs whenever it has doubled since the last sweep.
constexpr size_t kFirstSweepSize = 65'536;

bool IsWorkerAlive(const Scheduler& scheduler, TimeMs now) {
  const TimeMs at = scheduler.alive_at();
  return at > 0 && now - at < kWorkerSilenceMs;
}

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

Result<AlertSignals> MeasureAlertSignals(JobStore& store, const Scheduler* scheduler,
                                         const CapacitySource& capacity) {
  AlertSignals s;
  s.now = NowMs();
  GLMQ_ASSIGN_OR_RETURN(QueueSnapshot queue, store.Snapshot());
  s.classes = queue.classes;
  const Capacity c = capacity.Now();
  const ThroughputSnapshot& rates = c.rates;
  const RunningWork work = scheduler ? scheduler->running_work() : RunningWork{};
  s.predicted_drain_seconds =
      PredictedDrainSeconds(rates, queue, c.running_prompt_tokens_left, c.running_max_tokens_left);
  if (work.oldest_started_at > 0) {
    s.longest_running_seconds = (s.now - work.oldest_started_at) / 1000.0;
    s.longest_running_job = work.oldest_job;
  }
  auto total = [&queue](JobState state) {
    auto it = queue.totals.find(state);
    return it == queue.totals.end() ? int64_t{0} : it->second;
  };
  s.failed_total = total(JobState::kFailed) + total(JobState::kExpired);
  s.finished_total = s.failed_total + total(JobState::kSucceeded) + total(JobState::kCancelled);
  s.work_done_total = rates.prompt_tokens_total + rates.generated_tokens_total;
  if (scheduler) {
    s.workers_alive = IsWorkerAlive(*scheduler, s.now) ? 1 : 0;
    return s;
  }
  // A gateway: the workers are elsewhere; the store knows who is alive and what runs.
  GLMQ_ASSIGN_OR_RETURN(s.workers_alive, store.LiveWorkers(s.now));
  ListFilter running;
  running.state = JobState::kRunning;
  running.limit = 1000;
  GLMQ_ASSIGN_OR_RETURN(std::vector<Job> jobs, store.List(running));
  // Tokens move on the workers; a gateway sees them in the running jobs' progress.
  s.work_done_total = 0;
  for (const Job& j : jobs) {
    const double seconds = j.started_at > 0 ? (s.now - j.started_at) / 1000.0 : 0.0;
    if (seconds > s.longest_running_seconds) {
      s.longest_running_seconds = seconds;
      s.longest_running_job = j.id;
    }
    s.work_done_total += j.progress.prompt_tokens_read + j.progress.completion_tokens;
  }
  return s;
}

void AddWebhookCollector(metrics::Registry& registry, const WebhookSender& sender) {
  registry.AddCollector([&sender](metrics::Exposition& out) {
    const char* help =
        "Webhook tries by result: delivered (2xx), failed (tried again later), gave_up.";
    const WebhookSender::Counts& c = sender.counts();
    out.Counter("glmq_webhook_deliveries_total", help, {{"result", "delivered"}},
                static_cast<double>(c.delivered.load()));
    out.Counter("glmq_webhook_deliveries_total", help, {{"result", "failed"}},
                static_cast<double>(c.failed.load()));
    out.Counter("glmq_webhook_deliveries_total", help, {{"result", "gave_up"}},
                static_cast<double>(c.gave_up.load()));
  });
}

void AddServeCollectors(metrics::Registry& registry, JobStore& store, const Scheduler& scheduler,
                        const ThroughputMeter& meter, const Engine& engine,
                        const AlertService* alerts) {
  registry.AddCollector([&store, &scheduler, &meter, &engine, alerts](metrics::Exposition& out) {
    const TimeMs now = NowMs();
    const ThroughputSnapshot rates = meter.Snapshot();
    const RunningWork work = scheduler.running_work();
    auto queue = store.Snapshot();
    if (queue.ok()) {
      for (LengthClass c : kAllLengthClasses) {
        auto it = queue->classes.find(c);
        const ClassStats s = it == queue->classes.end() ? ClassStats{} : it->second;
        const metrics::Labels labels{{"class", LengthClassName(c)}};
        out.Gauge("glmq_queue_depth", "Queued jobs per length class.", labels,
                  static_cast<double>(s.queued));
        out.Gauge("glmq_queue_prompt_tokens", "Prompt tokens of the queued jobs per class.", labels,
                  static_cast<double>(s.queued_prompt_tokens));
        out.Gauge("glmq_queue_oldest_age_seconds",
                  "Age of the oldest queued job per class (0 when none).", labels,
                  s.oldest_created_at > 0 ? (now - s.oldest_created_at) / 1000.0 : 0.0);
      }
      out.Gauge("glmq_dead_letter_jobs", "Jobs failed after their last delivery.", {},
                static_cast<double>(queue->dead_letter));
      out.Gauge(
          "glmq_predicted_drain_seconds",
          "Seconds to finish the queued and running work at the measured throughput.", {},
          PredictedDrainSeconds(rates, *queue, work.prompt_tokens_left, work.max_tokens_left));
    } else {
      spdlog::warn("metrics: reading the queue failed: {}", queue.status().ToString());
    }
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
    const ModelInfo& info = engine.info();
    out.Gauge("glmq_kv_used_tokens", "KV cache tokens reserved by running jobs.", {},
              static_cast<double>(work.kv_reserved_tokens));
    out.Gauge("glmq_kv_capacity_tokens", "KV cache tokens shared by all sequences.", {},
              static_cast<double>(info.ctx_size));
    out.Gauge("glmq_running_sequences", "Sequences the engine is running.", {},
              static_cast<double>(work.sequences));
    out.Gauge("glmq_parallel_sequences", "Sequences the engine can run at once.", {},
              static_cast<double>(info.parallel));
    out.Gauge("glmq_running_job_max_seconds", "How long the longest-running job has run.", {},
              work.oldest_started_at > 0 ? (now - work.oldest_started_at) / 1000.0 : 0.0);
    out.Gauge("glmq_workers_alive", "Engines whose scheduler loop turned recently.", {},
              IsWorkerAlive(scheduler, now) ? 1.0 : 0.0);
    if (alerts) {
      std::map<std::pair<std::string, std::string>, int> firing;
      for (const AlertView& v : alerts->Active()) {
        if (v.pending) continue;
        ++firing[{v.alert.rule, AlertSeverityName(v.alert.severity)}];
      }
      for (const auto& [key, n] : firing) {
        out.Gauge("glmq_alerts_firing", "Alerts firing, by rule and severity.",
                  {{"alertname", key.first}, {"severity", key.second}}, n);
      }
    }
  });
}

Alerting::~Alerting() {
  if (service) service->Stop();
  // Let what the last evaluation said go out, briefly: a resolved notice matters.
  if (dispatcher) dispatcher->Flush(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

Result<std::unique_ptr<Alerting>> MakeAlerting(const AlertConfig& config, SilenceStorage silences,
                                               AlertService::SignalSource source,
                                               JobMetrics* job_metrics) {
  auto alerting = std::make_unique<Alerting>();
  alerting->silences = std::make_unique<Silences>(std::move(silences));
  GLMQ_RETURN_IF_ERROR(alerting->silences->Load());

  std::vector<ChannelConfig> channels = config.channels;
  bool has_log = false;
  for (const ChannelConfig& c : channels) has_log = has_log || c.type == "log";
  if (!has_log) {
    ChannelConfig log;
    log.name = "log";
    log.type = "log";
    channels.insert(channels.begin(), log);
  }
  DispatcherOptions options;
  if (job_metrics) {
    options.observer = [job_metrics](const std::string& channel, const std::string& outcome) {
      job_metrics->Notification(channel, outcome);
    };
  }
  GLMQ_ASSIGN_OR_RETURN(alerting->dispatcher, MakeDispatcher(channels, options));
  Dispatcher* dispatcher = alerting->dispatcher.get();
  alerting->service = std::make_unique<AlertService>(
      config, *alerting->silences, std::move(source),
      [dispatcher](const Notification& n) { dispatcher->Enqueue(n); });
  std::string names;
  for (const ChannelConfig& c : channels) names += (names.empty() ? "" : ", ") + c.name;
  spdlog::info("alerts: notifying {}", names);
  return alerting;
}

}  // namespace glmq
