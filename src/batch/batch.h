// A batch of the Batch API (OpenAI's /v1/batches): an uploaded JSONL file whose lines each
// become an ordinary job of the caller's tenant, run in a tier below interactive work within
// a completion window, and whose answers are gathered into an output file and an error file.
//
// Life of a batch: validating (the input is read and checked; its lines become jobs) ->
// in_progress -> finalizing (the files are written) -> completed; or failed (the input was
// refused, nothing ran), expired (the window passed: finished lines are kept, the rest end
// batch_expired), cancelling -> cancelled (queued lines cancelled at once, running ones
// within a step).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/job.h"
#include "core/status.h"

namespace glmq {

enum class BatchStatus {
  kValidating,
  kFailed,
  kInProgress,
  kFinalizing,
  kCompleted,
  kExpired,
  kCancelling,
  kCancelled,
};

const char* BatchStatusName(BatchStatus s);
std::optional<BatchStatus> ParseBatchStatus(std::string_view name);
// Failed, completed, expired and cancelled: nothing more happens to it.
bool IsTerminal(BatchStatus s);

// A problem with the input file as a whole, or one of its lines (1-based; 0 = the file).
struct BatchError {
  std::string code;
  std::string message;
  int64_t line = 0;
  std::string param;
  bool operator==(const BatchError&) const = default;
};

struct BatchUsage {
  int64_t input_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t output_tokens = 0;
  bool operator==(const BatchUsage&) const = default;
};

struct Batch {
  std::string id;  // "batch_" and 24 hex digits
  std::string tenant;
  std::string endpoint;  // "/v1/chat/completions" or "/v1/jobs"
  std::string input_file_id;
  std::string completion_window;  // as asked, e.g. "24h"
  std::string metadata_json = "{}";
  // Where the batch's end is announced (glmq's field beside OpenAI's; "" = nowhere): POSTed
  // once it is completed, failed, expired or cancelled, as a job's webhook_url is.
  std::string webhook_url;
  BatchStatus status = BatchStatus::kValidating;
  std::vector<BatchError> errors;  // why it failed (file-level problems)

  int64_t total = 0;      // lines that became requests
  int64_t completed = 0;  // answered
  int64_t failed = 0;     // ended in error
  BatchUsage usage;

  std::string output_file_id;
  std::string error_file_id;

  // The order key of its line that runs last, and when it is expected to finish: the work
  // queued before that line at the measured rates, as of the runner's latest look (work
  // that arrives later and sorts first moves it; 0 until its lines are queued).
  int64_t last_order_key = 0;
  TimeMs estimated_finish_at = 0;

  TimeMs created_at = 0;
  TimeMs expires_at = 0;
  TimeMs in_progress_at = 0;
  TimeMs finalizing_at = 0;
  TimeMs completed_at = 0;
  TimeMs failed_at = 0;
  TimeMs expired_at = 0;
  TimeMs cancelling_at = 0;
  TimeMs cancelled_at = 0;
  bool operator==(const Batch&) const = default;
};

// One request of a batch: its line in the input file (1-based), its custom_id, the job it
// became, and once that job ended, its line of the output or error file.
struct BatchLine {
  int64_t line = 0;
  std::string custom_id;
  std::string job_id;  // "" for a line refused before it ran (its result is set)
  std::string result;  // the output or error file's line, without the newline; "" = pending
  bool ok = false;     // result goes to the output file (else the error file)
  BatchUsage usage;
};

// A batch as stored (its counts and usage are not: they follow from its lines).
std::string EncodeBatch(const Batch& batch);
Result<Batch> DecodeBatch(std::string_view text);

std::string NewBatchId();
// The job a batch's line becomes: the same id however often the line is submitted, so that
// a runner that resumes after a crash finds the jobs it already made.
std::string BatchLineJobId(std::string_view batch_id, int64_t line);

// "24h", "90m", "30s", "2d": the window in milliseconds; nullopt for anything else or a
// window outside [10 s, 7 days].
std::optional<int64_t> ParseCompletionWindow(std::string_view text);

}  // namespace glmq
