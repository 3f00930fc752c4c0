#include "alert/service.h"

#include <spdlog/spdlog.h>

namespace glmq {

using json = nlohmann::json;

json AlertViewJson(const AlertView& v) {
  const Alert& a = v.alert;
  return {{"alertname", a.rule},
          {"severity", AlertSeverityName(a.severity)},
          {"state", v.pending ? "pending" : "firing"},
          {"labels", a.labels},
          {"annotations", a.annotations},
          {"value", a.value},
          {"threshold", a.threshold},
          {"starts_at", a.starts_at > 0 ? json(a.starts_at / 1000.0) : json(nullptr)},
          {"fingerprint", a.fingerprint},
          {"inhibited", v.inhibited},
          {"silenced_by", v.silenced_by}};
}

AlertService::AlertService(AlertConfig config, Silences& silences, SignalSource source, Sink sink)
    : silences_(silences),
      source_(std::move(source)),
      sink_(std::move(sink)),
      interval_ms_(config.interval_ms),
      evaluator_(std::move(config), &silences) {}

AlertService::~AlertService() { Stop(); }

void AlertService::Start() {
  spdlog::info("alerts: evaluating {} rules every {} ms", std::size(kAllRuleKinds), interval_ms_);
  loop_ = std::make_unique<Periodic>(std::chrono::milliseconds(interval_ms_),
                                     [this] { EvaluateOnce(); });
}

void AlertService::Stop() { loop_.reset(); }

void AlertService::EvaluateOnce() {
  if (gate_ && !gate_()) {
    evaluating_ = false;
    return;
  }
  if (!evaluating_ && load_state_) {
    // Taking over: continue from what the last evaluator said.
    auto saved = load_state_();
    if (!saved.ok()) {
      spdlog::warn("alerts: cannot read the shared state, not evaluating yet: {}",
                   saved.status().ToString());
      return;
    }
    const json state = json::parse(*saved, nullptr, /*allow_exceptions=*/false);
    std::lock_guard lock(mu_);
    evaluator_.ImportState(state);
  }
  evaluating_ = true;
  // Silences may have been added through another process (or by hand in the file).
  if (Status s = silences_.Load(); !s.ok()) {
    spdlog::warn("alerts: reading silences failed, using the last ones read: {}", s.ToString());
  }
  auto signals = source_();
  if (!signals.ok()) {
    spdlog::warn("alerts: measuring failed, skipping this evaluation: {}",
                 signals.status().ToString());
    return;
  }
  std::vector<Notification> out;
  std::vector<AlertView> active;
  std::string state;
  {
    std::lock_guard lock(mu_);
    out = evaluator_.Evaluate(*signals);
    active = evaluator_.Active();
    if (save_state_) state = evaluator_.ExportState().dump();
  }
  // Saved before sending: a successor may then miss a notice this process dies sending,
  // but never sends one twice.
  if (save_state_) {
    if (Status s = save_state_(state); !s.ok()) {
      spdlog::warn("alerts: saving the shared state failed: {}", s.ToString());
    }
  }
  if (observer_) observer_(active);
  for (const Notification& n : out) sink_(n);
}

std::vector<AlertView> AlertService::Active() const {
  std::lock_guard lock(mu_);
  return evaluator_.Active();
}

json AlertService::AlertsJson(TimeMs now) const {
  json active = json::array();
  json history = json::array();
  {
    std::lock_guard lock(mu_);
    for (const AlertView& v : evaluator_.Active()) active.push_back(AlertViewJson(v));
    for (const json& h : evaluator_.History()) history.push_back(h);
  }
  json silences = json::array();
  for (const Silence& s : silences_.List()) silences.push_back(SilenceJson(s, now));
  return {{"active", active}, {"history", history}, {"silences", silences}};
}

}  // namespace glmq
