// AlertService: evaluates the rules every interval on its own thread and hands what must
// be said to a sink (the Dispatcher, which sends off this thread). Measuring is a callback
// so that the service knows nothing of stores or engines.
//
// Threads: one evaluation thread owns the evaluator; API threads read it under mu_.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "alert/evaluator.h"
#include "alert/silences.h"
#include "core/periodic.h"

namespace glmq {

class AlertService {
 public:
  using SignalSource = std::function<Result<AlertSignals>()>;
  using Sink = std::function<void(const Notification&)>;
  // Called after each evaluation with the alerts firing per (alertname, severity).
  using FiringObserver = std::function<void(const std::vector<AlertView>&)>;

  AlertService(AlertConfig config, Silences& silences, SignalSource source, Sink sink);
  ~AlertService();
  AlertService(const AlertService&) = delete;
  AlertService& operator=(const AlertService&) = delete;

  void SetFiringObserver(FiringObserver observer) { observer_ = std::move(observer); }
  // Asked before each evaluation; false skips it. Where several processes share a store,
  // only the holder of a lease evaluates, so each notification is sent once.
  void SetGate(std::function<bool()> gate) { gate_ = std::move(gate); }
  // Where the evaluator's memory of what it said is kept between processes: saved after
  // every evaluation, loaded when this process becomes the evaluator ("" = nothing saved).
  void SetStateStore(std::function<Result<std::string>()> load,
                     std::function<Status(const std::string&)> save) {
    load_state_ = std::move(load);
    save_state_ = std::move(save);
  }
  void Start();
  void Stop();
  // One evaluation now, on the caller's thread (tests, and a silence that should take
  // effect at once).
  void EvaluateOnce();

  std::vector<AlertView> Active() const;
  // GET /v1/alerts: {"active":[...], "history":[...], "silences":[...]}.
  nlohmann::json AlertsJson(TimeMs now) const;

 private:
  Silences& silences_;
  SignalSource source_;
  Sink sink_;
  FiringObserver observer_;
  std::function<bool()> gate_;
  std::function<Result<std::string>()> load_state_;
  std::function<Status(const std::string&)> save_state_;
  bool evaluating_ = false;  // evaluation thread only: whether the gate was open last time
  const int64_t interval_ms_;

  mutable std::mutex mu_;
  AlertEvaluator evaluator_;        // guarded by mu_
  std::unique_ptr<Periodic> loop_;  // between Start and Stop
};

nlohmann::json AlertViewJson(const AlertView& view);

}  // namespace glmq
