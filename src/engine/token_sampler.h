// TokenSampler: how a running sequence chooses its next token from its row of logits:
// greedy, or top-p, temperature and a seeded draw; with a JSON response format only among
// the tokens its grammar allows (core/json_grammar.h).
//
// The grammar is asked as llama.cpp's own sampling helpers ask it: first about the one token
// the other samplers chose, and only when it refuses that token are all the vocabulary's
// tokens filtered and the choice made again among the rest. A model that writes JSON by
// itself (one asked for it) then pays for the grammar about once a token instead of once for
// each of the vocabulary's entries (bench/json_mode.sh, 65,536 entries on one CPU core:
// +0.7 ms a token against +17.8 ms). Greedy choices are the same either way; a draw is from
// the allowed tokens in proportion to their probabilities, with top-p taken over all tokens
// when the first choice stands and over the allowed ones when it is made again.
//
// One sequence's, on the engine's thread; movable, not copyable.
#pragma once

#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "llama.h"

namespace glmq {

class TokenSampler {
 public:
  TokenSampler() = default;
  // For a job's sampling parameters over this vocabulary; an error if llama.cpp refuses the
  // grammar its format needs.
  static Result<TokenSampler> Make(const SamplingParams& params, const llama_vocab* vocab);

  TokenSampler(TokenSampler&& other) noexcept;
  TokenSampler& operator=(TokenSampler&& other) noexcept;
  TokenSampler(const TokenSampler&) = delete;
  TokenSampler& operator=(const TokenSampler&) = delete;
  ~TokenSampler();

  // The next token from row `row` of the context's last logits (the sampler remembers it);
  // an error when no token of the vocabulary continues the answer in its format.
  Result<llama_token> Sample(llama_context* ctx, int32_t row);

 private:
  void Free();

  const llama_vocab* vocab_ = nullptr;
  llama_sampler* chain_ = nullptr;
  llama_sampler* grammar_ = nullptr;      // JSON mode only
  std::vector<llama_token_data> tokens_;  // the whole vocabulary's, reused
};

}  // namespace glmq
