#include "engine/llama_tokenizer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <utility>

#include "engine/device_memory.h"
#include "engine/llama_kv_type.h"
#include "engine/prompt.h"
#include "ggml.h"
#include "llama.h"

namespace glmq {
namespace {

// The name of llama.cpp's built-in template that renders exactly as the model's own template
// (`tmpl`), tried on a conversation of every role. Applying a template by its text makes
// llama.cpp look the text up as a name first, which throws and catches an exception on
// every render; by its name it does not.
std::optional<std::string> BuiltinTemplateName(const char* tmpl) {
  const llama_chat_message probe[] = {
      {"system", "S1"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};
  auto render = [&](const char* t) -> std::optional<std::string> {
    std::string out(4096, '\0');
    const int32_t n = llama_chat_apply_template(t, probe, std::size(probe), true, out.data(),
                                                static_cast<int32_t>(out.size()));
    if (n < 0 || n > static_cast<int32_t>(out.size())) return std::nullopt;
    out.resize(static_cast<size_t>(n));
    return out;
  };
  const std::optional<std::string> own = render(tmpl);
  if (!own) return std::nullopt;
  std::vector<const char*> names(llama_chat_builtin_templates(nullptr, 0));
  llama_chat_builtin_templates(names.data(), names.size());
  for (const char* name : names) {
    if (render(name) == own) return std::string(name);
  }
  return std::nullopt;
}

constexpr int64_t kDefaultCtxCap = 32768;

void LogFromLlama(ggml_log_level level, const char* text, void*) {
  std::string_view line(text);
  while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.empty()) return;
  switch (level) {
    case GGML_LOG_LEVEL_ERROR:
      spdlog::error("llama: {}", line);
      break;
    case GGML_LOG_LEVEL_WARN:
      spdlog::warn("llama: {}", line);
      break;
    default:
      spdlog::trace("llama: {}", line);
  }
}

void InitBackendOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(LogFromLlama, nullptr);
    llama_backend_init();
  });
}

std::string MetaString(const llama_model* model, const char* key) {
  char buf[256];
  const int32_t n = llama_model_meta_val_str(model, key, buf, sizeof(buf));
  return n < 0 ? std::string() : std::string(buf, std::min<size_t>(n, sizeof(buf) - 1));
}

// An integer key of the GGUF header, e.g. "chatglm.block_count"; 0 when absent.
int64_t MetaInt(const llama_model* model, const std::string& key) {
  const std::string v = MetaString(model, key.c_str());
  return v.empty() ? 0 : std::strtoll(v.c_str(), nullptr, 10);
}

// With layers on a GPU their KV is there too: the context is what its free memory holds
// (for --ctx-size 0), or --ctx-size is refused at start if it does not fit, rather than
// failing when llama.cpp allocates it or, worse, when a long document first fills it.
Result<int64_t> FitToGpu(const LlamaEngineOptions& options, const ModelInfo& info) {
  const int64_t n_layer = info.n_layer;
  const std::vector<DeviceMemory> gpus = GpuDevices();
  if (gpus.empty() || n_layer <= 0) return info.ctx_size;
  DeviceContextInput in;
  in.requested_ctx = options.ctx_size;
  in.n_ctx_train = info.n_ctx_train;
  const int64_t on_gpu =
      options.gpu_layers < 0 ? n_layer : std::min<int64_t>(options.gpu_layers, n_layer);
  in.kv_bytes_per_token = info.kv_bytes_per_token * on_gpu / n_layer;
  in.ubatch_size = std::min(options.ubatch_size, options.batch_size);
  in.headroom_bytes = int64_t{options.gpu_headroom_mib} << 20;
  for (const DeviceMemory& d : gpus) {
    in.free_bytes += d.free_bytes;
    spdlog::info("GPU {}: {} of {} MiB free with the model's weights loaded", d.name,
                 d.free_bytes >> 20, d.total_bytes >> 20);
  }
  GLMQ_ASSIGN_OR_RETURN(const int64_t ctx, FitContextToDevice(in));
  const char* why = options.ctx_size > 0      ? ""
                    : ctx == info.n_ctx_train ? " (the model's trained context)"
                                              : " (the most the GPU's free memory holds)";
  spdlog::info("context {} tokens{}: {} MiB of KV on the GPU for {} of {} layers", ctx, why,
               (ctx * in.kv_bytes_per_token) >> 20, on_gpu, n_layer);
  return ctx;
}

}  // namespace

Result<std::unique_ptr<LlamaTokenizer>> LlamaTokenizer::Load(const LlamaEngineOptions& options) {
  return Open(options, /*weights=*/false);
}

Result<std::unique_ptr<LlamaTokenizer>> LlamaTokenizer::LoadWithWeights(
    const LlamaEngineOptions& options) {
  return Open(options, /*weights=*/true);
}

Result<std::unique_ptr<LlamaTokenizer>> LlamaTokenizer::Open(const LlamaEngineOptions& options,
                                                             bool weights) {
  GLMQ_ASSIGN_OR_RETURN(const ggml_type kv_type, ParseKvType(options.kv_type));
  InitBackendOnce();
  std::unique_ptr<LlamaTokenizer> t(new LlamaTokenizer());
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = options.gpu_layers;
  mparams.vocab_only = !weights;
  t->model_ = llama_model_load_from_file(options.model_path.c_str(), mparams);
  if (t->model_ == nullptr) {
    return InvalidArgument("cannot load model '" + options.model_path +
                           "' (missing file, or not a GGUF llama.cpp can read; see the log)");
  }
  t->vocab_ = llama_model_get_vocab(t->model_);
  if (const char* tmpl = llama_model_chat_template(t->model_, nullptr)) {
    const std::optional<std::string> builtin = BuiltinTemplateName(tmpl);
    t->chat_template_ = builtin.value_or(tmpl);
    spdlog::debug("chat template: {}", builtin ? "llama.cpp's built-in '" + *builtin + "'"
                                               : std::string("the model's own, by its text"));
  } else {
    spdlog::warn("model has no chat template; prompts use the chatglm4 template");
    t->chat_template_ = "chatglm4";
  }
  const int32_t n_vocab = llama_vocab_n_tokens(t->vocab_);
  for (llama_token tok = 0; tok < n_vocab; ++tok) {
    char piece[256];
    const int32_t n = llama_token_to_piece(t->vocab_, tok, piece, sizeof(piece), 0, true);
    t->longest_token_bytes_ =
        std::max(t->longest_token_bytes_, static_cast<size_t>(n < 0 ? -n : n));
  }

  ModelInfo& info = t->info_;
  llama_model* model = t->model_;
  info.path = options.model_path;
  info.name = MetaString(model, "general.name");
  info.architecture = MetaString(model, "general.architecture");
  info.is_test_model = info.name == kTestModelName;
  info.n_params = static_cast<int64_t>(llama_model_n_params(model));
  // A vocabulary-only load reads no hyperparameters: take them from the GGUF header.
  const std::string arch = info.architecture + ".";
  auto hparam = [&](int64_t (*loaded)(const llama_model*), const char* key) -> int64_t {
    return weights ? loaded(model) : MetaInt(model, arch + key);
  };
  info.n_layer =
      hparam([](const llama_model* m) -> int64_t { return llama_model_n_layer(m); }, "block_count");
  info.n_embd = hparam([](const llama_model* m) -> int64_t { return llama_model_n_embd(m); },
                       "embedding_length");
  info.n_ctx_train = hparam(
      [](const llama_model* m) -> int64_t { return llama_model_n_ctx_train(m); }, "context_length");
  info.ctx_size =
      options.ctx_size > 0 ? options.ctx_size : std::min<int64_t>(info.n_ctx_train, kDefaultCtxCap);
  info.parallel = options.parallel;
  info.batch_size = options.batch_size;
  const int64_t n_layer =
      hparam([](const llama_model* m) -> int64_t { return llama_model_n_layer(m); }, "block_count");
  const int64_t n_head =
      hparam([](const llama_model* m) -> int64_t { return llama_model_n_head(m); },
             "attention.head_count");
  int64_t n_head_kv =
      hparam([](const llama_model* m) -> int64_t { return llama_model_n_head_kv(m); },
             "attention.head_count_kv");
  if (n_head_kv == 0) n_head_kv = n_head;  // the key is optional: no grouped-query attention
  const int64_t head_dim =
      hparam([](const llama_model* m) -> int64_t { return llama_model_n_embd(m); },
             "embedding_length") /
      std::max<int64_t>(n_head, 1);
  // A quantized KV packs each head's row in blocks: llama.cpp refuses a head the block does
  // not divide, with a message only in its log.
  if (weights && head_dim % ggml_blck_size(kv_type) != 0) {
    return InvalidArgument("--kv-type " + options.kv_type + " packs " +
                           std::to_string(ggml_blck_size(kv_type)) +
                           " values a block, and this model's attention heads are " +
                           std::to_string(head_dim) + " wide: use --kv-type f16");
  }
  // K and V, each n_head_kv × head_dim values per layer per token.
  info.kv_bytes_per_token =
      2 * n_layer * static_cast<int64_t>(ggml_row_size(kv_type, n_head_kv * head_dim));
  if (weights && options.gpu_layers != 0) {
    GLMQ_ASSIGN_OR_RETURN(info.ctx_size, FitToGpu(options, info));
  }
  if (info.ctx_size > UINT32_MAX) return InvalidArgument("--ctx-size is too large");
  // With one unified KV pool a sequence may use the whole context.
  t->sequence_tokens_ = info.ctx_size;
  if (!weights) {
    spdlog::info(
        "model {} ({}): vocabulary only, for counting tokens; jobs run on workers with "
        "a context of {} tokens",
        info.name.empty() ? options.model_path : info.name, info.architecture, info.ctx_size);
  }
  return t;
}

LlamaTokenizer::~LlamaTokenizer() {
  if (model_ != nullptr) llama_model_free(model_);
}

void LlamaTokenizer::SetContext(int64_t ctx_size, int64_t sequence_tokens) {
  info_.ctx_size = ctx_size;
  sequence_tokens_ = sequence_tokens;
}

namespace {

using TemplateMessage = LlamaTokenizer::TemplateMessage;

std::vector<TemplateMessage> TemplateMessages(const JobRequest& request) {
  std::vector<TemplateMessage> out;
  if (request.messages.empty()) {
    TemplateMessage m{"user", {request.text}};
    if (!request.question.empty()) {
      m.content.push_back("\n\n");
      m.content.push_back(request.question);
    }
    out.push_back(std::move(m));
    return out;
  }
  for (const ChatMessage& m : request.messages) out.push_back({m.role.c_str(), {m.content}});
  return out;
}

// Stands for message i's content while the template is applied: llama.cpp's template takes C
// strings, which a NUL in a content would cut, and copies every content twice. No template
// text or role holds the record separator.
std::string Marker(size_t i) { return "\x1eglmq-content-" + std::to_string(i) + "\x1e"; }

}  // namespace

Result<std::string> LlamaTokenizer::RenderWhole(const std::vector<TemplateMessage>& messages,
                                                size_t content_bytes) const {
  std::vector<std::string> contents;
  std::vector<llama_chat_message> chat;
  contents.reserve(messages.size());
  for (const TemplateMessage& m : messages) {
    std::string content;
    for (std::string_view piece : m.content) content.append(piece);
    if (content.find('\0') != std::string::npos) {
      return Unprocessable(
          "this model's chat template cannot carry a NUL character (\\u0000) in a message");
    }
    contents.push_back(std::move(content));
    chat.push_back({m.role, contents.back().c_str()});
  }
  return ApplyTemplate(chat, content_bytes + content_bytes / 4 + 256);
}

Result<std::string> LlamaTokenizer::ApplyTemplate(const std::vector<llama_chat_message>& chat,
                                                  size_t guess) const {
  std::string out(guess, '\0');
  int32_t n = llama_chat_apply_template(chat_template_.c_str(), chat.data(), chat.size(), true,
                                        out.data(), static_cast<int32_t>(out.size()));
  if (n > static_cast<int32_t>(out.size())) {
    out.resize(n);
    n = llama_chat_apply_template(chat_template_.c_str(), chat.data(), chat.size(), true,
                                  out.data(), static_cast<int32_t>(out.size()));
  }
  if (n < 0) return Internal("the model's chat template cannot be applied");
  out.resize(n);
  return out;
}

Result<LlamaTokenizer::Rendered> LlamaTokenizer::RenderPrompt(const JobRequest& request) const {
  const std::vector<TemplateMessage> messages = TemplateMessages(request);
  std::vector<std::string> markers;
  std::vector<llama_chat_message> chat;
  markers.reserve(messages.size());
  chat.reserve(messages.size());
  size_t content_bytes = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    markers.push_back(Marker(i));
    chat.push_back({messages[i].role, markers.back().c_str()});
    for (std::string_view piece : messages[i].content) content_bytes += piece.size();
  }
  if (content_bytes > static_cast<size_t>(INT32_MAX / 2)) {
    return Unprocessable("prompt is too large");
  }
  Rendered out;
  // The template applied to the markers: small, whatever the contents' size.
  GLMQ_ASSIGN_OR_RETURN(std::string frame, ApplyTemplate(chat, 1024 + 64 * messages.size()));
  out.frame = std::make_unique<std::string>(std::move(frame));
  const std::string_view whole = *out.frame;
  // Each marker in its place, once, in order: the contents go there, byte for byte.
  size_t at = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const size_t found = whole.find(markers[i], at);
    if (found == std::string::npos || whole.find(markers[i], found + 1) != std::string::npos) {
      // A template that drops, repeats or rewrites a message's content.
      GLMQ_ASSIGN_OR_RETURN(std::string rendered, RenderWhole(messages, content_bytes));
      *out.frame = std::move(rendered);
      out.parts.assign(1, *out.frame);
      out.bytes = out.frame->size();
      return out;
    }
    out.parts.push_back(whole.substr(at, found - at));
    for (std::string_view piece : messages[i].content) out.parts.push_back(piece);
    at = found + markers[i].size();
  }
  out.parts.push_back(whole.substr(at));
  for (std::string_view part : out.parts) out.bytes += part.size();
  return out;
}

void LlamaTokenizer::Learn(size_t prompt_bytes, int64_t tokens) const {
  if (tokens <= 0) return;
  // Large texts say the most about the bytes per token of real traffic.
  const double sample = static_cast<double>(prompt_bytes) / tokens;
  const double weight = std::min(1.0, prompt_bytes / 65536.0) * 0.2;
  double old = bytes_per_token_.load();
  bytes_per_token_.compare_exchange_strong(old, old + weight * (sample - old));
}

namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Where a prompt may be cut so that its pieces tokenize as the whole does, searching from
// `from`; npos if nowhere. The pre-tokenizer ends its pieces after a newline that a
// non-space character follows, and before a space between two letters (" word" is one of
// its pieces); BPE merges stay inside those, and no special token holds either.
size_t CutPoint(std::string_view text, size_t from) {
  for (size_t at = text.find('\n', from); at != std::string_view::npos && at + 1 < text.size();
       at = text.find('\n', at + 1)) {
    if (!std::isspace(static_cast<unsigned char>(text[at + 1]))) return at + 1;
  }
  for (size_t at = text.find(' ', from); at != std::string_view::npos && at + 1 < text.size();
       at = text.find(' ', at + 1)) {
    if (at > 0 && IsAsciiLetter(text[at - 1]) && IsAsciiLetter(text[at + 1])) return at;
  }
  return std::string_view::npos;
}

}  // namespace

Status LlamaTokenizer::ForEachPiece(
    const Rendered& prompt,
    const std::function<Status(std::string_view piece, bool first)>& each) const {
  bool first = true;
  auto emit = [&](std::string_view piece) {
    if (piece.size() > static_cast<size_t>(INT32_MAX - 16)) {
      return Unprocessable("prompt is too large to tokenize");
    }
    const bool was_first = std::exchange(first, false);
    return each(piece, was_first);
  };
  // The beginning of the next piece, copied from the parts before: it ends in a part's end,
  // where no cut is known to be safe.
  std::string carry;
  for (std::string_view part : prompt.parts) {
    while (carry.size() + part.size() > chunk_bytes_) {
      // Near chunk_bytes_ from the piece's start: the search looks no further than a
      // piece's length.
      const size_t window =
          carry.size() < chunk_bytes_ ? 2 * chunk_bytes_ - carry.size() : chunk_bytes_;
      const size_t from = carry.size() < chunk_bytes_ / 2 ? chunk_bytes_ / 2 - carry.size() : 0;
      const size_t cut = CutPoint(part.substr(0, window), from);
      if (cut == std::string_view::npos) break;  // the rest of this part goes whole
      if (carry.empty()) {
        GLMQ_RETURN_IF_ERROR(emit(part.substr(0, cut)));
      } else {
        carry.append(part.substr(0, cut));
        GLMQ_RETURN_IF_ERROR(emit(carry));
        carry.clear();
      }
      part.remove_prefix(cut);
    }
    carry.append(part);
  }
  if (!carry.empty() || first) GLMQ_RETURN_IF_ERROR(emit(carry));
  return Status::Ok();
}

Result<int64_t> LlamaTokenizer::CountPromptTokens(const JobRequest& request) const {
  GLMQ_ASSIGN_OR_RETURN(const Rendered prompt, RenderPrompt(request));
  int64_t tokens = 0;
  GLMQ_RETURN_IF_ERROR(ForEachPiece(prompt, [&](std::string_view piece, bool first) {
    // With no room for tokens llama_tokenize returns minus the count. add_special for the
    // first piece alone: a BOS (where the model adds one) starts the prompt, not each piece.
    const int32_t n = llama_tokenize(vocab_, piece.data(), static_cast<int32_t>(piece.size()),
                                     nullptr, 0, first, true);
    if (n == INT32_MIN) return Unprocessable("prompt has more tokens than the tokenizer can count");
    tokens += n < 0 ? -n : n;
    return Status::Ok();
  }));
  Learn(prompt.bytes, tokens);
  return tokens;
}

Result<PromptTokens> LlamaTokenizer::TokenizePrompt(const JobRequest& request) const {
  GLMQ_ASSIGN_OR_RETURN(const Rendered prompt, RenderPrompt(request));
  // Room for the most tokens the prompt can have (every token covers a byte at least),
  // reserved and never grown: a regrowth would hold the old and the new vector at once, and
  // the pages of a large allocation count in memory only once written, so the room past
  // the last token costs address space alone.
  PromptTokens tokens;
  tokens.reserve(prompt.bytes + 16);
  // A piece at a time: llama.cpp's tokenizer works in memory many times its input's size
  // (~50x for a 10 MB document), which pieces of chunk_bytes_ bound.
  std::vector<int32_t> buffer;
  GLMQ_RETURN_IF_ERROR(ForEachPiece(prompt, [&](std::string_view piece, bool first) {
    // Every token covers at least one byte (plus what add_special puts first).
    buffer.resize(piece.size() + 16);
    // parse_special: the template's own markers ([gMASK], <|user|>, ...) are special tokens.
    const int32_t n =
        llama_tokenize(vocab_, piece.data(), static_cast<int32_t>(piece.size()), buffer.data(),
                       static_cast<int32_t>(buffer.size()), first, true);
    if (n < 0) return Unprocessable("prompt has more tokens than the tokenizer can count");
    tokens.insert(tokens.end(), buffer.begin(), buffer.begin() + n);
    return Status::Ok();
  }));
  Learn(prompt.bytes, static_cast<int64_t>(tokens.size()));
  return tokens;
}

int64_t LlamaTokenizer::MinPromptTokens(const JobRequest& request) const {
  const size_t bytes = RequestTextBytes(request);
  return static_cast<int64_t>((bytes + longest_token_bytes_ - 1) / longest_token_bytes_);
}

int64_t LlamaTokenizer::EstimatePromptTokens(const JobRequest& request) const {
  const double bytes = static_cast<double>(RequestTextBytes(request));
  return std::max<int64_t>(MinPromptTokens(request),
                           static_cast<int64_t>(bytes / std::max(bytes_per_token_.load(), 1.0)));
}

Status LlamaTokenizer::CheckFits(int64_t prompt_tokens, int32_t max_tokens) const {
  const int64_t sequence_tokens = sequence_tokens_.load();
  if (prompt_tokens + max_tokens > sequence_tokens) {
    return Unprocessable(
        "prompt_tokens (" + std::to_string(prompt_tokens) + ") + max_tokens (" +
        std::to_string(max_tokens) + ") = " + std::to_string(prompt_tokens + max_tokens) +
        " exceeds the context of one sequence (" + std::to_string(sequence_tokens) + " tokens)");
  }
  return Status::Ok();
}

}  // namespace glmq
