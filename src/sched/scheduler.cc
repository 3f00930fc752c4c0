// The scheduler loop. About 650 lines: claiming, holding and backfilling, stepping and
// writing back are one loop over one thread's state; the backfill arithmetic is in
// backfill.cc.
#include "sched/scheduler.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "core/error_codes.h"
#include "engine/prompt.h"
#include "sched/backfill.h"
#include "sched/first_end.h"
#include "sched/policy.h"

namespace glmq {
namespace {

// Prompts with more text than this are tokenized off the engine's thread.
constexpr size_t kInlineTokenizeBytes = 64 * 1024;

// Frees a request's text and message contents once its tokens are made.
void FreeTexts(JobRequest& request) {
  std::string().swap(request.text);
  for (ChatMessage& m : request.messages) std::string().swap(m.content);
}

bool PastDeadline(const Job& job, TimeMs now) {
  return job.deadline_at > 0 && now >= job.deadline_at;
}

JobEvent MakeEvent(JobEvent::Kind kind, const std::string& job_id, LengthClass length_class,
                   double seconds) {
  JobEvent e;
  e.kind = kind;
  e.job_id = job_id;
  e.length_class = length_class;
  e.seconds = seconds;
  return e;
}

Completion FailedCompletion(const Status& status) {
  Completion c;
  c.state = JobState::kFailed;
  c.finish_reason = "error";
  // A prompt found too long only here (a gateway accepted it on an estimate) reads as it
  // would had it been counted at submit.
  c.error_code =
      ErrorCodeName(status.code() == StatusCode::kUnprocessable ? ErrorCode::kPromptTooLong
                                                                : ErrorCodeFor(status.code()));
  c.error_message = status.message();
  return c;
}

}  // namespace

Scheduler::Scheduler(JobStore& store, Engine& engine, ThroughputMeter& meter,
                     SchedulerOptions options)
    : store_(store),
      engine_(engine),
      meter_(meter),
      options_(std::move(options)),
      writer_(store, options_.worker_id) {
  store_.SetFairShare(options_.fair_share);
}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Start() {
  PublishRunningWork();
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Shutdown(std::chrono::milliseconds drain, bool hand_back) {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + drain;
    hand_back_ = hand_back;
    if (drain.count() <= 0) stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

void Scheduler::RequestStop(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    stop_requests_.insert(id);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

TimeMs Scheduler::alive_at() const { return std::max(running_work().loop_at, engine_.alive_at()); }

RunningWork Scheduler::running_work() const {
  RunningWork w;
  {
    std::lock_guard lock(work_mu_);
    w = work_;
  }
  w.step_ends_at = engine_.step_ends_at();
  return w;
}

void Scheduler::PublishRunningWork() {
  RunningWork w;
  w.sequences = engine_.ActiveSequences();
  w.free_sequences = engine_.FreeSlots();
  // What running jobs hold (a prefix they share counts once); warm cached KV is free.
  w.kv_reserved_tokens = engine_.info().ctx_size - engine_.FreeKvTokens();
  w.loop_at = NowMs();
  // What each running job has left, for the first end: its prompt priced as the meter
  // prices one (weights, and attention over the positions it reads), or at the engine's
  // recent cost per token until the meter has measured prefill.
  const ThroughputSnapshot rates = meter_.Snapshot();
  const StepCosts costs = engine_.step_costs();
  auto prompt_seconds = [&](int64_t read, int64_t unread) {
    if (rates.prefill_tokens_per_second <= 0) {
      return static_cast<double>(unread) * costs.prefill_token_seconds;
    }
    return (static_cast<double>(unread) +
            rates.attention_per_position * PositionsOf(read, unread)) /
           rates.prefill_tokens_per_second;
  };
  std::vector<SequenceLeft> left;
  std::unordered_map<std::string_view, int32_t> index;   // job → its place in `left`
  std::vector<std::pair<int32_t, std::string>> waiting;  // (place, donor job)
  for (const auto& [id, r] : running_) {
    int64_t read = std::min(r.prompt_tokens, r.progress.prompt_tokens_read);
    // A prefix it shares with a job still reading it: taken, not read.
    auto wait = engine_.WaitsForPrefix(id);
    if (wait) read = std::clamp(wait->shared_tokens, read, r.prompt_tokens);
    const int64_t to_generate = std::max<int64_t>(0, r.max_tokens - r.progress.completion_tokens);
    w.prompt_tokens_left += r.prompt_tokens - read;
    w.prompt_positions_left += PositionsOf(read, r.prompt_tokens - read);
    w.max_tokens_left += to_generate;
    // As many as its kind generate, of what it may still; one at least, since it runs.
    const double expected = static_cast<double>(r.max_tokens) * rates.completion_ratio -
                            static_cast<double>(r.progress.completion_tokens);
    index[id] = static_cast<int32_t>(left.size());
    if (wait) waiting.emplace_back(static_cast<int32_t>(left.size()), std::move(wait->donor_job));
    left.push_back({r.prompt_tokens - read, prompt_seconds(read, r.prompt_tokens - read),
                    std::clamp(expected, 1.0, std::max(1.0, static_cast<double>(to_generate)))});
    if (w.oldest_started_at == 0 || r.started_at < w.oldest_started_at) {
      w.oldest_started_at = r.started_at;
      w.oldest_job = id;
    }
  }
  for (const auto& [place, donor] : waiting) {
    if (auto it = index.find(donor); it != index.end()) left[place].waits_for = it->second;
  }
  if (const auto first_end = FirstEndSeconds(std::move(left), costs)) {
    w.first_end_at = w.loop_at + std::llround(*first_end * 1000);
  }
  std::lock_guard lock(work_mu_);
  work_ = w;
}

void Scheduler::Housekeeping(TimeMs now) {
  last_housekeeping_ = now;
  // One round at a time: if the store is slow, rounds are skipped rather than queued up.
  if (housekeeping_pending_.exchange(true)) return;
  std::vector<std::string> ids;
  for (const auto& [id, r] : running_) ids.push_back(id);
  if (held_) ids.push_back(held_->claimed->job.id);
  writer_.Run([this, now, ids = std::move(ids)] {
    // Only what this worker runs, or holds the outcome of: a job the store says it holds
    // but its engine does not run lets its lease run out, and is reaped.
    std::vector<std::string> renew = ids;
    for (std::string& id : writer_.HeldOutcomes()) renew.push_back(std::move(id));
    lease_heartbeat_log_.Record(store_.RenewLeases(options_.worker_id, renew, options_.lease_ms));
    expire_log_.Record(store_.ExpireOverdue(now).status());
    if (options_.retention_ms > 0) {
      retention_log_.Record(
          store_.DeleteEnded(now - options_.retention_ms, options_.retention_batch).status());
    }
    auto reaped = store_.ReapExpiredLeases(now, options_.max_deliveries);
    reap_log_.Record(reaped.status());
    if (reaped.ok() && *reaped > 0) {
      spdlog::warn("re-queued {} jobs whose worker lease expired", *reaped);
    }
    // Cancellations recorded by another process reach us through the store.
    for (const std::string& id : ids) {
      auto job = store_.Get(id, false);
      if (job.ok() && job->cancel_requested) RequestStop(id);
    }
    housekeeping_pending_ = false;
  });
}

bool Scheduler::EndedWhileQueued(const Job& job, TimeMs now) {
  if (job.cancel_requested) {
    Completion c;
    c.state = JobState::kCancelled;
    c.finish_reason = "cancelled";
    writer_.Complete(job.id, options_.worker_id, std::move(c));
    return true;
  }
  if (PastDeadline(job, now)) {
    Completion c;
    c.state = JobState::kExpired;
    c.finish_reason = "timeout";
    c.error_code = ErrorCodeName(ErrorCode::kTimeout);
    c.error_message = "the job's timeout_seconds passed while it was queued";
    writer_.Complete(job.id, options_.worker_id, std::move(c));
    return true;
  }
  return false;
}

std::unique_ptr<Scheduler::Claimed> Scheduler::ClaimAndTokenize(bool* queue_empty, bool may_defer) {
  auto claimed = store_.ClaimNext(options_.worker_id, options_.lease_ms, SlotLimit());
  claim_log_.Record(claimed.status());
  if (!claimed.ok() || !claimed->has_value()) {
    *queue_empty = true;
    return nullptr;
  }
  auto c = std::make_unique<Claimed>();
  c->job = std::move(**claimed);
  if (EndedWhileQueued(c->job, NowMs())) return nullptr;
  if (auto known = too_long_here_.find(c->job.id); known != too_long_here_.end()) {
    if (HandBackForLargerWorker(c->job, known->second)) {
      *queue_empty = true;  // it heads the queue again: nothing more to claim for now
      return nullptr;
    }
    too_long_here_.erase(known);  // no larger worker now: counted again, it fails here
  }
  // Once per process that runs the job: the tokens stay with it while it waits for KV. A
  // document takes about a second per 3 MB, which the engine's other sequences should not
  // wait for.
  const Tokenizer& tokenizer = engine_.tokenizer();
  if (may_defer && RequestTextBytes(c->job.request) > kInlineTokenizeBytes) {
    // Beside running sequences at the lowest priority: the engine's threads use every core,
    // and the job waits for KV or a sequence anyway, which the running jobs will free. With
    // the engine idle the job waits for its tokens alone, so they get a full share of the
    // machine (at nice 19 other processes would starve them).
    const bool beside_others = engine_.ActiveSequences() > 0;
    c->tokenizing = std::async(
        std::launch::async, [&tokenizer, once = options_.tokens_once, id = c->job.id,
                             request = &c->job.request, beside_others, keep = KeepsText()] {
          if (beside_others) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
          if (once == nullptr) return tokenizer.TokenizePrompt(*request);
          // Tokens made by the settle step: the document read from the store is not needed.
          return once->Take(
              id, *request, keep ? std::function<void()>() : [request] { FreeTexts(*request); });
        });
    return c;
  }
  if (!TakeTokens(*c, tokenizer.TokenizePrompt(c->job.request))) return nullptr;
  return c;
}

bool Scheduler::TakeTokens(Claimed& c, Result<PromptTokens> tokens) {
  Status fits = tokens.ok() ? engine_.tokenizer().CheckFits(static_cast<int64_t>(tokens->size()),
                                                            c.job.request.sampling.max_tokens)
                            : tokens.status();
  if (!fits.ok() && tokens.ok() && fits.code() == StatusCode::kUnprocessable &&
      HandBackForLargerWorker(
          c.job, static_cast<int64_t>(tokens->size()) + c.job.request.sampling.max_tokens)) {
    return false;
  }
  if (!fits.ok()) {
    spdlog::warn("job {} cannot run: {}", c.job.id, fits.ToString());
    writer_.Complete(c.job.id, options_.worker_id, FailedCompletion(fits));
    return false;
  }
  c.prompt = std::move(*tokens);
  // A job held for KV keeps its tokens; its document, where the engine does not read it,
  // goes.
  if (!KeepsText()) FreeTexts(c.job.request);
  return true;
}

// Starts the job on the engine, or says it must wait: the KV cache has no room for it yet,
// or it must run alone and others still run.
Scheduler::Started Scheduler::TryStart(Claimed& claimed) {
  Job& job = claimed.job;
  const TimeMs now = NowMs();
  if (EndedWhileQueued(job, now)) return Started::kEnded;
  // A job delivered before may be what killed the last worker: run it alone, so that if it
  // does again, it takes no innocent job with it (those would use up their deliveries too
  // and end in the dead letter beside it).
  const bool alone = job.attempts > 1;
  if (alone) {
    if (engine_.ActiveSequences() > 0) return Started::kWait;  // after the running ones end
    // The results of the jobs that just ended must not die with this one: a result lost
    // in the writer's queue would run its job again and count a delivery against it.
    writer_.Flush();
  }
  if (options_.before_start) options_.before_start(job);
  const auto prompt_tokens = static_cast<int64_t>(claimed.prompt.size());
  const Status admitted = engine_.Admit(job, claimed.prompt);
  if (admitted.code() == StatusCode::kResourceExhausted && engine_.ActiveSequences() > 0) {
    return Started::kWait;  // running jobs will free KV
  }
  if (!admitted.ok()) {
    spdlog::warn("job {} cannot run: {}", job.id, admitted.ToString());
    writer_.Complete(job.id, options_.worker_id, FailedCompletion(admitted));
    return Started::kEnded;
  }
  stats_.Record(MakeEvent(JobEvent::Kind::kStarted, job.id, job.length_class,
                          (now - job.created_at) / 1000.0));
  spdlog::debug("job {} started ({} prompt tokens, attempt {})", job.id, prompt_tokens,
                job.attempts);
  if (alone) spdlog::info("job {} runs alone: delivery {}", job.id, job.attempts);
  Running& r = running_[job.id];
  r.alone = alone;
  r.length_class = job.length_class;
  r.created_at = job.created_at;
  r.started_at = now;
  r.prompt_tokens = prompt_tokens;
  r.max_tokens = job.request.sampling.max_tokens;
  // Keys only move earlier than the virtual deadline for a kept estimate (later, under
  // promised order, where the key as stored is the one to keep).
  r.yield_key =
      std::max(job.order_key, OrderKey(options_.policy, meter_.Snapshot(), job.created_at,
                                       job.request.priority, prompt_tokens, r.max_tokens));
  return Started::kYes;
}

bool Scheduler::HandBackForLargerWorker(const Job& job, int64_t kv_tokens) {
  if (!options_.held_elsewhere || !options_.held_elsewhere(kv_tokens)) return false;
  if (!too_long_here_.contains(job.id)) {
    spdlog::info(
        "job {} needs {} tokens of one sequence, more than this worker's {}: back to "
        "the queue for a worker that holds them",
        job.id, kv_tokens, engine_.tokenizer().SequenceTokens());
    if (too_long_here_.size() >= kMaxTooLongHere) too_long_here_.clear();
    too_long_here_[job.id] = kv_tokens;
  }
  HandBack(job.id);
  // Its exact size, so that claims here pass it over (SlotLimit) while it waits; kConflict
  // when another worker took it meanwhile.
  const int64_t prompt_tokens = kv_tokens - job.request.sampling.max_tokens;
  if (prompt_tokens != job.prompt_tokens) {
    (void)store_.SetQueuedCost(job.id, prompt_tokens, job.length_class, job.order_key);
  }
  claims_paused_until_ = std::chrono::steady_clock::now() + kElsewherePause;
  return true;
}

void Scheduler::HandBack(const std::string& id) {
  if (Status s = store_.Release(id, options_.worker_id); !s.ok()) {
    spdlog::warn("handing back job {} failed ({}); its lease will run out", id, s.ToString());
  }
}

void Scheduler::AdmitQueued() {
  // The job at the head keeps its claim until its tokens are made and the KV it needs is
  // free; it asks the engine again only when a running job has ended (or it was cancelled,
  // or its deadline passed), and what starts meanwhile cannot delay it (Backfill).
  if (held_) {
    Held& held = *held_;
    Claimed& claimed = *held.claimed;
    const Job& job = claimed.job;
    const bool due = job.cancel_requested || PastDeadline(job, NowMs());
    bool ended = false;
    if (claimed.tokenizing.valid()) {
      if (!due &&
          claimed.tokenizing.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        Backfill();
        return;
      }
      // A cancel waits for the tokenizer to finish with the request it reads.
      ended = !TakeTokens(claimed, claimed.tokenizing.get());
      held.tried_at_ended.reset();
    }
    if (!ended && (due || held.tried_at_ended != ended_)) {
      held.tried_at_ended = ended_;
      ended = TryStart(claimed) != Started::kWait;
    }
    if (!ended) {
      Backfill();
      return;
    }
    held_.reset();
    refused_head_.reset();
  }
  for (const auto& [id, r] : running_) {
    if (r.alone) return;
  }
  if (std::chrono::steady_clock::now() < claims_paused_until_) return;
  while (engine_.FreeSlots() > 0) {
    bool queue_empty = false;
    std::unique_ptr<Claimed> claimed = ClaimAndTokenize(&queue_empty, /*may_defer=*/true);
    if (queue_empty) return;
    if (!claimed) continue;  // it ended here
    // Held while its tokens are made (asked once they are), or because it did not fit.
    const bool tokenizing = claimed->tokenizing.valid();
    if (tokenizing || TryStart(*claimed) == Started::kWait) {
      held_ = Held{.claimed = std::move(claimed),
                   .tried_at_ended = tokenizing ? std::nullopt : std::optional(ended_)};
      spdlog::debug("job {} waits for {} KV tokens ({} free)", held_->claimed->job.id,
                    held_->claimed->kv_tokens(), engine_.FreeKvTokens());
      Backfill();
      return;
    }
  }
}

JobStore::ClaimLimit Scheduler::SlotLimit() const {
  JobStore::ClaimLimit limit;
  // The last short_slots free sequences take short jobs only.
  if (options_.short_slots > 0 && engine_.FreeSlots() <= options_.short_slots) {
    limit.prompt_tokens_below = options_.short_prompt_tokens;
  }
  // Prompts that cannot fit here are left to a larger worker while one is live.
  const int64_t sequence_tokens = engine_.tokenizer().SequenceTokens();
  if (options_.held_elsewhere && options_.held_elsewhere(sequence_tokens + 1)) {
    limit.pass_over_from = sequence_tokens;
  }
  return limit;
}

double Scheduler::ForecastSeconds(const ThroughputSnapshot& rates, int64_t prompt_tokens,
                                  int64_t max_tokens) const {
  // Beside others a sequence gets one token a step, and a step that reads a prompt chunk
  // takes longer than one that only decodes.
  const double pace = std::max(TokenSeconds(rates), step_seconds_);
  return PrefillSeconds(rates, prompt_tokens) + static_cast<double>(max_tokens) * pace;
}

void Scheduler::Backfill() {
  if (!options_.backfill || !held_) return;
  // A job that must run alone waits for the engine to empty: nothing starts beside it.
  if (held_->claimed->job.attempts > 1) return;
  if (std::chrono::steady_clock::now() < claims_paused_until_) return;
  const ThroughputSnapshot rates = meter_.Snapshot();
  while (engine_.FreeSlots() > 0) {
    auto head = store_.Head(SlotLimit());
    if (!head.ok() || !head->has_value()) return;
    if (refused_head_ == **head) return;
    // Running jobs end in the order of their forecasts: they use what the measured rates
    // say they will (the share of max_tokens jobs use), where a newcomer is held to all of
    // its max_tokens.
    std::vector<RunningForecast> forecasts;
    for (const auto& [id, r] : running_) {
      const int64_t prompt_left =
          std::max<int64_t>(0, r.prompt_tokens - r.progress.prompt_tokens_read);
      const int64_t tokens_left = std::max<int64_t>(0, r.max_tokens - r.progress.completion_tokens);
      forecasts.push_back(
          {.kv_tokens = r.prompt_tokens + r.max_tokens,
           .seconds_left = ForecastSeconds(rates, prompt_left, 0) +
                           ForecastSeconds(rates, 0, tokens_left) * rates.completion_ratio});
    }
    const BackfillWindow window = PlanBackfill(held_->claimed->kv_tokens(), engine_.FreeKvTokens(),
                                               engine_.FreeSlots(), std::move(forecasts));
    const JobStore::QueueHead& next = **head;
    if (!window.Allows(next.prompt_tokens + next.max_tokens,
                       ForecastSeconds(rates, next.prompt_tokens, next.max_tokens))) {
      return;
    }
    bool queue_empty = false;
    // Tokenized here: a job small enough to pass costs little to tokenize.
    std::unique_ptr<Claimed> claimed = ClaimAndTokenize(&queue_empty, /*may_defer=*/false);
    if (queue_empty) return;
    if (!claimed) continue;  // it ended here
    // The store's size may have been an estimate; the tokens are exact.
    const bool allowed = window.Allows(
        claimed->kv_tokens(), ForecastSeconds(rates, static_cast<int64_t>(claimed->prompt.size()),
                                              claimed->job.request.sampling.max_tokens));
    const Started started = allowed ? TryStart(*claimed) : Started::kWait;
    if (started == Started::kWait) {
      refused_head_ = next;
      HandBack(claimed->job.id);
      return;
    }
    if (started == Started::kYes) {
      spdlog::debug("job {} backfilled beside job {}, which waits for KV", claimed->job.id,
                    held_->claimed->job.id);
    }
  }
}

// A running job still reading its prompt yields the step to queued work that sorts before
// it: a document admitted into a free slot must not slow the questions that came after it
// (and sort first) while they wait for, or run in, the other slots.
StepHints Scheduler::Hints() {
  StepHints hints;
  // What sorts first among the waiting: the head of the queue (one cheap store question per
  // step, asked only while some prompt is being read). Not a job held for KV: it waits for
  // memory, which the running jobs free no sooner for yielding, and the jobs backfilled
  // beside it would yield to it for nothing.
  std::optional<int64_t> first_waiting;
  bool asked = false;
  for (const auto& [id, r] : running_) {
    if (r.progress.prompt_tokens_read >= r.prompt_tokens && r.progress.prompt_tokens_read > 0) {
      continue;  // generating
    }
    if (!asked) {
      asked = true;
      auto head = store_.Head();
      if (head.ok() && *head) first_waiting = (*head)->order_key;
    }
    if (first_waiting && *first_waiting < r.yield_key) hints.yield_prefill.push_back(id);
  }
  // With sequences kept for short jobs, those jobs do not wait for longer prompts: a longer
  // prompt yields the step to a short job that runs, and no step is longer than the target,
  // so a short job that comes finds the step in progress ending soon.
  if (options_.short_slots > 0) {
    hints.bound_prefill_steps = true;
    const bool short_runs = std::any_of(running_.begin(), running_.end(), [&](const auto& entry) {
      return entry.second.prompt_tokens < options_.short_prompt_tokens;
    });
    if (short_runs) {
      for (const auto& [id, r] : running_) {
        if (r.prompt_tokens >= options_.short_prompt_tokens &&
            std::find(hints.yield_prefill.begin(), hints.yield_prefill.end(), id) ==
                hints.yield_prefill.end()) {
          hints.yield_prefill.push_back(id);
        }
      }
    }
  }
  return hints;
}

void Scheduler::ApplyStep(const StepReport& report) {
  int32_t generating = 0;
  for (const auto& p : report.progressed) generating += p.progress.completion_tokens > 0 ? 1 : 0;
  meter_.RecordStep(report.prompt_tokens, report.prompt_positions, report.generated_tokens,
                    generating, report.seconds);
  ended_ += report.finished.size();
  if (report.generated_tokens > 0) {
    constexpr double kAlpha = 0.2;
    step_seconds_ = step_seconds_ <= 0 ? report.seconds
                                       : step_seconds_ + kAlpha * (report.seconds - step_seconds_);
  }
  if (report.reused_prompt_tokens > 0) meter_.RecordReused(report.reused_prompt_tokens);

  const TimeMs now = NowMs();
  for (const auto& p : report.progressed) {
    auto it = running_.find(p.id);
    if (it == running_.end()) continue;
    std::string text = std::move(it->second.progress.text);
    it->second.progress = p.progress;
    it->second.progress.text = std::move(text.append(p.text_added));
    if (!it->second.first_token_seen && p.progress.completion_tokens > 0) {
      it->second.first_token_seen = true;
      stats_.Record(MakeEvent(JobEvent::Kind::kFirstToken, p.id, it->second.length_class,
                              (now - it->second.created_at) / 1000.0));
    }
    if (p.progress.prompt_tokens > 0) it->second.prompt_tokens = p.progress.prompt_tokens;
    if (now - it->second.progress_written_at >= options_.progress_interval_ms) {
      it->second.progress_written_at = now;
      writer_.Progress(p.id, it->second.progress);
    }
  }
  for (const auto& f : report.finished) {
    if (f.completion.retry_later) {
      // Not the job's fault: back to the queue in its old place, not counted as a delivery.
      running_.erase(f.id);
      writer_.Flush();  // its progress writes first: Release resets them
      engine_log_.Record(Internal(f.completion.error_message));
      HandBack(f.id);
      claims_paused_until_ = std::chrono::steady_clock::now() + retry_backoff_;
      retry_backoff_ = std::min(retry_backoff_ * 2, kMaxRetryBackoff);
      continue;
    }
    if (f.completion.state == JobState::kSucceeded) {
      retry_backoff_ = kMinRetryBackoff;
      engine_log_.Record(Status::Ok());
    }
    auto it = running_.find(f.id);
    if (it != running_.end()) {
      if (f.completion.state == JobState::kSucceeded) {
        meter_.RecordCompletion(f.completion.usage.completion_tokens, it->second.max_tokens);
      }
      JobEvent finished = MakeEvent(JobEvent::Kind::kFinished, f.id, it->second.length_class,
                                    (now - it->second.started_at) / 1000.0);
      finished.state = f.completion.state;
      finished.usage = f.completion.usage;
      stats_.Record(finished);
      running_.erase(it);
    }
    writer_.Complete(f.id, options_.worker_id, f.completion);
  }
}

void Scheduler::Loop() {
  spdlog::info("scheduler started as worker '{}'", options_.worker_id);
  while (true) {
    std::set<std::string> stops;
    bool draining = false;
    {
      std::unique_lock lock(mu_);
      if (stopping_) break;
      draining = draining_;
      if (draining &&
          ((running_.empty() && !held_) || std::chrono::steady_clock::now() >= drain_deadline_)) {
        break;
      }
      stops.swap(stop_requests_);
      woken_ = false;
    }
    for (const std::string& id : stops) {
      if (running_.count(id)) engine_.Stop(id, JobState::kCancelled);
      if (held_ && held_->claimed->job.id == id) held_->claimed->job.cancel_requested = true;
    }
    const TimeMs now = NowMs();
    if (now - last_housekeeping_ >= options_.housekeeping_interval_ms) Housekeeping(now);
    if (!draining) {
      const size_t before = running_.size();
      AdmitQueued();
      // What just started is seen by estimates now, not after the step (seconds, for a
      // long prompt chunk): a submit meanwhile would be told a sequence is free.
      if (running_.size() != before) PublishRunningWork();
    }
    if (engine_.ActiveSequences() == 0 && running_.empty() && !held_) {
      PublishRunningWork();
      std::unique_lock lock(mu_);
      wake_cv_.wait_for(lock, std::chrono::milliseconds(options_.housekeeping_interval_ms),
                        [this] { return woken_ || stopping_; });
      continue;
    }
    ApplyStep(engine_.Step(Hints()));
    if (engine_.ActiveSequences() == 0 && !running_.empty()) {
      // Every sequence ended, so a job still listed here was lost track of (a bug): fail it
      // rather than spin or hold its lease forever.
      for (const auto& [id, r] : running_) {
        spdlog::error("job {} has no engine sequence; failing it", id);
        writer_.Complete(id, options_.worker_id,
                         FailedCompletion(Internal("the engine lost the job's sequence")));
      }
      running_.clear();
    }
    PublishRunningWork();
  }
  // Handed back, a job is queued again at once in its old place; otherwise it keeps its
  // lease, and when that runs out (or at the next start of `glmq serve`) it is queued again.
  // Either way it runs again from the start.
  if (held_) running_[held_->claimed->job.id];
  if (!running_.empty()) {
    spdlog::info("stopping with {} running jobs; {}", running_.size(),
                 hand_back_ ? "handing them back to the queue" : "they will be queued again");
  }
  if (hand_back_) {
    writer_.Flush();
    for (const auto& [id, r] : running_) HandBack(id);
  }
  writer_.Flush();
  spdlog::info("scheduler stopped");
}

}  // namespace glmq
