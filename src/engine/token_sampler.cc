#include "engine/token_sampler.h"

#include <cmath>
#include <exception>
#include <random>
#include <utility>

#include "core/json_grammar.h"

namespace glmq {

Result<TokenSampler> TokenSampler::Make(const SamplingParams& params, const llama_vocab* vocab) {
  TokenSampler s;
  s.vocab_ = vocab;
  if (params.format != ResponseFormat::kText) {
    std::string grammar = JsonObjectGrammar();
    if (params.format == ResponseFormat::kJsonSchema) {
      const nlohmann::json format = nlohmann::json::parse(params.json_schema, nullptr, false);
      if (!format.is_object() || !format.contains("schema")) {
        return Internal("the job's json_schema is not the object it was given as");
      }
      GLMQ_ASSIGN_OR_RETURN(grammar, JsonSchemaGrammar(format["schema"]));
    }
    s.grammar_ = llama_sampler_init_grammar(vocab, grammar.c_str(), "root");
    if (s.grammar_ == nullptr) {
      return Internal(std::string("llama.cpp refused the grammar of response_format ") +
                      ResponseFormatName(params.format));
    }
  }
  llama_sampler_chain_params chain_params = llama_sampler_chain_default_params();
  chain_params.no_perf = true;
  s.chain_ = llama_sampler_chain_init(chain_params);
  if (params.temperature <= 0.0f) {
    llama_sampler_chain_add(s.chain_, llama_sampler_init_greedy());
  } else {
    const uint32_t seed = params.seed ? static_cast<uint32_t>(*params.seed)
                                      : static_cast<uint32_t>(std::random_device{}());
    if (params.top_p < 1.0f)
      llama_sampler_chain_add(s.chain_, llama_sampler_init_top_p(params.top_p, 1));
    llama_sampler_chain_add(s.chain_, llama_sampler_init_temp(params.temperature));
    llama_sampler_chain_add(s.chain_, llama_sampler_init_dist(seed));
  }
  return s;
}

TokenSampler::TokenSampler(TokenSampler&& other) noexcept
    : vocab_(other.vocab_),
      chain_(std::exchange(other.chain_, nullptr)),
      grammar_(std::exchange(other.grammar_, nullptr)),
      tokens_(std::move(other.tokens_)) {}

TokenSampler& TokenSampler::operator=(TokenSampler&& other) noexcept {
  if (this != &other) {
    Free();
    vocab_ = other.vocab_;
    chain_ = std::exchange(other.chain_, nullptr);
    grammar_ = std::exchange(other.grammar_, nullptr);
    tokens_ = std::move(other.tokens_);
  }
  return *this;
}

TokenSampler::~TokenSampler() { Free(); }

void TokenSampler::Free() {
  if (chain_ != nullptr) llama_sampler_free(std::exchange(chain_, nullptr));
  if (grammar_ != nullptr) llama_sampler_free(std::exchange(grammar_, nullptr));
}

Result<llama_token> TokenSampler::Sample(llama_context* ctx, int32_t row) {
  if (grammar_ == nullptr) return llama_sampler_sample(chain_, ctx, row);
  const float* logits = llama_get_logits_ith(ctx, row);
  const int32_t n = llama_vocab_n_tokens(vocab_);
  auto choose = [&](bool filtered) {
    tokens_.resize(static_cast<size_t>(n));
    for (int32_t id = 0; id < n; ++id) tokens_[static_cast<size_t>(id)] = {id, logits[id], 0.0f};
    llama_token_data_array all{tokens_.data(), tokens_.size(), -1, false};
    if (filtered) llama_sampler_apply(grammar_, &all);
    llama_sampler_apply(chain_, &all);
    return all.data[all.selected].id;
  };
  auto allowed = [&](llama_token token) {
    llama_token_data alone{token, 1.0f, 0.0f};
    llama_token_data_array one{&alone, 1, -1, false};
    llama_sampler_apply(grammar_, &one);
    return !std::isinf(alone.logit);
  };
  llama_token token = choose(false);
  if (!allowed(token)) {
    token = choose(true);  // refused: choose among the allowed
    // A vocabulary with no token that continues the answer: llama.cpp would throw on the
    // engine's thread at the accept below; the job fails instead.
    if (!allowed(token)) {
      return Internal(
          "no token of the model's vocabulary continues the answer in its response "
          "format");
    }
  }
  try {
    llama_sampler_accept(grammar_, token);
  } catch (const std::exception& e) {
    return Internal(std::string("the response format's grammar refused the answer: ") + e.what());
  }
  llama_sampler_accept(chain_, token);
  return token;
}

}  // namespace glmq
