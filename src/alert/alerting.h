// The alerting parts of one process (silences, the dispatcher and its channels, the
// evaluator service) built from the [alerts] configuration and stopped in order.
#pragma once

#include <memory>

#include "alert/dispatcher.h"
#include "alert/rules.h"
#include "alert/service.h"
#include "alert/silences.h"

namespace glmq {

// The alerting parts of one process, started together and stopped in reverse.
struct Alerting {
  std::unique_ptr<Silences> silences;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<AlertService> service;

  ~Alerting();
};

// Builds the dispatcher (a "log" channel is always there; `observer` hears the outcome of
// each notification) and the evaluator; silences live in `silences`. Does not start the
// evaluation thread.
Result<std::unique_ptr<Alerting>> MakeAlerting(const AlertConfig& config, SilenceStorage silences,
                                               AlertService::SignalSource source,
                                               DispatcherOptions::Observer observer);

}  // namespace glmq
