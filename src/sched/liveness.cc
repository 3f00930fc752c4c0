#include "sched/liveness.h"

#include "sched/queue_report.h"

namespace glmq {

Liveness::Liveness(JobStore& store, const LocalScheduler& scheduler, const CapacitySource& capacity,
                   std::string name, int64_t sequence_tokens)
    : store_(store),
      scheduler_(scheduler),
      capacity_(capacity),
      name_(std::move(name)),
      sequence_tokens_(sequence_tokens),
      beat_(std::chrono::milliseconds(kBeatMs), [this] { Beat(); }) {}

void Liveness::Beat() {
  const TimeMs now = NowMs();
  // A step can take minutes on a CPU; the engine beats from inside it.
  if (now - scheduler_.alive_at() >= kWorkerSilenceMs) return;
  WorkerReport report = ReportOf(capacity_.Now());
  report.sequence_tokens = sequence_tokens_;
  beat_log_.Record(store_.WorkerHeartbeat(name_, now, kTtlMs, report));
}

}  // namespace glmq
