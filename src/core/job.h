// Job: what a client asked for, where it stands, and what came of it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace glmq {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kExpired };
inline constexpr JobState kAllJobStates[] = {JobState::kQueued,    JobState::kRunning,
                                             JobState::kSucceeded, JobState::kFailed,
                                             JobState::kCancelled, JobState::kExpired};

const char* JobStateName(JobState state);
std::optional<JobState> ParseJobState(std::string_view name);
inline bool IsTerminal(JobState s) { return s != JobState::kQueued && s != JobState::kRunning; }

// Length classes group jobs whose costs are alike; alert rules and /v1/queue report per class.
enum class LengthClass { kShort, kMedium, kLong };
inline constexpr LengthClass kAllLengthClasses[] = {LengthClass::kShort, LengthClass::kMedium,
                                                    LengthClass::kLong};
const char* LengthClassName(LengthClass c);
std::optional<LengthClass> ParseLengthClass(std::string_view name);

struct ChatMessage {
  std::string role;  // system | user | assistant | observation
  std::string content;
};

// The shape of the answer: free text; or (OpenAI's JSON mode, `response_format`
// {"type":"json_object"}) one JSON object; or (its Structured Outputs, {"type":
// "json_schema"}) a value matching a JSON Schema. The engine holds the answer to it token
// by token (core/json_grammar.h); an answer cut by max_tokens is the beginning of one.
enum class ResponseFormat { kText, kJsonObject, kJsonSchema };
const char* ResponseFormatName(ResponseFormat f);  // "text", "json_object", "json_schema"
std::optional<ResponseFormat> ParseResponseFormat(std::string_view name);

struct SamplingParams {
  int32_t max_tokens = 256;
  float temperature = 0.8f;  // 0 = greedy
  float top_p = 0.95f;
  std::optional<uint64_t> seed;  // unset: chosen per job
  std::vector<std::string> stop;
  ResponseFormat format = ResponseFormat::kText;
  // With kJsonSchema: the request's `json_schema` object ({name, schema, strict, ...}) as
  // compact JSON text, kept whole to be shown and sent on as it was given.
  std::string json_schema;
};

// What the client submitted, kept as given so the prompt can be rendered again after a
// restart. Either `messages` is set, or `text` (+ optional `question`).
struct JobRequest {
  std::string text;
  std::string question;
  std::vector<ChatMessage> messages;
  SamplingParams sampling;
  int32_t priority = 0;        // higher runs earlier; -10..10
  double timeout_seconds = 0;  // queue + run; 0 = none
  // POSTed the job once it ends (api/webhooks.h); empty = none.
  std::string webhook_url;
};

struct JobUsage {
  int64_t prompt_tokens = 0;      // tokens the engine read for this job
  int64_t completion_tokens = 0;  // tokens it generated (end-of-generation token excluded)
  // Of prompt_tokens, those whose KV was reused from an earlier or concurrent job with the
  // same prefix instead of being read again.
  int64_t cached_tokens = 0;
};

struct JobProgress {
  // The exact prompt length the engine tokenized; 0 = not known yet. Replaces an estimate
  // made at submit for a large document (see --sync-count-bytes).
  int64_t prompt_tokens = 0;
  int64_t prompt_tokens_read = 0;
  int64_t completion_tokens = 0;
  // The answer so far: the text generated that no later token changes. What a worker
  // writes; the store keeps it as the job's output (a job read back has it in Job::output).
  std::string text;
};

using TimeMs = int64_t;  // milliseconds since the Unix epoch

struct Job {
  std::string id;
  // Who submitted it: the tenant of the caller's API key ("" = the one implicit tenant of a
  // service without keys). Only its own tenant (and an admin) can see or touch it.
  std::string tenant;
  JobState state = JobState::kQueued;
  JobRequest request;

  int64_t prompt_tokens = 0;  // counted at submit with the model's tokenizer and template
  // Of them, the ones it is expected to take from a document read for another job (the
  // engine's prefix cache: questions on one document) rather than read: the queue's sums of
  // work to do leave them out. Set at submit (admission/document_memory.h).
  int64_t shared_prompt_tokens = 0;
  LengthClass length_class = LengthClass::kShort;
  // Queue order: lower runs first (virtual deadline, see sched/).
  int64_t order_key = 0;

  TimeMs created_at = 0;
  TimeMs started_at = 0;   // 0 until first run
  TimeMs finished_at = 0;  // 0 until terminal
  TimeMs deadline_at = 0;  // 0 = none

  double estimated_wait_seconds = 0;  // told to the client at submit
  int32_t attempts = 0;               // times it was handed to an engine
  bool cancel_requested = false;
  bool dead_letter = false;

  JobProgress progress;
  // While running: the worker that holds its lease (`serve` in `glmq serve`, else the
  // worker's --name). Empty otherwise.
  std::string worker;
  // The answer: so far while running (JobProgress::text as last written), whole once
  // terminal; the rest is filled when terminal.
  std::string output;
  std::string finish_reason;  // stop | length | cancelled | timeout | error
  JobUsage usage;
  std::string error_code;
  std::string error_message;
};

// The outcome of a run, written once per job id.
struct Completion {
  JobState state = JobState::kSucceeded;  // succeeded | failed | cancelled | expired
  // The run could not happen for a reason outside the job (a remote engine unreachable or
  // overloaded): the job goes back to the queue instead of ending, and the worker waits
  // before it claims again. error_message says why.
  bool retry_later = false;
  std::string output;
  std::string finish_reason;
  JobUsage usage;
  std::string error_code;
  std::string error_message;
};

// A new random id: "job_" + 24 lowercase hex digits (96 bits).
std::string NewJobId();
bool IsValidJobId(std::string_view id);
// A tenant's name: 1 to 64 of [A-Za-z0-9._-].
bool IsValidTenant(std::string_view name);

TimeMs NowMs();

}  // namespace glmq
