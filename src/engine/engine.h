// Engine: runs many sequences over one model, one decode step at a time. It admits prompts
// already tokenized (by its tokenizer(), once per process that runs the job).
//
// Threading: info(), tokenizer() and alive_at() may be called from any thread. Everything
// else belongs to the one thread that drives the engine (the scheduler loop), which owns
// the model context; nothing here locks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/model_info.h"
#include "core/status.h"
#include "engine/tokenizer.h"

namespace glmq {

struct StepReport {
  struct Progress {
    std::string id;
    JobProgress progress;  // its text is left empty: see text_added
    // The text generated this step that no later token changes (whole characters, no
    // possible start of a stop string): the answer so far is these pieces, in order.
    std::string text_added;
  };
  struct Finished {
    std::string id;
    Completion completion;
  };
  std::vector<Progress> progressed;  // sequences that read or generated tokens this step
  std::vector<Finished> finished;    // sequences that ended this step; their KV is free
  int64_t prompt_tokens = 0;         // prompt tokens read this step
  // Their positions in their sequences, summed: a token at position p attends to the p
  // before it, so this is what attention's share of the step's cost grows with.
  double prompt_positions = 0;
  int64_t generated_tokens = 0;      // tokens sampled this step
  int64_t reused_prompt_tokens = 0;  // prompt tokens taken from the KV of other sequences
  double seconds = 0;
};

// What the scheduler knows and the engine does not: the queue behind it.
struct StepHints {
  // Jobs whose prompt should not be read this step because queued work sorts before them
  // (virtual deadline order, see sched/policy.h): a document yields to the questions that
  // arrived after it until it has waited about its own service time. A yielding prompt is
  // still read when the step would otherwise carry nothing.
  std::vector<std::string> yield_prefill;
  // Hold steps that only read prompts near the step target too (as steps with generating
  // sequences are): a short job may arrive for a kept sequence (SchedulerOptions::
  // short_slots), and it waits for the step in progress.
  bool bound_prefill_steps = false;
};

// What the engine's steps cost, as it measured them (zero: not measured yet). Every step gives
// each generating sequence one token and the prompts what the step's budget leaves, the
// shortest prompt first; sched/first_end.h foresees from these when a running job ends.
struct StepCosts {
  double prefill_token_seconds = 0;  // reading one prompt token
  double decode_step_seconds = 0;    // a step's generating part
  double step_target_seconds = 0;    // steps with generating sequences are held near this; 0: not
  int32_t batch_size = 0;            // the most tokens one step carries
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const ModelInfo& info() const = 0;
  // The vocabulary of the model it runs; lives as long as the engine. Thread-safe.
  virtual const Tokenizer& tokenizer() const = 0;

  // Sequences that can be admitted now.
  virtual int32_t FreeSlots() const = 0;
  // KV tokens not reserved by running sequences (each reserves prompt + max_tokens).
  virtual int64_t FreeKvTokens() const = 0;
  virtual int32_t ActiveSequences() const = 0;
  // When the engine last showed it is working (inside a step too, where the backend allows
  // it); 0 if it cannot tell. A step over a long context can take minutes on a CPU, so
  // liveness must not wait for steps to end. Any thread.
  virtual TimeMs alive_at() const { return 0; }
  // When the step in progress is expected to end, at the costs measured so far; 0 when no
  // step is in progress or it cannot say. Any thread.
  virtual TimeMs step_ends_at() const { return 0; }
  // What its steps cost, as measured so far.
  virtual StepCosts step_costs() const { return {}; }

  // A running job that shares a prompt prefix with another running job that has not read it
  // yet (the prefix cache's donor): it reads nothing until the donor has read those tokens,
  // and then takes them rather than read them. Engine's thread.
  struct PrefixWait {
    std::string donor_job;
    int64_t shared_tokens = 0;
  };
  virtual std::optional<PrefixWait> WaitsForPrefix(const std::string& /*job_id*/) const {
    return std::nullopt;
  }

  // Starts a sequence for `job` (which carries its sampling and deadline) whose prompt is
  // `prompt` (tokenizer().TokenizePrompt of its request), whose tokens it takes when it
  // starts the job (a document's tokens are not copied; `prompt` is left empty) and leaves
  // in place when it does not. kResourceExhausted when it must wait for KV or a free
  // sequence: cheap, so a job held for memory may ask again each time running ones end.
  // Other errors: the job cannot run here.
  virtual Status Admit(const Job& job, PromptTokens& prompt) = 0;
  // Whether Admit reads the request's texts beside the tokens: an engine that sends the
  // text on (the OpenAI-compatible one) does; llama.cpp reads the tokens alone, so a job
  // held for KV need not keep its document.
  virtual bool ReadsRequestText() const { return false; }

  // Ends a sequence now, frees its KV, and reports it finished with `state`
  // (cancelled or expired) in the next Step().
  virtual void Stop(const std::string& id, JobState state) = 0;

  // Runs one decode step over every active sequence. Call only when ActiveSequences() > 0.
  virtual StepReport Step(const StepHints& hints) = 0;
  StepReport Step() { return Step(StepHints{}); }
};

}  // namespace glmq
