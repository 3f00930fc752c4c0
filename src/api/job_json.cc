#include "api/job_json.h"

#include "api/auth.h"

namespace glmq {

using json = nlohmann::json;

json UnixSeconds(TimeMs ms) {
  if (ms <= 0) return nullptr;
  return static_cast<double>(ms) / 1000.0;
}

json UsageToJson(const JobUsage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

json JobToJson(const Job& job) {
  json j = {
      {"id", job.id},
      {"object", "job"},
      {"tenant", TenantName(job.tenant)},
      {"state", JobStateName(job.state)},
      {"priority", job.request.priority},
      {"length_class", LengthClassName(job.length_class)},
      {"prompt_tokens", job.prompt_tokens},
      {"max_tokens", job.request.sampling.max_tokens},
      {"created_at", UnixSeconds(job.created_at)},
      {"started_at", UnixSeconds(job.started_at)},
      {"finished_at", UnixSeconds(job.finished_at)},
      {"deadline_at", UnixSeconds(job.deadline_at)},
      {"estimated_wait_seconds", job.estimated_wait_seconds},
      {"queue_wait_seconds",
       job.started_at > 0 ? json((job.started_at - job.created_at) / 1000.0) : json(nullptr)},
      {"attempts", job.attempts},
      {"cancel_requested", job.cancel_requested},
      {"progress",
       {{"prompt_tokens_read",
         IsTerminal(job.state) ? job.usage.prompt_tokens : job.progress.prompt_tokens_read},
        {"prompt_tokens", job.prompt_tokens},
        {"completion_tokens",
         IsTerminal(job.state) ? job.usage.completion_tokens : job.progress.completion_tokens}}},
  };
  if (job.request.sampling.format != ResponseFormat::kText) {
    j["response_format"] = {{"type", ResponseFormatName(job.request.sampling.format)}};
    if (!job.request.sampling.json_schema.empty()) {
      j["response_format"]["json_schema"] =
          json::parse(job.request.sampling.json_schema, nullptr, false);
    }
  }
  if (job.state == JobState::kRunning) j["progress"]["text"] = job.output;  // the answer so far
  if (IsTerminal(job.state)) {
    j["text"] = job.output;
    j["finish_reason"] = job.finish_reason;
    j["usage"] = UsageToJson(job.usage);
    j["run_seconds"] = job.started_at > 0 && job.finished_at >= job.started_at
                           ? json((job.finished_at - job.started_at) / 1000.0)
                           : json(nullptr);
  }
  if (!job.error_code.empty()) {
    j["error"] = {{"code", job.error_code}, {"message", job.error_message}};
  }
  if (!job.request.webhook_url.empty()) j["webhook_url"] = job.request.webhook_url;
  if (!job.worker.empty()) j["worker"] = job.worker;  // running: which worker holds it
  if (job.dead_letter) j["dead_letter"] = true;
  return j;
}

const char* SeedStatusName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "pending";
    case JobState::kRunning:
      return "processing";
    case JobState::kSucceeded:
      return "completed";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kExpired:
      return "expired";
  }
  return "unknown";
}

json JobToSeedJson(const Job& job) {
  json j = {
      {"task_id", job.id},
      {"status", SeedStatusName(job.state)},
      {"created_at", UnixSeconds(job.created_at)},
      {"started_at", UnixSeconds(job.started_at)},
      {"completed_at", UnixSeconds(job.finished_at)},
      {"result", IsTerminal(job.state) && job.state == JobState::kSucceeded ? json(job.output)
                                                                            : json(nullptr)},
      {"error", job.error_message.empty() ? json(nullptr) : json(job.error_message)},
      {"prompt_tokens", job.prompt_tokens},
      {"completion_tokens",
       IsTerminal(job.state) ? job.usage.completion_tokens : job.progress.completion_tokens},
  };
  return j;
}

}  // namespace glmq
