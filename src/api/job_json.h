// How a job looks to clients of /v1 and of the seed API.
#pragma once

#include <nlohmann/json.hpp>

#include "core/job.h"

namespace glmq {

// Seconds since the epoch with millisecond precision, or null for "not yet".
nlohmann::json UnixSeconds(TimeMs ms);

nlohmann::json JobToJson(const Job& job);

// A finished job's usage, in OpenAI's shape: prompt, completion and total tokens, and
// prompt_tokens_details.cached_tokens. The job JSON and chat completions carry it.
nlohmann::json UsageToJson(const JobUsage& usage);

// The seed API's names: pending | processing | completed | failed | cancelled | expired.
const char* SeedStatusName(JobState state);
nlohmann::json JobToSeedJson(const Job& job);

}  // namespace glmq
