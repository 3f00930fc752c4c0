// BatchRunner (batch_runner.h). About 500 lines: checking a file, making its lines jobs,
// gathering their outcomes and writing the files are the steps of one resumable life.
#include "batch/batch_runner.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "batch/input_lines.h"
#include "core/error_codes.h"

namespace glmq {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxErrors = 100;  // file-level problems listed; the count stops there
constexpr size_t kMaxCustomIdBytes = 512;
// Until the engine has counted them, a line's prompt is priced at this many bytes a token.
constexpr int64_t kBytesPerTokenGuess = 4;

// The name of a batch's output file (`ok`) or error file: how an earlier try's files are
// found again (RemoveUnrecordedFiles).
std::string ResultFileName(const std::string& batch_id, bool ok) {
  return batch_id + (ok ? "_output.jsonl" : "_error.jsonl");
}

}  // namespace

int64_t BatchOrderKey(TimeMs created_at, int64_t window_ms, int64_t predicted_ms, int64_t rank) {
  const int64_t may_wait = std::clamp<int64_t>(window_ms - 2 * predicted_ms, 0, window_ms / 2);
  return created_at + may_wait + rank;
}

BatchRunner::BatchRunner(BatchStore& batches, FileStore& files, JobStore& jobs,
                         Admission& admission, const BatchCodec& codec, BatchRunnerOptions options)
    : batches_(batches),
      files_(files),
      jobs_(jobs),
      admission_(admission),
      codec_(codec),
      options_(options) {}

BatchRunner::~BatchRunner() { Stop(); }

void BatchRunner::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "glmq-batches");  // in top -H, perf, gdb
    Loop();
  });
}

void BatchRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchRunner::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void BatchRunner::Loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (!more_now_) cv_.wait_for(lock, options_.period, [this] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    more_now_ = false;
    RunOnce();
  }
}

void BatchRunner::RunOnce() {
  if (!gate_ || gate_()) Round();
  if (events_.statuses) {
    if (auto counts = batches_.CountByStatus(); counts.ok()) events_.statuses(*counts);
  }
}

void BatchRunner::Round() {
  auto active = batches_.Active();
  if (!active.ok()) {
    spdlog::warn("batches: cannot read the active batches: {}", active.status().message());
    return;
  }
  for (Batch& batch : *active) {
    if (Status s = Advance(batch); !s.ok()) {
      spdlog::warn("batch {}: {} (tried again next round)", batch.id, s.message());
    }
  }
}

Status BatchRunner::Advance(Batch& batch) {
  switch (batch.status) {
    case BatchStatus::kValidating:
      return Validate(batch);
    case BatchStatus::kInProgress:
    case BatchStatus::kCancelling:
      return Gather(batch);
    case BatchStatus::kFinalizing:
      return Finalize(batch);
    default:
      return Status::Ok();
  }
}

Status BatchRunner::Move(Batch& batch, BatchStatus to) {
  const BatchStatus from = batch.status;
  // Queued first: a crash between the two writes leaves a delivery for a batch that has not
  // ended (the sender waits for its end), never an end without its delivery.
  if (IsTerminal(to) && !batch.webhook_url.empty()) {
    GLMQ_RETURN_IF_ERROR(jobs_.QueueWebhook(batch.id, NowMs()));
  }
  batch.status = to;
  Status s = batches_.Update(batch, from);
  if (s.code() == StatusCode::kConflict) {
    // Moved meanwhile (a cancel): the next round takes it from where it is now.
    batch.status = from;
    return Status::Ok();
  }
  return s;
}

Status BatchRunner::Validate(Batch& batch) {
  // First pass: the file as a whole. Any problem here fails the batch before a line runs.
  std::vector<BatchError> errors;
  std::vector<int64_t> numbers;   // the lines that are requests
  std::vector<size_t> documents;  // their DocumentHash
  JobStore::WorkAhead work;
  {
    LineReader reader(files_, batch.tenant, batch.input_file_id, options_.max_line_bytes);
    std::unordered_set<std::string> custom_ids;
    InputLine input;
    for (;;) {
      GLMQ_ASSIGN_OR_RETURN(bool more, reader.Next(&input));
      if (!more || errors.size() >= kMaxErrors) break;
      const int64_t number = input.number;
      if (IsBlank(input)) continue;
      auto error = [&](const char* code, std::string message, const char* param = "") {
        errors.push_back({code, std::move(message), number, param});
      };
      if (static_cast<int64_t>(numbers.size()) >= options_.max_lines) {
        error("too_many_lines", "the file has more than " + std::to_string(options_.max_lines) +
                                    " requests (--batch-max-lines)");
        break;
      }
      if (input.too_long) {
        // Its custom_id is unread: the file is refused, not the line.
        error("line_too_large", "line " + std::to_string(number) + " is over " +
                                    std::to_string(options_.max_line_bytes) +
                                    " bytes, the largest request body (--max-body-bytes)");
        continue;
      }
      const size_t line_bytes = input.text.size();
      const Result<json> parsed = codec_.ParseLine(std::move(input.text));
      if (!parsed.ok() || !parsed->is_object()) {
        error("invalid_json_line", "line " + std::to_string(number) + " is not a JSON object");
        continue;
      }
      const json& line = *parsed;
      auto custom_id = line.find("custom_id");
      if (custom_id == line.end() || !custom_id->is_string() ||
          custom_id->get_ref<const std::string&>().empty() ||
          custom_id->get_ref<const std::string&>().size() > kMaxCustomIdBytes) {
        error("missing_custom_id", "a request needs a custom_id of 1 to 512 characters",
              "custom_id");
        continue;
      }
      if (!custom_ids.insert(custom_id->get<std::string>()).second) {
        error("duplicate_custom_id",
              "custom_id '" + custom_id->get<std::string>() + "' is on an earlier line too",
              "custom_id");
        continue;
      }
      auto method = line.find("method");
      if (method == line.end() || *method != "POST") {
        error("invalid_method", "a request's method must be \"POST\"", "method");
        continue;
      }
      auto url = line.find("url");
      if (url == line.end() || *url != batch.endpoint) {
        error("invalid_url", "a request's url must be the batch's endpoint, " + batch.endpoint,
              "url");
        continue;
      }
      const auto body = line.find("body");
      numbers.push_back(number);
      documents.push_back(body == line.end() ? 0 : DocumentHash(*body));
      if (body != line.end() && body->is_object()) {
        // The line's bytes: its body's and a few dozen more.
        work.prompt_tokens += static_cast<int64_t>(line_bytes) / kBytesPerTokenGuess;
        work.max_tokens += MaxTokensGuess(*body);
      }
    }
  }
  const int64_t queued_tokens_limit = options_.max_queued_tokens_of
                                          ? options_.max_queued_tokens_of(batch.tenant)
                                          : options_.max_queued_tokens;
  if (errors.empty() && !numbers.empty() && queued_tokens_limit > 0) {
    GLMQ_ASSIGN_OR_RETURN(std::optional<std::string> over,
                          OverQueuedTokens(batch, work, queued_tokens_limit));
    if (over) errors.push_back({"token_limit_exceeded", std::move(*over), 0, ""});
  }
  if (!errors.empty() || numbers.empty()) {
    if (numbers.empty() && errors.empty()) {
      errors.push_back({"empty_file", "the input file holds no request", 0, ""});
    }
    batch.errors = std::move(errors);
    batch.failed_at = NowMs();
    return Move(batch, BatchStatus::kFailed);
  }

  // The lines of one document next to each other, in the order of its first line.
  std::unordered_map<size_t, size_t> first_of;
  std::vector<size_t> group(numbers.size());
  for (size_t i = 0; i < numbers.size(); ++i) {
    group[i] = documents[i] == 0 ? i : first_of.emplace(documents[i], i).first->second;
  }
  std::vector<size_t> order(numbers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return group[a] < group[b]; });
  std::unordered_map<int64_t, int64_t> rank;  // line number -> place in the queue
  for (size_t r = 0; r < order.size(); ++r) rank[numbers[order[r]]] = static_cast<int64_t>(r);
  const int64_t window_ms = batch.expires_at - batch.created_at;
  const auto predicted_ms = static_cast<int64_t>(1000.0 * PredictedSeconds(work));

  // Second pass: each request becomes a job (or an error line), a chunk per store write.
  LineReader reader(files_, batch.tenant, batch.input_file_id, options_.max_line_bytes);
  std::vector<BatchLine> lines;
  std::vector<Admission::Prepared> prepared;
  std::vector<size_t> prepared_line;  // index into `lines`
  auto flush = [&]() -> Status {
    if (!prepared.empty()) {
      std::vector<Result<Admission::Accepted>> inserted =
          admission_.InsertMany(std::move(prepared));
      for (size_t i = 0; i < inserted.size(); ++i) {
        // A job already there was made by an earlier try of this step.
        if (!inserted[i].ok() && inserted[i].status().code() != StatusCode::kConflict) {
          return inserted[i].status();
        }
      }
    }
    GLMQ_ASSIGN_OR_RETURN(const std::vector<bool> added, batches_.AddLines(batch.id, lines));
    for (size_t i = 0; i < lines.size() && i < added.size(); ++i) {
      // Counted once: a line an earlier try added was counted then.
      if (added[i] && lines[i].job_id.empty()) Ended("refused");
    }
    lines.clear();
    prepared.clear();
    prepared_line.clear();
    return Status::Ok();
  };
  InputLine input;
  for (;;) {
    GLMQ_ASSIGN_OR_RETURN(bool more, reader.Next(&input));
    if (!more) break;
    const int64_t number = input.number;
    if (IsBlank(input)) continue;
    Result<json> parsed = codec_.ParseLine(std::move(input.text));
    if (input.too_long || !parsed.ok() || !parsed->is_object()) {
      // Files do not change: the first pass read this line as a request.
      return Internal("line " + std::to_string(number) + " of file " + batch.input_file_id +
                      " no longer reads as it did");
    }
    json& line = *parsed;
    BatchLine& out = lines.emplace_back();
    out.line = number;
    out.custom_id = std::move(line["custom_id"].get_ref<std::string&>());
    out.job_id = BatchLineJobId(batch.id, number);
    // Taken apart by the parser: the body's strings are moved into the request, not copied.
    auto body = line.find("body");
    Result<JobRequest> request =
        codec_.ParseBody(batch.endpoint, body == line.end() ? json() : std::move(*body));
    // Sized by estimate: a line's place is its batch's, and the engine counts its prompt
    // when it starts (a prompt that cannot fit then ends in the error file).
    Result<Admission::Prepared> ready =
        request.ok()
            ? admission_.Prepare(batch.tenant, std::move(*request), Admission::Counting::kEstimate)
            : Result<Admission::Prepared>(request.status());
    if (!ready.ok()) {
      out.job_id.clear();
      codec_.RenderRefusal(out, ErrorCodeName(ErrorCodeFor(ready.status().code())),
                           ready.status().message());
    } else {
      Job& job = ready->job.job;
      job.id = out.job_id;
      job.deadline_at =
          job.deadline_at > 0 ? std::min(job.deadline_at, batch.expires_at) : batch.expires_at;
      job.order_key = BatchOrderKey(batch.created_at, window_ms, predicted_ms, rank[number]);
      ready->job.slack_seconds.reset();  // its place is the batch's, not a promise
      ready->job.measure = false;        // and the batch has the estimate
      batch.last_order_key = std::max(batch.last_order_key, job.order_key);
      prepared.push_back(std::move(*ready));
    }
    if (static_cast<int32_t>(lines.size()) >= options_.submit_chunk) GLMQ_RETURN_IF_ERROR(flush());
  }
  GLMQ_RETURN_IF_ERROR(flush());
  batch.in_progress_at = NowMs();
  GLMQ_RETURN_IF_ERROR(Estimate(batch));
  spdlog::info("batch {}: {} requests queued (predicted {:.0f} s of work)", batch.id,
               numbers.size(), predicted_ms / 1000.0);
  return Move(batch, BatchStatus::kInProgress);
}

Result<std::optional<std::string>> BatchRunner::OverQueuedTokens(const Batch& batch,
                                                                 const JobStore::WorkAhead& work,
                                                                 int64_t limit) {
  // A validation resumed after a crash finds its own lines queued already: checked before.
  GLMQ_ASSIGN_OR_RETURN(const std::vector<BatchLine> added, batches_.Lines(batch.id, 0, 1));
  if (!added.empty()) return std::optional<std::string>();
  GLMQ_ASSIGN_OR_RETURN(const JobStore::WorkAhead queued, jobs_.QueuedOf(batch.tenant));
  const int64_t have = queued.prompt_tokens + queued.max_tokens;
  const int64_t want = work.prompt_tokens + work.max_tokens;
  if (have + want <= limit) return std::optional<std::string>();
  return std::optional<std::string>(
      "the batch's requests come to about " + std::to_string(want) + " tokens and " +
      std::to_string(have) + " of yours are queued already: more than the " +
      std::to_string(limit) +
      " a tenant may have queued (--batch-max-queued-tokens, or the keys file's "
      "batch_max_queued_tokens=); create it again once some of them have run");
}

Status BatchRunner::Estimate(Batch& batch) {
  if (batch.last_order_key == 0) return Status::Ok();
  GLMQ_ASSIGN_OR_RETURN(const JobStore::WorkAhead work, jobs_.WorkBefore(batch.last_order_key + 1));
  const TimeMs now = NowMs();
  batch.estimated_finish_at = now + static_cast<int64_t>(1000.0 * PredictedSeconds(work));
  estimated_at_[batch.id] = now;
  return Status::Ok();
}

Status BatchRunner::Gather(Batch& batch) {
  const TimeMs now = NowMs();
  // The estimate follows the queue: looked at again every few seconds.
  constexpr int64_t kEstimateEveryMs = 5'000;
  if (batch.status == BatchStatus::kInProgress && batch.expired_at == 0 &&
      now - estimated_at_[batch.id] >= kEstimateEveryMs) {
    GLMQ_RETURN_IF_ERROR(Estimate(batch));
    GLMQ_RETURN_IF_ERROR(Move(batch, BatchStatus::kInProgress));
  }
  if (batch.status == BatchStatus::kInProgress && now >= batch.expires_at &&
      batch.expired_at == 0) {
    batch.expired_at = now;
    GLMQ_RETURN_IF_ERROR(Move(batch, BatchStatus::kInProgress));
  }
  const bool cancelling = batch.status == BatchStatus::kCancelling;
  const bool stopping = cancelling || batch.expired_at > 0;
  int64_t& cursor = cursor_[batch.id];
  GLMQ_ASSIGN_OR_RETURN(std::vector<BatchLine> pending,
                        batches_.Pending(batch.id, cursor, options_.lines_per_round));
  if (pending.empty() && cursor > 0) {
    cursor = 0;
    GLMQ_ASSIGN_OR_RETURN(pending, batches_.Pending(batch.id, 0, options_.lines_per_round));
  }
  if (pending.empty()) {
    cursor_.erase(batch.id);
    estimated_at_.erase(batch.id);
    batch.finalizing_at = now;
    GLMQ_RETURN_IF_ERROR(Move(batch, BatchStatus::kFinalizing));
    if (batch.status == BatchStatus::kFinalizing) fresh_finalizing_.insert(batch.id);
    return Status::Ok();
  }
  // What this round learned goes to the stores together: one write for the results, one
  // for the jobs told to stop.
  std::vector<BatchLine> ended;
  std::vector<const char*> outcomes;
  std::vector<std::string> to_stop;
  for (BatchLine& line : pending) {
    cursor = line.line;
    Result<Job> job = jobs_.Get(line.job_id, /*with_request=*/false);
    if (job.status().code() == StatusCode::kNotFound) {
      codec_.RenderRefusal(line, "job_lost", "the request's job is no longer in the store");
      ended.push_back(std::move(line));
      outcomes.push_back("failed");
      continue;
    }
    GLMQ_RETURN_IF_ERROR(job.status());
    if (!IsTerminal(job->state)) {
      // Queued ones end now; running ones within a step.
      if (stopping && !job->cancel_requested) to_stop.push_back(line.job_id);
      continue;
    }
    const bool stopped = job->state == JobState::kCancelled || job->state == JobState::kExpired;
    const char* outcome = "failed";
    if (stopping && stopped) {
      codec_.Render(batch.endpoint, *job, line, cancelling ? "batch_cancelled" : "batch_expired",
                    cancelling ? "the batch was cancelled before this request ended"
                               : "the batch's completion window passed before this request "
                                 "ended");
      outcome = cancelling ? "cancelled" : "expired";
    } else {
      codec_.Render(batch.endpoint, *job, line);
      if (line.ok) outcome = "succeeded";
    }
    ended.push_back(std::move(line));
    outcomes.push_back(outcome);
  }
  if (!ended.empty()) {
    GLMQ_ASSIGN_OR_RETURN(const std::vector<bool> recorded, batches_.SetResults(batch.id, ended));
    for (size_t i = 0; i < recorded.size(); ++i) {
      if (recorded[i]) Ended(outcomes[i]);
    }
  }
  // Their outcomes are gathered next round.
  if (!to_stop.empty()) (void)jobs_.CancelMany(to_stop);
  // A batch being stopped has every line to settle: its next page waits for no period (a
  // 50,000-line batch is 25 pages to tell its jobs to stop and 25 to record their ends).
  if (stopping && pending.size() >= static_cast<size_t>(options_.lines_per_round)) {
    more_now_ = true;
  }
  return Status::Ok();
}

Status BatchRunner::RemoveUnrecordedFiles(const Batch& batch) {
  const std::string output_name = ResultFileName(batch.id, true);
  const std::string error_name = ResultFileName(batch.id, false);
  FileQuery query{.purpose = "batch_output", .after = {}, .limit = 1000};
  std::vector<std::string> leftovers;
  for (;;) {
    GLMQ_ASSIGN_OR_RETURN(FilePage page, files_.List(batch.tenant, query));
    for (const FileInfo& file : page.files) {
      if ((file.filename == output_name || file.filename == error_name) &&
          file.id != batch.output_file_id && file.id != batch.error_file_id) {
        leftovers.push_back(file.id);
      }
    }
    if (!page.has_more || page.files.empty()) break;
    query.after = page.files.back().id;
  }
  for (const std::string& id : leftovers) {
    Status s = files_.Delete(batch.tenant, id);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    spdlog::info("batch {}: removed {}, a file an earlier try wrote but never recorded", batch.id,
                 id);
  }
  return Status::Ok();
}

Status BatchRunner::Finalize(Batch& batch) {
  // A try after one that failed (a store that refused the batch's record, a crash, another
  // process's lease that ran out) may find that try's files committed but never named in the
  // batch: they go, and are written again, so the tenant sees one output file and one error
  // file. A batch this process has just moved here has had no earlier try.
  if (fresh_finalizing_.erase(batch.id) == 0) GLMQ_RETURN_IF_ERROR(RemoveUnrecordedFiles(batch));
  std::unique_ptr<FileUpload> output, errors;
  int64_t after = 0;
  for (;;) {
    GLMQ_ASSIGN_OR_RETURN(std::vector<BatchLine> lines, batches_.Lines(batch.id, after, 1000));
    if (lines.empty()) break;
    for (const BatchLine& line : lines) {
      after = line.line;
      std::unique_ptr<FileUpload>& file = line.ok ? output : errors;
      if (!file) {
        GLMQ_ASSIGN_OR_RETURN(file, files_.Begin({.id = {},
                                                  .tenant = batch.tenant,
                                                  .filename = ResultFileName(batch.id, line.ok),
                                                  .purpose = "batch_output"}));
      }
      GLMQ_RETURN_IF_ERROR(file->Append(line.result));
      GLMQ_RETURN_IF_ERROR(file->Append("\n"));
    }
  }
  if (output) {
    GLMQ_ASSIGN_OR_RETURN(FileInfo info, output->Commit(options_.output_retention_ms));
    batch.output_file_id = info.id;
  }
  if (errors) {
    GLMQ_ASSIGN_OR_RETURN(FileInfo info, errors->Commit(options_.output_retention_ms));
    batch.error_file_id = info.id;
  }
  const TimeMs now = NowMs();
  BatchStatus end = BatchStatus::kCompleted;
  if (batch.cancelling_at > 0) {
    end = BatchStatus::kCancelled;
    batch.cancelled_at = now;
  } else if (batch.expired_at > 0) {
    end = BatchStatus::kExpired;
  } else {
    batch.completed_at = now;
  }
  spdlog::info("batch {}: {} ({} answered, {} failed)", batch.id, BatchStatusName(end),
               batch.completed, batch.failed);
  return Move(batch, end);
}

}  // namespace glmq
