#include "api/queue_json.h"

namespace glmq {

json QueueJson(ApiContext& ctx, const Caller& caller, const QueueReport& r) {
  json classes = json::object();
  for (LengthClass c : kAllLengthClasses) {
    auto it = r.queue.classes.find(c);
    const ClassStats s = it == r.queue.classes.end() ? ClassStats{} : it->second;
    classes[LengthClassName(c)] = {
        {"queued", s.queued},
        {"queued_prompt_tokens", s.queued_prompt_tokens},
        {"queued_max_tokens", s.queued_max_tokens},
        {"oldest_age_seconds",
         s.oldest_created_at > 0 ? json((r.now - s.oldest_created_at) / 1000.0) : json(nullptr)},
    };
  }
  json run = json::array();
  for (const Job& j : r.running) {
    if (!caller.Sees(j.tenant)) continue;
    run.push_back({{"id", j.id},
                   {"length_class", LengthClassName(j.length_class)},
                   {"prompt_tokens", j.prompt_tokens},
                   {"prompt_tokens_read", j.progress.prompt_tokens_read},
                   {"completion_tokens", j.progress.completion_tokens},
                   {"max_tokens", j.request.sampling.max_tokens},
                   {"running_seconds", j.started_at > 0 ? (r.now - j.started_at) / 1000.0 : 0.0}});
  }
  const ThroughputSnapshot& t = r.capacity.rates;
  json totals = json::object();
  for (const auto& [state, n] : r.queue.totals) totals[JobStateName(state)] = n;
  const ModelInfo& info = ctx.admission.model();
  auto percentiles = [](const Percentiles& p) -> json {
    if (p.count == 0) return nullptr;
    return {{"p50", p.p50}, {"p95", p.p95}, {"p99", p.p99}, {"count", p.count}};
  };
  json latency = nullptr;
  if (r.latency) {
    latency = {{"queue_wait_seconds", percentiles(r.latency->queue_wait_seconds)},
               {"time_to_first_token_seconds", percentiles(r.latency->time_to_first_token_seconds)},
               {"run_seconds", percentiles(r.latency->run_seconds)}};
  }
  return {
      {"queued", r.queued},
      {"queued_prompt_tokens", r.queued_prompt_tokens},
      {"classes", classes},
      {"running", run},
      {"dead_letter", r.queue.dead_letter},
      {"totals", totals},
      {"predicted_drain_seconds", r.predicted_drain_seconds},
      {"kv",
       {{"used_tokens", r.local ? r.local->kv_reserved_tokens : 0},
        {"capacity_tokens", info.ctx_size}}},
      {"latency", latency},
      {"throughput",
       {{"prefill_tokens_per_second", t.prefill_tokens_per_second},
        {"attention_per_position", t.attention_per_position},
        {"decode_tokens_per_second", t.decode_tokens_per_second},
        {"recent_tokens_per_second", t.recent_tokens_per_second},
        {"completion_ratio", t.completion_ratio}}},
      {"engine",
       {{"model", info.name},
        {"test_model", info.is_test_model},
        {"ctx_size", info.ctx_size},
        {"parallel", info.parallel},
        {"kv_bytes_per_token", info.kv_bytes_per_token}}},
  };
}

}  // namespace glmq
