// Tokenizer: a model's vocabulary, without weights or KV. What every process that takes
// jobs needs (gateways, admission, the remote engine, the scheduler before it admits): the
// cost of a prompt, whether it can ever fit, and its tokens.
//
// Threading: every method may be called from any thread at once; nothing here changes
// but an estimate's running figure and, on a gateway, the sequence size its workers report
// (atomic).
#pragma once

#include <cstdint>
#include <vector>

#include "core/job.h"
#include "core/model_info.h"
#include "core/status.h"

namespace glmq {

// A prompt after the chat template, as the model reads it.
using PromptTokens = std::vector<int32_t>;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The model, and the context of the engines that run it (`ctx_size`).
  virtual const ModelInfo& info() const = 0;

  // Tokens of the job's prompt after the chat template is applied. Costs about a second per
  // 3 MB of text on one CPU core.
  virtual Result<int64_t> CountPromptTokens(const JobRequest& request) const = 0;
  // The same prompt's tokens (what an engine admits).
  virtual Result<PromptTokens> TokenizePrompt(const JobRequest& request) const = 0;

  // Cheap bounds on the count, from the bytes alone.
  // At least: no token covers more bytes than the longest one in the vocabulary.
  virtual int64_t MinPromptTokens(const JobRequest& request) const = 0;
  // About: the bytes per token seen in exact counts so far.
  virtual int64_t EstimatePromptTokens(const JobRequest& request) const = 0;

  // Whether a job of this size can ever run (its whole context fits one sequence).
  virtual Status CheckFits(int64_t prompt_tokens, int32_t max_tokens) const = 0;
  // The most tokens, prompt and answer, one sequence holds: what CheckFits allows.
  virtual int64_t SequenceTokens() const = 0;
};

}  // namespace glmq
