// In distributed mode some work must be done by one process at a time: the alert rules'
// evaluation (so that an alert is sent once) and the Batch API's runner (so that a batch's
// files are written once). That process is the holder of a named lease in the shared store
// (JobStore::AcquireLease); another takes over within the lease's length when it dies.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "store/job_store.h"

namespace glmq {

// A gate: true while `holder` holds the lease `name` (taking or renewing it for `lease_ms`
// at each call); it logs when this process takes the lease or loses it. `store` outlives
// the gate.
std::function<bool()> LeaseGate(JobStore& store, std::string name, std::string holder,
                                int64_t lease_ms);

}  // namespace glmq
