#include "admission/admission.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>

#include "engine/prompt.h"
#include "engine/tokenizer.h"
#include "sched/prompt_tokens_once.h"

namespace glmq {

Admission::Admission(JobStore& store, const Tokenizer& tokenizer, const CapacitySource& capacity,
                     PolicyOptions policy, AdmissionOptions options, asio::thread_pool& pool)
    : store_(store),
      tokenizer_(tokenizer),
      capacity_(capacity),
      policy_(policy),
      options_(options),
      pool_(pool),
      inserts_(store, {.in_flight = options.submit_batches_in_flight}) {}

void Admission::SetListeners(std::function<void(const Job&)> on_accepted,
                             std::function<void()> on_queued) {
  on_accepted_ = std::move(on_accepted);
  on_queued_ = std::move(on_queued);
}

bool Admission::PreparesWithoutBlocking(size_t body_bytes) const {
  // A small body without tokenizing costs microseconds to parse and prepare.
  constexpr size_t kInlineBodyBytes = 64 * 1024;
  return !options_.count_tokens && body_bytes <= kInlineBodyBytes;
}

namespace {

// How a wait follows from the work ahead, given the speeds, the work in hand and the size
// of a typical queued prompt.
WaitModel WaitModelOf(const Capacity& capacity, double typical_prompt_tokens) {
  WaitModel model = MakeWaitModel(capacity.rates, capacity.running, capacity.free_sequences,
                                  typical_prompt_tokens);
  // With a sequence free, what is left of the step in progress where the engine says, rather
  // than the mean remainder of recent steps (a long prompt chunk can take seconds).
  if (model.when_clear && capacity.step_left_seconds) {
    model.when_clear = *capacity.step_left_seconds;
  }
  // A sequence frees when the step in progress ends (one is free) or the first running job
  // does (none is): the work ahead then runs in it, sharing the engine with the others,
  // rather than after all the running work.
  const double sequences = std::max(1, capacity.running_sequences + capacity.free_sequences);
  if (model.when_clear) {
    model.first_end = WaitModel::FirstEnd{*model.when_clear, sequences};
  } else if (capacity.first_end_seconds) {
    model.first_end = WaitModel::FirstEnd{*capacity.first_end_seconds, sequences};
  }
  return model;
}

}  // namespace

void Admission::NotePromptSize(int64_t prompt_tokens) const {
  constexpr double kAlpha = 0.05;
  const double n = static_cast<double>(prompt_tokens);
  std::lock_guard lock(sizes_mu_);
  if (mean_prompt_ <= 0) {
    mean_prompt_ = n;
    mean_prompt_squared_ = n * n;
  } else {
    mean_prompt_ += kAlpha * (n - mean_prompt_);
    mean_prompt_squared_ += kAlpha * (n * n - mean_prompt_squared_);
  }
}

double Admission::TypicalPromptTokens() const {
  std::lock_guard lock(sizes_mu_);
  // A queued token is more likely to sit in a large prompt than in a small one.
  return mean_prompt_ > 0 ? mean_prompt_squared_ / mean_prompt_ : 0.0;
}

WaitModel Admission::CurrentWaitModel() const {
  return WaitModelOf(capacity_.Now(), TypicalPromptTokens());
}

Result<Admission::Prepared> Admission::Prepare(std::string tenant, JobRequest request,
                                               Counting counting) const {
  Prepared out;
  // A text too long even at the most bytes per token is refused without tokenizing it.
  const int64_t at_least = tokenizer_.MinPromptTokens(request);
  if (Status fits = tokenizer_.CheckFits(at_least, request.sampling.max_tokens); !fits.ok()) {
    return Unprocessable("the prompt has at least " + std::to_string(at_least) +
                         " tokens: " + std::string(fits.message()));
  }
  // Tokenizing runs at a few MB/s, so a large document is accepted on an estimate and
  // counted right after its 202 (see Settle).
  int64_t tokens = 0;
  if (counting == Counting::kEstimate || !options_.count_tokens ||
      RequestTextBytes(request) > options_.sync_count_bytes) {
    tokens = tokenizer_.EstimatePromptTokens(request);
    out.after.prompt_tokens_estimated = true;
    out.after.count_after = counting == Counting::kAsConfigured && options_.count_tokens;
  } else {
    GLMQ_ASSIGN_OR_RETURN(tokens, tokenizer_.CountPromptTokens(request));
    GLMQ_RETURN_IF_ERROR(tokenizer_.CheckFits(tokens, request.sampling.max_tokens));
  }
  Job& job = out.job.job;
  job.id = NewJobId();
  job.tenant = std::move(tenant);
  job.created_at = NowMs();
  job.prompt_tokens = tokens;
  // A question on a document accepted lately: the engine reads the document once.
  const int64_t document_tokens = DocumentMemory::DocumentTokens(request, tokens);
  std::optional<DocumentMemory::Recall> seen;  // what is known of its document
  if (document_tokens > 0) {
    out.after.document = DocumentMemory::DocumentOf(job.tenant, request);
    seen = documents_.Seen(*out.after.document, job.created_at);
    if (seen) job.shared_prompt_tokens = document_tokens;
  }
  job.length_class = ClassifyLength(policy_, job.prompt_tokens);
  if (request.timeout_seconds > 0) {
    job.deadline_at = job.created_at + std::llround(request.timeout_seconds * 1000.0);
  }
  const Capacity capacity = capacity_.Now();
  // A question on a document accepted lately sorts with the document's first job.
  out.after.slack_max_tokens = seen ? seen->first_max_tokens : request.sampling.max_tokens;
  out.after.slack_seconds =
      seen ? seen->slack_seconds
           : SlackSeconds(policy_, capacity.rates, job.prompt_tokens, request.sampling.max_tokens);
  job.order_key =
      OrderKeyWithSlack(policy_, job.created_at, request.priority, out.after.slack_seconds);
  if (policy_.promised_order) {
    out.job.slack_seconds = out.after.slack_seconds;
  } else if (seen) {
    // Behind its document's first job, wherever that job's kept estimate put it.
    out.after.key_offset_ms = seen->key_offset_ms;
    job.order_key += seen->key_offset_ms;
  } else if (policy_.keep_estimates && counting == Counting::kAsConfigured) {
    out.job.kept_slack_seconds = out.after.slack_seconds;
  }
  NotePromptSize(job.prompt_tokens);
  out.job.wait = WaitModelOf(capacity, TypicalPromptTokens());
  if (out.after.document && !seen) {
    out.after.document_read_seconds = PrefillSeconds(capacity.rates, document_tokens);
  } else if (seen && job.created_at < seen->read_at &&
             seen->jobs >= std::max(1, capacity.running_sequences + capacity.free_sequences)) {
    // Its document's jobs hold every sequence until it is read, and one of them has answered.
    out.job.wait.at_least =
        static_cast<double>(seen->read_at - job.created_at) / 1000.0 +
        seen->fewest_max_tokens * capacity.rates.completion_ratio * TokenSeconds(capacity.rates);
  }
  // A batch's lines (kEstimate) sort by their batch's place and are told no wait of their own.
  if (counting == Counting::kAsConfigured) {
    if (!policy_.promised_order) arrivals_.Foresee(job.order_key, job.created_at, out.job.wait);
    out.after.note_arrival = true;  // once it is durable: a refused submit arrives not at all
  }
  job.request = std::move(request);
  return out;
}

void Admission::Settle(const Job& job, int64_t moved_ms, int32_t slack_max_tokens) const {
  auto tokens = options_.tokens_once != nullptr
                    ? options_.tokens_once->CountAndKeep(job.id, job.request)
                    : tokenizer_.CountPromptTokens(job.request);
  Status fits = tokens.ok() ? tokenizer_.CheckFits(*tokens, job.request.sampling.max_tokens)
                            : tokens.status();
  Status recorded;
  if (!fits.ok()) {
    if (options_.tokens_once != nullptr) options_.tokens_once->Forget(job.id);
    recorded = store_.FailQueued(job.id, "prompt_too_long", std::string(fits.message()));
  } else {
    // The wait it was promised for the work ahead of it stays; its own size is now exact. A
    // question on a document prices it with the answer the document's first job asked for,
    // as that job's settle step does: the two differ by their questions alone and stay
    // together in the queue.
    const int64_t order_key = OrderKey(policy_, capacity_.Now().rates, job.created_at,
                                       job.request.priority, *tokens, slack_max_tokens) +
                              moved_ms;
    recorded = store_.SetQueuedCost(job.id, *tokens, ClassifyLength(policy_, *tokens), order_key);
  }
  if (!recorded.ok() && recorded.code() != StatusCode::kConflict) {
    spdlog::error("recording the token count of job {} failed: {}", job.id, recorded.ToString());
  }
}

// What follows a durable insert: the arrival noted for later forecasts, the listeners, and
// the exact count of a large document.
Admission::Accepted Admission::Accept(Job job, int64_t position, AfterInsert after,
                                      int64_t promised_ms) {
  Accepted out{std::move(job), position, after.prompt_tokens_estimated};
  PeerNote note{.at = out.job.created_at,
                .order_key = out.job.order_key - promised_ms,
                .to_read = out.job.prompt_tokens - out.job.shared_prompt_tokens,
                .max_tokens = out.job.request.sampling.max_tokens,
                .arrival = after.note_arrival};
  if (after.document) {
    const double read_in = out.job.estimated_wait_seconds + after.document_read_seconds;
    // A first job's key moved by a kept estimate moves its questions' keys as far.
    const int64_t key_offset_ms = after.key_offset_ms + (policy_.promised_order ? 0 : promised_ms);
    note.document =
        PeerNote::Document{.key = *after.document,
                           .read_at = out.job.created_at + std::llround(read_in * 1000.0),
                           .slack_seconds = after.slack_seconds,
                           .key_offset_ms = key_offset_ms};
  }
  Remember(note);
  if (tell_peers_ && (note.arrival || note.document)) tell_peers_(EncodePeerNote(note));
  if (on_accepted_) on_accepted_(out.job);
  if (after.count_after) {
    // The request moves to the counting task; the 202 needs only the other fields.
    Job pending;
    pending.id = out.job.id;
    pending.created_at = out.job.created_at;
    pending.request = std::move(out.job.request);
    // A question keeps its document's first job's move too (its key as given had it).
    asio::post(pool_, [this, moved_ms = promised_ms + after.key_offset_ms,
                       slack_max_tokens = after.slack_max_tokens, pending = std::move(pending)] {
      Settle(pending, moved_ms, slack_max_tokens);
    });
  }
  if (on_queued_) on_queued_();
  return out;
}

void Admission::Remember(const PeerNote& note) {
  if (note.arrival) arrivals_.Note(note.at, note.order_key, note.to_read, note.max_tokens);
  if (note.document) {
    documents_.Note(note.document->key, note.at, note.document->read_at, note.max_tokens,
                    note.document->slack_seconds, note.document->key_offset_ms);
  }
}

void Admission::NotePeers(std::string_view lines) {
  int skipped = 0;
  for (const PeerNote& note : DecodePeerNotes(lines, &skipped)) Remember(note);
  // A peer of another version could send such lines with every message: said once.
  static std::atomic<bool> warned{false};
  if (skipped > 0 && !warned.exchange(true)) {
    spdlog::warn(
        "admission: {} malformed note(s) from another gateway skipped (a gateway of "
        "another glmq version?); later ones are skipped without a word",
        skipped);
  }
}

asio::awaitable<Result<Admission::Accepted>> Admission::InsertBatched(Prepared prepared) {
  const int64_t given_key = prepared.job.job.order_key;
  auto inserted = co_await inserts_.Insert(std::move(prepared.job));
  if (!inserted.ok()) co_return inserted.status();
  const int64_t promised_ms = inserted->job.order_key - given_key;
  co_return Accept(std::move(inserted->job), inserted->placement.position, prepared.after,
                   promised_ms);
}

Result<Admission::Accepted> Admission::InsertNow(Prepared prepared) {
  const int64_t given_key = prepared.job.job.order_key;
  std::vector<JobStore::NewJob> one;
  one.push_back(std::move(prepared.job));
  auto inserted = InsertBatcher::InsertNow(store_, std::move(one));
  if (!inserted.at(0).ok()) return inserted.at(0).status();
  const int64_t promised_ms = inserted[0]->job.order_key - given_key;
  return Accept(std::move(inserted[0]->job), inserted[0]->placement.position, prepared.after,
                promised_ms);
}

std::vector<Result<Admission::Accepted>> Admission::InsertMany(std::vector<Prepared> prepared) {
  std::vector<int64_t> given_keys;
  std::vector<AfterInsert> after;
  std::vector<JobStore::NewJob> jobs;
  for (Prepared& p : prepared) {
    given_keys.push_back(p.job.job.order_key);
    after.push_back(p.after);
    jobs.push_back(std::move(p.job));
  }
  auto inserted = InsertBatcher::InsertNow(store_, std::move(jobs));
  std::vector<Result<Accepted>> out;
  for (size_t i = 0; i < inserted.size(); ++i) {
    if (!inserted[i].ok()) {
      out.push_back(inserted[i].status());
      continue;
    }
    const int64_t promised_ms = inserted[i]->job.order_key - given_keys[i];
    out.push_back(Accept(std::move(inserted[i]->job), inserted[i]->placement.position, after[i],
                         promised_ms));
  }
  return out;
}

Result<Admission::Accepted> Admission::InsertIdempotent(
    Prepared prepared, const JobStore::IdempotencyClaim& claim, int status,
    const std::function<std::string(const Accepted&)>& answer, int64_t ttl_ms) {
  Accepted out;
  out.prompt_tokens_estimated = prepared.after.prompt_tokens_estimated;
  out.job = std::move(prepared.job.job);
  const int64_t given_key = out.job.order_key;
  // The single insert measures nothing itself: the work ahead is read first (a job
  // inserted meanwhile is missed, as a wait estimate may be).
  Status read;
  const auto work_before = [&](int64_t key) -> JobStore::WorkAhead {
    if (!read.ok()) return {};
    auto ahead = store_.WorkBefore(key);
    if (!ahead.ok()) {
      read = ahead.status();
      return {};
    }
    return *ahead;
  };
  const NewJobPlace place = PlaceNewJob(given_key, prepared.job.wait, prepared.job.slack_seconds,
                                        work_before, prepared.job.kept_slack_seconds);
  GLMQ_RETURN_IF_ERROR(read);
  out.job.order_key = place.order_key;
  out.job.estimated_wait_seconds = place.estimated_wait_seconds;
  out.queue_position = place.ahead.jobs + 1;
  GLMQ_RETURN_IF_ERROR(store_.InsertIdempotent(out.job, claim, status, answer(out), ttl_ms));
  return Accept(std::move(out.job), out.queue_position, prepared.after,
                out.job.order_key - given_key);
}

const ModelInfo& Admission::model() const { return tokenizer_.info(); }

Result<double> Admission::CurrentWaitSeconds(const Job& job) const {
  GLMQ_ASSIGN_OR_RETURN(const JobStore::WorkAhead ahead, store_.WorkBefore(job.order_key));
  WaitModel model = CurrentWaitModel();
  if (!policy_.promised_order) arrivals_.Foresee(job.order_key, NowMs(), model);
  return model.Told(ahead.prompt_tokens, ahead.max_tokens);
}

double Admission::WaitWithNothingAhead() const { return CurrentWaitModel().Seconds(0, 0); }

}  // namespace glmq
