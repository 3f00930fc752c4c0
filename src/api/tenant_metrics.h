// Per-tenant series on /metrics: one per tenant the configuration names (KeyRing::tenants:
// keys in force and the keys file's tenant lines), so the number of series is bounded by
// configuration, never by what clients send. No job ids or texts.
#pragma once

#include "api/auth.h"
#include "metrics/metrics.h"
#include "store/job_store.h"

namespace glmq {

// glmq_tenant_queued_jobs and glmq_tenant_queued_prompt_tokens{tenant}, read from the store
// at each scrape (JobStore::QueuedOf; "default" names the implicit tenant). `keys` and
// `store` must outlive the registry's scrapes.
void AddTenantCollector(metrics::Registry& registry, const KeyRing& keys, JobStore& store);

}  // namespace glmq
