// Fault injection for the tests of redelivery and dead letters: with GLMQ_FAULT_CRASH_ON_TEXT
// set, a job whose text holds its value kills the worker that starts it, every time
// (SchedulerOptions::before_start). Unset in normal runs: then this returns an empty function.
#pragma once

#include <functional>

#include "core/job.h"

namespace glmq {

std::function<void(const Job&)> CrashOnTextFromEnvironment();

}  // namespace glmq
