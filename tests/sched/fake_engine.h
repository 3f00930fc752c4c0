// FakeEngine: an engine without a model, for the scheduler's unit tests. It keeps the
// promises of engine/engine.h (KV reserved at admission, one token a step for every
// generating sequence, prompts read in chunks within a budget, shortest first) and measures
// time on a virtual clock: a step takes step_seconds plus prompt_token_seconds per prompt
// token it reads, so tests can say when each job started and ended regardless of how fast
// the machine running them is.
//
// Threading: the scheduler's thread drives it; the records (admitted/ended times, prompts
// tokenized) may be read from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace glmq {

// One token per byte of the job's texts, plus kTemplateTokens: sizes a test can compute.
class FakeTokenizer final : public Tokenizer {
 public:
  static constexpr int64_t kTemplateTokens = 4;

  explicit FakeTokenizer(ModelInfo info) : info_(std::move(info)) {}

  static int64_t Tokens(const JobRequest& r) {
    int64_t n = static_cast<int64_t>(r.text.size() + r.question.size()) + kTemplateTokens;
    for (const ChatMessage& m : r.messages) n += static_cast<int64_t>(m.content.size());
    return n;
  }

  const ModelInfo& info() const override { return info_; }
  Result<int64_t> CountPromptTokens(const JobRequest& r) const override { return Tokens(r); }
  Result<PromptTokens> TokenizePrompt(const JobRequest& r) const override {
    if (r.text.size() >= slow_text_bytes_ && slow_ms_ > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_));
    }
    std::lock_guard lock(mu_);
    ++tokenized_[r.text];
    done_at_[r.text] = std::chrono::steady_clock::now();
    // A token a byte, as Tokens() counts: prompts with the same document share a prefix.
    PromptTokens tokens(static_cast<size_t>(Tokens(r)), 0);
    size_t at = 0;
    for (const std::string* part : {&r.text, &r.question}) {
      for (unsigned char c : *part) tokens[at++] = c;
    }
    for (const ChatMessage& m : r.messages) {
      for (unsigned char c : m.content) tokens[at++] = c;
    }
    return tokens;
  }
  // Texts of at least `bytes` take `ms` to tokenize. Before the scheduler starts.
  void SetSlow(size_t bytes, int ms) {
    slow_text_bytes_ = bytes;
    slow_ms_ = ms;
  }
  // When the last tokenizing of this text ended.
  std::chrono::steady_clock::time_point TokenizedAt(const std::string& text) const {
    std::lock_guard lock(mu_);
    return done_at_.at(text);
  }
  int64_t MinPromptTokens(const JobRequest& r) const override { return Tokens(r); }
  int64_t EstimatePromptTokens(const JobRequest& r) const override { return Tokens(r); }
  Status CheckFits(int64_t prompt_tokens, int32_t max_tokens) const override {
    if (prompt_tokens + max_tokens > info_.ctx_size) {
      return Unprocessable("exceeds the context of one sequence");
    }
    return Status::Ok();
  }
  int64_t SequenceTokens() const override { return info_.ctx_size; }

  // How many times a prompt with this text was tokenized.
  int TimesTokenized(const std::string& text) const {
    std::lock_guard lock(mu_);
    auto it = tokenized_.find(text);
    return it == tokenized_.end() ? 0 : it->second;
  }

 private:
  ModelInfo info_;
  size_t slow_text_bytes_ = 0;
  int slow_ms_ = 0;
  mutable std::mutex mu_;
  mutable std::map<std::string, int> tokenized_;
  mutable std::map<std::string, std::chrono::steady_clock::time_point> done_at_;
};

struct FakeEngineOptions {
  int64_t kv_tokens = 10'000;
  int32_t parallel = 4;
  int32_t prefill_budget = 100;  // prompt tokens a step reads, all sequences together
  double step_seconds = 0.01;
  double prompt_token_seconds = 0.001;
  int32_t sleep_per_step_ms = 0;  // real time a step takes too (for deadlines and cancels)
  // As LlamaEngine's prefix cache: a job whose prompt starts with 64 tokens or more of a
  // running job's (the same document) waits for that job to read them, if it has not yet,
  // and then takes them instead of reading them.
  bool share_documents = false;
};

class FakeEngine final : public Engine {
 public:
  explicit FakeEngine(FakeEngineOptions options)
      : options_(options), tokenizer_(MakeInfo(options)), info_(MakeInfo(options)) {}

  const ModelInfo& info() const override { return info_; }
  const Tokenizer& tokenizer() const override { return tokenizer_; }
  FakeTokenizer& fake_tokenizer() { return tokenizer_; }

  int32_t FreeSlots() const override {
    return options_.parallel - static_cast<int32_t>(seqs_.size());
  }
  int64_t FreeKvTokens() const override {
    int64_t used = 0;
    for (const Seq& s : seqs_) used += s.kv;
    return options_.kv_tokens - used;
  }
  int32_t ActiveSequences() const override { return static_cast<int32_t>(seqs_.size()); }

  Status Admit(const Job& job, PromptTokens& prompt) override {
    const int64_t kv = static_cast<int64_t>(prompt.size()) + job.request.sampling.max_tokens;
    GLMQ_RETURN_IF_ERROR(
        tokenizer_.CheckFits(static_cast<int64_t>(prompt.size()), job.request.sampling.max_tokens));
    if (FreeSlots() == 0) return Status(StatusCode::kResourceExhausted, "no free sequence");
    if (kv > FreeKvTokens()) return Status(StatusCode::kResourceExhausted, "no KV");
    Seq seq;
    seq.id = job.id;
    seq.prompt = static_cast<int64_t>(prompt.size());
    seq.max_tokens = job.request.sampling.max_tokens;
    seq.kv = kv;
    if (options_.share_documents) {
      for (const Seq& other : seqs_) {
        if (!other.donor.empty()) continue;
        const auto [mine, theirs] = std::ranges::mismatch(prompt, other.tokens);
        const int64_t common = std::min<int64_t>(mine - prompt.begin(), seq.prompt - 1);
        if (common < 64) continue;
        seq.shared = common;
        if (other.read >= common) {
          seq.read = common;
        } else {
          seq.donor = other.id;
        }
        break;
      }
      seq.tokens = prompt;
    }
    seqs_.push_back(std::move(seq));
    prompt = PromptTokens();  // taken, as an engine does
    std::lock_guard lock(mu_);
    admitted_at_[job.id] = now_;
    return Status::Ok();
  }

  std::optional<PrefixWait> WaitsForPrefix(const std::string& job_id) const override {
    for (const Seq& s : seqs_) {
      if (s.id == job_id && !s.donor.empty()) return PrefixWait{s.donor, s.shared};
    }
    return std::nullopt;
  }
  StepCosts step_costs() const override {
    return {.prefill_token_seconds = options_.prompt_token_seconds,
            .decode_step_seconds = options_.step_seconds,
            .batch_size = options_.prefill_budget};
  }

  void Stop(const std::string& id, JobState state) override {
    for (auto it = seqs_.begin(); it != seqs_.end(); ++it) {
      if (it->id != id) continue;
      Completion c;
      c.state = state;
      c.finish_reason = state == JobState::kExpired ? "timeout" : "cancelled";
      stopped_.push_back({id, c});
      seqs_.erase(it);
      Ended(id);
      return;
    }
  }

  using Engine::Step;
  StepReport Step(const StepHints& hints) override {
    if (options_.sleep_per_step_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.sleep_per_step_ms));
    }
    StepReport report;
    report.finished = std::move(stopped_);
    stopped_.clear();
    // A waiting job takes its donor's document once it is read (or reads it itself if the
    // donor is gone).
    for (Seq& s : seqs_) {
      if (s.donor.empty()) continue;
      auto donor =
          std::find_if(seqs_.begin(), seqs_.end(), [&s](const Seq& d) { return d.id == s.donor; });
      if (donor == seqs_.end()) {
        s.donor.clear();
      } else if (donor->read >= s.shared) {
        s.read = s.shared;
        s.donor.clear();
      }
    }
    std::vector<Seq*> reading;
    for (Seq& s : seqs_) {
      if (s.read < s.prompt && s.donor.empty()) reading.push_back(&s);
    }
    std::sort(reading.begin(), reading.end(),
              [](const Seq* a, const Seq* b) { return a->prompt - a->read < b->prompt - b->read; });
    // As LlamaEngine: a prompt told to yield is read only when nothing else would be.
    auto yields = [&hints](const Seq* s) {
      return std::find(hints.yield_prefill.begin(), hints.yield_prefill.end(), s->id) !=
             hints.yield_prefill.end();
    };
    const bool others_have_work = std::any_of(seqs_.begin(), seqs_.end(), [&](const Seq& s) {
      return s.read == s.prompt || !yields(&s);
    });
    int64_t budget = options_.prefill_budget;
    for (Seq& s : seqs_) {
      if (s.read == s.prompt) {  // generating: one token
        ++s.generated;
        ++report.generated_tokens;
      }
    }
    for (Seq* s : reading) {
      if (others_have_work && yields(s)) continue;
      const int64_t chunk = std::min(budget, s->prompt - s->read);
      if (chunk <= 0) continue;
      s->read += chunk;
      budget -= chunk;
      report.prompt_tokens += chunk;
      std::lock_guard lock(mu_);
      read_at_[s->id].push_back(now_);
    }
    report.seconds = options_.step_seconds +
                     options_.prompt_token_seconds * static_cast<double>(report.prompt_tokens);
    {
      std::lock_guard lock(mu_);
      now_ += report.seconds;
    }
    for (auto it = seqs_.begin(); it != seqs_.end();) {
      report.progressed.push_back({it->id,
                                   {.prompt_tokens = it->prompt,
                                    .prompt_tokens_read = it->read,
                                    .completion_tokens = it->generated}});
      if (it->generated >= it->max_tokens) {
        Completion c;
        c.state = JobState::kSucceeded;
        c.finish_reason = "length";
        c.output = "answer of " + it->id;
        c.usage.prompt_tokens = it->prompt;
        c.usage.completion_tokens = it->generated;
        report.finished.push_back({it->id, c});
        Ended(it->id);
        it = seqs_.erase(it);
      } else {
        ++it;
      }
    }
    return report;
  }

  // Virtual seconds at which each job was admitted, and ended.
  std::map<std::string, double> admitted_at() const {
    std::lock_guard lock(mu_);
    return admitted_at_;
  }
  std::map<std::string, double> ended_at() const {
    std::lock_guard lock(mu_);
    return ended_at_;
  }
  // The virtual times of the steps in which each job read some of its prompt.
  std::map<std::string, std::vector<double>> read_at() const {
    std::lock_guard lock(mu_);
    return read_at_;
  }
  double now() const {
    std::lock_guard lock(mu_);
    return now_;
  }
  // The steady clock when each job ended.
  std::map<std::string, std::chrono::steady_clock::time_point> ended_real() const {
    std::lock_guard lock(mu_);
    return ended_real_;
  }

 private:
  struct Seq {
    std::string id;
    int64_t prompt = 0;
    int64_t read = 0;
    int64_t generated = 0;
    int64_t max_tokens = 0;
    int64_t kv = 0;
    PromptTokens tokens;  // with share_documents
    std::string donor;    // the job whose reading of the document it waits for
    int64_t shared = 0;
  };

  static ModelInfo MakeInfo(const FakeEngineOptions& o) {
    ModelInfo info;
    info.name = "fake";
    info.ctx_size = o.kv_tokens;
    info.parallel = o.parallel;
    info.batch_size = o.prefill_budget;
    return info;
  }

  void Ended(const std::string& id) {
    std::lock_guard lock(mu_);
    ended_at_[id] = now_;
    ended_real_[id] = std::chrono::steady_clock::now();
  }

  const FakeEngineOptions options_;
  FakeTokenizer tokenizer_;
  ModelInfo info_;
  std::vector<Seq> seqs_;
  std::vector<StepReport::Finished> stopped_;
  mutable std::mutex mu_;  // guards the records below
  double now_ = 0;
  std::map<std::string, double> admitted_at_;
  std::map<std::string, double> ended_at_;
  std::map<std::string, std::chrono::steady_clock::time_point> ended_real_;
  std::map<std::string, std::vector<double>> read_at_;
};

}  // namespace glmq
