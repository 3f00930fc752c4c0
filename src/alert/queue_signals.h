// What the alert rules look at, from one reading of the queue (sched/queue_report.h): the
// same figures /v1/queue shows and the metrics export.
#pragma once

#include "alert/evaluator.h"
#include "sched/queue_report.h"

namespace glmq {

AlertSignals AlertSignalsOf(const QueueReport& report);

}  // namespace glmq
