// In distributed mode exactly one process evaluates the alert rules, so that an alert is
// sent once: the holder of a lease in the shared store (JobStore::AcquireLease).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "store/job_store.h"

namespace glmq {

// A gate for AlertService::SetGate: true while `holder` holds the lease `name` (taking or
// renewing it for `lease_ms` at each call); it logs when this process becomes, or stops
// being, the evaluator. `store` outlives the gate.
std::function<bool()> LeaseGate(JobStore& store, std::string name, std::string holder,
                                int64_t lease_ms);

}  // namespace glmq
