// Fault injection for the tests of redelivery, dead letters and a store that refuses writes.
// Unset in normal runs: then these return nothing and cost nothing.
#pragma once

#include <functional>
#include <memory>

#include "core/job.h"
#include "core/periodic.h"

namespace glmq {

// With GLMQ_FAULT_CRASH_ON_TEXT set, a job whose text holds its value kills the worker that
// starts it, every time (SchedulerOptions::before_start).
std::function<void(const Job&)> CrashOnTextFromEnvironment();

// With GLMQ_FAULT_STORE_FILE set to a path: while a file is there, `set_fault(true)` (the
// store refuses every write); once it is gone, `set_fault(false)`. Looked at every 100 ms,
// on a thread of its own, for as long as the returned object lives.
std::unique_ptr<Periodic> StoreFaultFromEnvironment(std::function<void(bool)> set_fault);

}  // namespace glmq
