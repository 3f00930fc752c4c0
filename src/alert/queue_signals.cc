#include "alert/queue_signals.h"

namespace glmq {

AlertSignals AlertSignalsOf(const QueueReport& report) {
  AlertSignals s;
  s.now = report.now;
  s.classes = report.queue.classes;
  s.predicted_drain_seconds = report.predicted_drain_seconds;
  s.longest_running_seconds = report.longest_running_seconds;
  s.longest_running_job = report.longest_running_job;
  s.finished_total = report.finished_total;
  s.failed_total = report.failed_total;
  s.work_done_total = report.work_done_total;
  s.workers_alive = report.workers_alive;
  return s;
}

}  // namespace glmq
