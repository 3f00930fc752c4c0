#include "sched/liveness.h"

#include "sched/queue_report.h"

namespace glmq {

Liveness::Liveness(JobStore& store, const LocalScheduler& scheduler, const CapacitySource& capacity,
                   std::string name)
    : store_(store),
      scheduler_(scheduler),
      capacity_(capacity),
      name_(std::move(name)),
      beat_(std::chrono::milliseconds(kBeatMs), [this] { Beat(); }) {}

void Liveness::Beat() {
  const TimeMs now = NowMs();
  // A step can take minutes on a CPU; the engine beats from inside it.
  if (now - scheduler_.alive_at() >= kWorkerSilenceMs) return;
  beat_log_.Record(store_.WorkerHeartbeat(name_, now, kTtlMs, ReportOf(capacity_.Now())));
}

}  // namespace glmq
