#include "api/tenant_metrics.h"

#include <string>

namespace glmq {

void AddTenantCollector(metrics::Registry& registry, const KeyRing& keys, JobStore& store) {
  registry.AddCollector([&keys, &store](metrics::Exposition& out) {
    for (const std::string& tenant : keys.tenants()) {
      const Result<JobStore::WorkAhead> queued = store.QueuedOf(tenant);
      if (!queued.ok()) continue;  // a store that does not answer: no figure rather than 0
      const metrics::Labels labels = {{"tenant", std::string(TenantName(tenant))}};
      out.Gauge("glmq_tenant_queued_jobs", "Jobs queued, per tenant.", labels,
                static_cast<double>(queued->jobs));
      out.Gauge("glmq_tenant_queued_prompt_tokens", "Prompt tokens of the queued jobs, per tenant.",
                labels, static_cast<double>(queued->prompt_tokens));
    }
  });
}

}  // namespace glmq
