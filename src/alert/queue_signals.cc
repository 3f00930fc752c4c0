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
  s.store_write_failures_total = report.store_health.failures_total;
  s.data_dir_free_bytes = report.storage.free_bytes;
  return s;
}

}  // namespace glmq
