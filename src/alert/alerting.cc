#include "alert/alerting.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace glmq {

Alerting::~Alerting() {
  if (service) service->Stop();
  // Let what the last evaluation said go out, briefly: a resolved notice matters.
  if (dispatcher) dispatcher->Flush(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

Result<std::unique_ptr<Alerting>> MakeAlerting(const AlertConfig& config, SilenceStorage silences,
                                               AlertService::SignalSource source,
                                               DispatcherOptions::Observer observer) {
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
  options.observer = std::move(observer);
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
