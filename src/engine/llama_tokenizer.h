// LlamaTokenizer: a GGUF's vocabulary and chat template through llama.cpp. Load() reads the
// vocabulary alone (no weights, no context): what a gateway or a remote-engine worker needs
// to count and check prompts. A LlamaEngine makes one over the model it loaded, whose
// context check is the engine's own sequence size.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/llama_options.h"
#include "engine/tokenizer.h"

struct llama_model;
struct llama_vocab;
struct llama_chat_message;

namespace glmq {

class LlamaTokenizer final : public Tokenizer {
 public:
  // The vocabulary of options.model_path; its context check is options.ctx_size (the
  // workers' --ctx-size).
  static Result<std::unique_ptr<LlamaTokenizer>> Load(const LlamaEngineOptions& options);
  // The model with its weights, for an engine: info().ctx_size is the one asked for until
  // the engine's context sets it (SetContext).
  static Result<std::unique_ptr<LlamaTokenizer>> LoadWithWeights(const LlamaEngineOptions& options);
  ~LlamaTokenizer() override;

  const ModelInfo& info() const override { return info_; }
  Result<int64_t> CountPromptTokens(const JobRequest& request) const override;
  Result<PromptTokens> TokenizePrompt(const JobRequest& request) const override;
  int64_t MinPromptTokens(const JobRequest& request) const override;
  int64_t EstimatePromptTokens(const JobRequest& request) const override;
  Status CheckFits(int64_t prompt_tokens, int32_t max_tokens) const override;
  int64_t SequenceTokens() const override { return sequence_tokens_.load(); }

  // Before the tokenizer is shared: the KV cells the engine's context has in all, and how
  // many one sequence may use.
  void SetContext(int64_t ctx_size, int64_t sequence_tokens);
  // Any time, from any thread: a gateway checks prompts against the largest sequence its
  // live workers report (a worker on a GPU may hold far more than the gateway's
  // --ctx-size).
  void SetSequenceTokens(int64_t sequence_tokens) { sequence_tokens_.store(sequence_tokens); }

  // Long prompts are tokenized in pieces of about this many bytes (for tests: a size
  // larger than any prompt tokenizes each whole). Before the tokenizer is shared.
  void set_chunk_bytes(size_t bytes) { chunk_bytes_ = bytes; }

  llama_model* model() const { return model_; }
  const llama_vocab* vocab() const { return vocab_; }

  // A message as the template sees it: its content the pieces it is made of (the text, the
  // blank line and the question of a {text, question} job), never copied into one string.
  struct TemplateMessage {
    const char* role;
    std::vector<std::string_view> content;
  };

 private:
  LlamaTokenizer() = default;
  static Result<std::unique_ptr<LlamaTokenizer>> Open(const LlamaEngineOptions& options,
                                                      bool weights);
  // A prompt as the model reads it, kept as the parts it is made of: the chat template's
  // own text and views of the request's contents, so that a 10 MB document is not copied
  // to be tokenized. `frame` holds the template's text (on the heap: parts point into it).
  struct Rendered {
    std::unique_ptr<std::string> frame;
    std::vector<std::string_view> parts;
    size_t bytes = 0;
  };
  // The chat template applied to the request's messages, every byte of each content in
  // its place (a NUL included): the template is applied to markers, then the contents are
  // put where the markers are.
  Result<Rendered> RenderPrompt(const JobRequest& request) const;
  // The same for a template that does not place each marker once: the contents are
  // handed to llama.cpp as C strings (a NUL in one is refused).
  Result<std::string> RenderWhole(const std::vector<TemplateMessage>& messages,
                                  size_t content_bytes) const;
  // llama.cpp's template applied to `chat` (room for `guess` bytes first, more if needed).
  Result<std::string> ApplyTemplate(const std::vector<llama_chat_message>& chat,
                                    size_t guess) const;
  // Calls `each` with the prompt in pieces of about chunk_bytes_ whose tokens, in order, are
  // those of the whole: cut only inside a part, where the pre-tokenizer cuts anyway. A piece
  // is a view of one part, or a copy where it spans parts (a template's text and the
  // beginning or end of a content: small). `first` is true for the first piece alone.
  Status ForEachPiece(const Rendered& prompt,
                      const std::function<Status(std::string_view piece, bool first)>& each) const;
  // Feeds the estimate with the bytes per token of an exact count.
  void Learn(size_t prompt_bytes, int64_t tokens) const;

  ModelInfo info_;
  std::atomic<int64_t> sequence_tokens_{0};  // the most KV one sequence may use
  size_t chunk_bytes_ = 128 * 1024;
  llama_model* model_ = nullptr;
  const llama_vocab* vocab_ = nullptr;
  std::string chat_template_;
  size_t longest_token_bytes_ = 1;
  // Bytes per token of the exact counts so far (an estimate for texts not yet counted).
  mutable std::atomic<double> bytes_per_token_{4.0};
};

}  // namespace glmq
