#include "engine/test_model.h"

#include <ggml.h>
#include <gguf.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/utf8.h"

namespace glmq {
namespace {

// GLM-4's special tokens in the order of the real tokenizer; they follow the ordinary
// vocabulary, so their ids are vocab - 14 ... vocab - 1.
// clang-format off
constexpr std::array<const char*, 14> kSpecialTokens = {
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>",
    "<|begin_of_video|>", "<|end_of_video|>"};
// clang-format on
constexpr int32_t kNumSpecialTokens = static_cast<int32_t>(kSpecialTokens.size());
constexpr int32_t kEndOfTextIndex = 0;  // eos, and what unknown and padding point at
constexpr int32_t kUserIndex = 7;       // eot: GLM-4 ends an assistant turn with <|user|>
constexpr int32_t kNumByteTokens = 256;

// Values of llama.cpp's token types and file types; llama.h stays out of this file.
constexpr int32_t kTokenTypeNormal = 1;
constexpr int32_t kTokenTypeControl = 3;

// With fewer merges the tokenizer is one token per byte, which would hide merge bugs.
constexpr int32_t kMinMerges = 32;
constexpr int32_t kMaxVocab = 1 << 20;
constexpr int32_t kMaxLayers = 512;  // llama.cpp's LLAMA_MAX_LAYERS: more aborts its loader

// GLM-4 keeps the rope base at 10000 and scales it by the config's rope_ratio. No real
// config is read here; 500 is chosen for the test model, giving a long-context-sized base.
constexpr float kRopeFreqBase = 10000.0f * 500.0f;
constexpr float kRmsEps = 1.5625e-7f;  // GLM-4's value

// Recognised by llama_chat_apply_template as `chatglm4` (it looks for "[gMASK]<sop>") and
// renders the same text that llama.cpp's built-in chatglm4 formatter produces.
constexpr char kChatTemplate[] =
    "[gMASK]<sop>{% for item in messages %}{% if item['content'] %}"
    "<|{{ item['role'] }}|>\n{{ item['content'] }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

// Weight scales. The residual stream's unit is kResidualStd: the embeddings and every
// block's contribution have about that size, so no block drowns out the others, while
// projections that read a normalised input use 1/sqrt(fan_in) to keep activations ~1.
constexpr float kResidualStd = 0.02f;
constexpr float kBiasStd = 0.02f;

// Suppressing tokens. Dimension 0 of the residual stream is a constant "anchor" channel:
// every token embedding holds kAnchorScale * kResidualStd * sqrt(embd) there, the blocks
// neither read it (their input columns 0 are zero, so they behave as if it did not exist)
// nor write it (their output rows 0 are zero). After the final norm it is still large and
// positive. Ordinary output rows are 0 there; a suppressed token's row is 0 everywhere
// except -kSuppressWeight there, which puts its logit tens below all others.
constexpr float kAnchorScale = 2.0f;
constexpr float kSuppressWeight = 8.0f;

// Floats generated per chunk when writing a tensor (4 MB): bounds memory for any size.
constexpr int64_t kChunkElements = int64_t{1} << 20;

// Training text for the BPE merges: plain English with digits and punctuation, plus some
// Chinese so that multi-byte characters get merged (and split) like in a real vocabulary.
constexpr char kSampleText[] = R"(
The service takes long documents and short questions, puts them in a queue, and answers
them when the engine has room. A job is submitted in a few milliseconds; the answer comes
later. Nothing is lost when a process dies, because every state change is written down
before it is acknowledged.

When the queue is long, the scheduler does not simply take the oldest job first. A short
question should not wait behind a document of five hundred thousand tokens. The engine
reads long prompts in chunks, and between the chunks it keeps generating tokens for the
sequences that are already answering. In this way the small jobs finish quickly and the
large ones still make steady progress.

There is a harbour town on the northern coast where the fishing boats leave before dawn.
The weather there changes quickly: in the morning the sea is calm and grey, at noon the
wind rises from the west, and in the evening the rain comes in over the hills. The people
of the town say that you should never trust a quiet sea, and they are usually right.

On Monday the team measured the throughput of the new build. With 4 sequences the engine
produced 105 tokens per second; with 8 sequences it produced 190 tokens per second, and the
first token of a short prompt arrived after 120 milliseconds. The numbers for 16 and 32
sequences are in the report, together with the memory used by the key and value cache.

Questions that people often ask: How long will my job wait? What happens if the worker
restarts? Can I cancel a job that is already running? Where do I find the result? The
answers are simple. The status of a job tells you its position in the queue and an
estimate of the time it will start. A restarted worker gives its jobs back to the queue.
A running job can be cancelled at any time, and the result is kept for seven days.

She opened the window, looked at the garden, and said that the apples were ready. Her
brother went out with a basket and came back an hour later with more apples than they could
eat. They made a cake, gave some to the neighbours, and kept the rest in the cellar for the
winter. It was a good year for the garden, and the children still talk about it.

Reading a long text takes patience. First find out what the question really asks; then
look for the parts of the text that answer it; finally write a short and clear answer, and
say where in the text the answer was found. A good answer is correct, complete and short.

今天的天气很好，我们一起去公园散步吧。这个服务把很多请求放在一起处理，所以速度更快。
长文本的问题需要耐心地阅读，然后给出简短而清楚的回答。大家好，欢迎使用这个测试模型。
它的回答只是随机的噪声，但是每一个回答都是有效的文本。
)";

// --- Small utilities ------------------------------------------------------------------

// Deterministic random numbers from splitmix64. Pure integer and float arithmetic, so a
// seed gives the same weights on every platform (std::normal_distribution does not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [-1, 1) from 24 random bits, exact in a float.
  float Uniform() { return static_cast<float>(Next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }

  // Mean 0, standard deviation 1: three uniforms on [-1, 1) have variance 1/3 each. Close
  // enough to normal for random weights, and bounded (|x| < 3), so no outliers.
  float Normal() { return Uniform() + Uniform() + Uniform(); }

 private:
  uint64_t state_;
};

// GPT-2's reversible byte-to-unicode map, which llama.cpp's BPE tokenizer undoes when it
// turns tokens back into bytes: printable bytes stand for themselves and the others move to
// U+0100 and up, so every token text is printable and contains no space.
constexpr std::array<uint16_t, 256> kByteToCodePoint = [] {
  std::array<uint16_t, 256> table{};
  uint16_t next_shifted = 256;
  for (uint16_t b = 0; b < 256; ++b) {
    const bool printable =
        (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[b] = printable ? b : next_shifted++;
  }
  return table;
}();

// Token bytes as GGUF token text (UTF-8 of the mapped code points, all below U+0800).
std::string MapBytes(std::string_view raw) {
  std::string out;
  for (const char c : raw) {
    const uint16_t cp = kByteToCodePoint[static_cast<uint8_t>(c)];
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

// Text that may appear in an answer: complete UTF-8 and no control characters other than
// newline and tab (a NUL or an escape sequence in a test answer only causes trouble).
bool IsCleanText(std::string_view bytes) {
  for (const char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7F) return false;
  }
  return IsValidUtf8(bytes);
}

// --- Tokenizer ------------------------------------------------------------------------

enum class CharClass { kLetter, kDigit, kSpace, kNewline, kOther, kEnd };

CharClass Classify(uint32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::kLetter;
  if (cp >= '0' && cp <= '9') return CharClass::kDigit;
  if (cp == ' ' || cp == '\t') return CharClass::kSpace;
  if (cp == '\n' || cp == '\r') return CharClass::kNewline;
  // CJK and full-width punctuation; every other non-ASCII character of the sample is a letter.
  if ((cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF65)) return CharClass::kOther;
  if (cp >= 0x80) return CharClass::kLetter;
  return CharClass::kOther;
}

struct CodePoint {
  uint32_t value;
  size_t offset;
};

// Decodes text known to be valid UTF-8 (the embedded sample).
std::vector<CodePoint> DecodeUtf8(std::string_view text) {
  std::vector<CodePoint> out;
  size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    const size_t len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? b0 : b0 & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3F);
    out.push_back({cp, i});
    i += len;
  }
  return out;
}

// Splits text into pre-tokens roughly as llama.cpp's chatglm-bpe regex does (a word with at
// most one leading non-letter, digits in threes, punctuation runs, whitespace runs), so
// the merges learned here are the ones its tokenizer can use.
std::vector<std::string_view> SplitWords(std::string_view text) {
  const std::vector<CodePoint> cps = DecodeUtf8(text);
  const size_t n = cps.size();
  auto cls = [&](size_t k) { return k < n ? Classify(cps[k].value) : CharClass::kEnd; };
  auto skip = [&](size_t k, CharClass c) {
    while (cls(k) == c) ++k;
    return k;
  };
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < n) {
    const CharClass c = cls(i);
    size_t end;
    if (c == CharClass::kLetter) {
      end = skip(i, CharClass::kLetter);
    } else if (c == CharClass::kDigit) {
      end = i;
      while (end < i + 3 && cls(end) == CharClass::kDigit) ++end;
    } else if ((c == CharClass::kSpace || c == CharClass::kOther) &&
               cls(i + 1) == CharClass::kLetter) {
      end = skip(i + 1, CharClass::kLetter);
    } else if (c == CharClass::kOther ||
               (c == CharClass::kSpace && cls(i + 1) == CharClass::kOther)) {
      end = skip(skip(c == CharClass::kSpace ? i + 1 : i, CharClass::kOther), CharClass::kNewline);
    } else {
      end = i;
      while (cls(end) == CharClass::kSpace || cls(end) == CharClass::kNewline) ++end;
      // Leave the last space to lead the next word, as the regex's `\s+(?!\S)` does.
      if (end < n && end - i > 1 && cls(end - 1) == CharClass::kSpace) --end;
    }
    const size_t begin_byte = cps[i].offset;
    const size_t end_byte = end < n ? cps[end].offset : text.size();
    words.push_back(text.substr(begin_byte, end_byte - begin_byte));
    i = end;
  }
  return words;
}

struct Vocab {
  std::vector<std::string> texts;   // GGUF token texts: mapped bytes, or a special token
  std::vector<int32_t> types;       // llama.cpp token types
  std::vector<std::string> merges;  // "left right", both in mapped form, by rank
  std::vector<bool> suppressed;     // tokens the model must never emit
};

// Byte-level BPE: 256 byte tokens, then merges learned greedily from kSampleText, then (if
// the text runs out of pairs seen at least twice, as it does for large vocabularies) filler
// merges that join two clean tokens, then the special tokens. Every merge's result is a
// token, as llama.cpp's tokenizer requires.
Vocab BuildVocab(int32_t vocab_size) {
  const int32_t n_ordinary = vocab_size - kNumSpecialTokens;
  std::vector<std::string> raw;  // token bytes
  std::unordered_map<std::string, int32_t> id_of_raw;
  std::vector<std::string> merges;
  for (int32_t b = 0; b < kNumByteTokens; ++b) {
    raw.emplace_back(1, static_cast<char>(b));
    id_of_raw.emplace(raw.back(), b);
  }
  auto add_merge = [&](int32_t left, int32_t right) {
    merges.push_back(MapBytes(raw[left]) + " " + MapBytes(raw[right]));
    std::string joined = raw[left] + raw[right];
    const auto [it, inserted] = id_of_raw.emplace(joined, static_cast<int32_t>(raw.size()));
    if (inserted) raw.push_back(std::move(joined));
    return it->second;
  };

  struct Word {
    std::vector<int32_t> ids;
    int64_t count;
  };
  std::vector<Word> words;
  {
    std::map<std::string_view, int64_t> counts;  // ordered, so training is deterministic
    for (const std::string_view w : SplitWords(kSampleText)) ++counts[w];
    for (const auto& [text, count] : counts) {
      Word word{{}, count};
      for (const char c : text) word.ids.push_back(static_cast<uint8_t>(c));
      words.push_back(std::move(word));
    }
  }
  auto pair_key = [](int32_t left, int32_t right) {
    return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
  };
  while (static_cast<int32_t>(raw.size()) < n_ordinary) {
    std::unordered_map<uint64_t, int64_t> pair_counts;
    for (const Word& w : words) {
      for (size_t k = 0; k + 1 < w.ids.size(); ++k) {
        pair_counts[pair_key(w.ids[k], w.ids[k + 1])] += w.count;
      }
    }
    uint64_t best_key = 0;
    int64_t best_count = 0;
    for (const auto& [key, count] : pair_counts) {
      if (count > best_count || (count == best_count && key < best_key)) {
        best_key = key;
        best_count = count;
      }
    }
    // A pair seen once is memorising the sample, not learning from it.
    if (best_count < 2) break;
    const auto left = static_cast<int32_t>(best_key >> 32);
    const auto right = static_cast<int32_t>(best_key & 0xFFFFFFFFu);
    const int32_t joined = add_merge(left, right);
    for (Word& w : words) {
      std::vector<int32_t> next;
      next.reserve(w.ids.size());
      for (size_t k = 0; k < w.ids.size(); ++k) {
        if (k + 1 < w.ids.size() && w.ids[k] == left && w.ids[k + 1] == right) {
          next.push_back(joined);
          ++k;
        } else {
          next.push_back(w.ids[k]);
        }
      }
      w.ids = std::move(next);
    }
  }

  // Fillers: pairs of clean tokens (learned ones first, then printable ASCII) in order of
  // increasing index sum, so short joins come first. A join of clean texts is clean, and
  // the longest clean token joined with itself is always new, so this always progresses.
  std::vector<int32_t> base;
  for (int32_t id = kNumByteTokens; id < static_cast<int32_t>(raw.size()); ++id) {
    if (IsCleanText(raw[id])) base.push_back(id);
  }
  for (int32_t b = 0x21; b <= 0x7E; ++b) base.push_back(b);
  for (size_t diagonal = 0; static_cast<int32_t>(raw.size()) < n_ordinary; ++diagonal) {
    for (size_t i = 0; i <= diagonal && static_cast<int32_t>(raw.size()) < n_ordinary; ++i) {
      const size_t j = diagonal - i;
      if (i >= base.size() || j >= base.size()) continue;
      if (id_of_raw.count(raw[base[i]] + raw[base[j]]) != 0) continue;
      base.push_back(add_merge(base[i], base[j]));
    }
  }

  Vocab vocab;
  vocab.merges = std::move(merges);
  for (const std::string& bytes : raw) {
    vocab.texts.push_back(MapBytes(bytes));
    vocab.types.push_back(kTokenTypeNormal);
    vocab.suppressed.push_back(!IsCleanText(bytes));
  }
  for (const char* special : kSpecialTokens) {
    vocab.texts.emplace_back(special);
    vocab.types.push_back(kTokenTypeControl);
    vocab.suppressed.push_back(true);
  }
  return vocab;
}

// --- Tensors --------------------------------------------------------------------------

struct WeightType {
  const char* name;
  ggml_type type;
  uint32_t file_type;  // llama_ftype
};

constexpr std::array<WeightType, 4> kWeightTypes = {{
    {"f32", GGML_TYPE_F32, 0},
    {"f16", GGML_TYPE_F16, 1},
    {"q8_0", GGML_TYPE_Q8_0, 7},
    {"q4_0", GGML_TYPE_Q4_0, 2},
}};

const WeightType* FindWeightType(const std::string& name) {
  for (const WeightType& t : kWeightTypes) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

enum class Fill {
  kOnes,          // norm weights
  kNormal,        // std * N(0, 1)
  kEmbedding,     // kNormal, anchor in column 0
  kFromResidual,  // kNormal, column 0 zero: reads the residual stream but not the anchor
  kToResidual,    // kNormal, row 0 zero: adds to the residual stream but not the anchor
  kOutput,        // kFromResidual; suppressed tokens' rows read only the anchor
};

struct TensorPlan {
  std::string name;
  ggml_type type;
  int64_t cols;  // ne[0], contiguous
  int64_t rows;  // ne[1]; 0 for a vector
  Fill fill;
  float std;
};

std::vector<TensorPlan> PlanTensors(const TestModelSpec& spec, ggml_type weight_type) {
  const int64_t embd = spec.embd;
  const int64_t head_dim = embd / spec.heads;
  const int64_t qkv = embd + 2 * head_dim * spec.kv_heads;
  const float in_std = 1.0f / std::sqrt(static_cast<float>(embd));
  std::vector<TensorPlan> plans = {
      {"token_embd.weight", weight_type, embd, spec.vocab, Fill::kEmbedding, kResidualStd},
      {"output_norm.weight", GGML_TYPE_F32, embd, 0, Fill::kOnes, 0.0f},
      // Written explicitly, not tied to the embedding: its rows do the suppressing.
      {"output.weight", weight_type, embd, spec.vocab, Fill::kOutput, in_std},
  };
  for (int32_t layer = 0; layer < spec.layers; ++layer) {
    const std::string blk = "blk." + std::to_string(layer) + ".";
    const float out_std = kResidualStd / std::sqrt(static_cast<float>(embd));
    const float down_std = kResidualStd / std::sqrt(static_cast<float>(spec.ff));
    plans.push_back({blk + "attn_norm.weight", GGML_TYPE_F32, embd, 0, Fill::kOnes, 0.0f});
    plans.push_back({blk + "attn_qkv.weight", weight_type, embd, qkv, Fill::kFromResidual, in_std});
    plans.push_back({blk + "attn_qkv.bias", GGML_TYPE_F32, qkv, 0, Fill::kNormal, kBiasStd});
    plans.push_back(
        {blk + "attn_output.weight", weight_type, embd, embd, Fill::kToResidual, out_std});
    plans.push_back({blk + "ffn_norm.weight", GGML_TYPE_F32, embd, 0, Fill::kOnes, 0.0f});
    // Gate and up projections fused; llama.cpp's SwiGLU splits them.
    plans.push_back({blk + "ffn_up.weight", weight_type, embd, 2 * int64_t{spec.ff},
                     Fill::kFromResidual, in_std});
    plans.push_back(
        {blk + "ffn_down.weight", weight_type, spec.ff, embd, Fill::kToResidual, down_std});
  }
  return plans;
}

void FillRow(const TensorPlan& plan, int64_t row, const Vocab& vocab, float anchor, Rng& rng,
             float* out) {
  if (plan.fill == Fill::kOnes) {
    std::fill(out, out + plan.cols, 1.0f);
    return;
  }
  // Random weights would otherwise emit lone bytes >= 0x80 (invalid UTF-8) and special
  // tokens such as <|endoftext|> at random, so test answers would be broken text that stops
  // early. Rows that read only the anchor keep those tokens' logits far below all others:
  // greedy decoding and ordinary sampling never pick them, and generations run to
  // max_tokens as valid text.
  if (plan.fill == Fill::kOutput && vocab.suppressed[row]) {
    std::fill(out, out + plan.cols, 0.0f);
    out[0] = -kSuppressWeight;
    return;
  }
  if (plan.fill == Fill::kToResidual && row == 0) {
    std::fill(out, out + plan.cols, 0.0f);
    return;
  }
  for (int64_t k = 0; k < plan.cols; ++k) out[k] = plan.std * rng.Normal();
  if (plan.fill == Fill::kEmbedding) out[0] = anchor;
  if (plan.fill == Fill::kFromResidual || plan.fill == Fill::kOutput) out[0] = 0.0f;
}

// --- File output ----------------------------------------------------------------------

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};
struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

// Appends to a file and remembers where it is, so tensor data can be placed at the
// offsets the GGUF header promises.
class OutputFile {
 public:
  Status Open(const std::string& path) {
    path_ = path;
    file_.reset(std::fopen(path.c_str(), "wb"));
    if (!file_) return IoError("cannot create");
    return Status::Ok();
  }

  FILE* get() const { return file_.get(); }

  Status Write(const void* data, size_t size) {
    if (size == 0) return Status::Ok();
    if (std::fwrite(data, 1, size, file_.get()) != size) return IoError("cannot write");
    position_ += size;
    return Status::Ok();
  }

  Status PadTo(uint64_t offset) {
    if (offset < position_) return Internal("test model: tensor data overlaps in " + path_);
    static const std::array<char, 4096> zeros{};
    while (position_ < offset) {
      GLMQ_RETURN_IF_ERROR(
          Write(zeros.data(), std::min<uint64_t>(zeros.size(), offset - position_)));
    }
    return Status::Ok();
  }

  void SetPosition(uint64_t position) { position_ = position; }
  uint64_t position() const { return position_; }

  Status Close() {
    FILE* f = file_.release();
    if (f != nullptr && std::fclose(f) != 0) return IoError("cannot close");
    return Status::Ok();
  }

 private:
  Status IoError(const char* what) const {
    return Internal("test model: " + std::string(what) + " " + path_ + ": " + std::strerror(errno));
  }

  std::string path_;
  std::unique_ptr<FILE, FileCloser> file_;
  uint64_t position_ = 0;
};

void SetMetadata(gguf_context* ctx, const TestModelSpec& spec, const WeightType& weight_type,
                 const Vocab& vocab) {
  const uint32_t head_dim = static_cast<uint32_t>(spec.embd / spec.heads);
  gguf_set_val_str(ctx, "general.architecture", "chatglm");
  gguf_set_val_str(ctx, "general.type", "model");
  gguf_set_val_str(ctx, "general.name", spec.name.c_str());
  gguf_set_val_u32(ctx, "general.file_type", weight_type.file_type);
  gguf_set_val_u32(ctx, "general.quantization_version", GGML_QNT_VERSION);

  gguf_set_val_u32(ctx, "chatglm.context_length", static_cast<uint32_t>(spec.ctx));
  gguf_set_val_u32(ctx, "chatglm.embedding_length", static_cast<uint32_t>(spec.embd));
  gguf_set_val_u32(ctx, "chatglm.feed_forward_length", static_cast<uint32_t>(spec.ff));
  gguf_set_val_u32(ctx, "chatglm.block_count", static_cast<uint32_t>(spec.layers));
  gguf_set_val_u32(ctx, "chatglm.attention.head_count", static_cast<uint32_t>(spec.heads));
  gguf_set_val_u32(ctx, "chatglm.attention.head_count_kv", static_cast<uint32_t>(spec.kv_heads));
  gguf_set_val_f32(ctx, "chatglm.attention.layer_norm_rms_epsilon", kRmsEps);
  // GLM rotates half of each head.
  gguf_set_val_u32(ctx, "chatglm.rope.dimension_count", head_dim / 2);
  gguf_set_val_f32(ctx, "chatglm.rope.freq_base", kRopeFreqBase);

  std::vector<const char*> texts;
  texts.reserve(vocab.texts.size());
  for (const std::string& t : vocab.texts) texts.push_back(t.c_str());
  std::vector<const char*> merges;
  merges.reserve(vocab.merges.size());
  for (const std::string& m : vocab.merges) merges.push_back(m.c_str());
  const uint32_t first_special = static_cast<uint32_t>(spec.vocab - kNumSpecialTokens);
  gguf_set_val_str(ctx, "tokenizer.ggml.model", "gpt2");
  gguf_set_val_str(ctx, "tokenizer.ggml.pre", "chatglm-bpe");
  gguf_set_arr_str(ctx, "tokenizer.ggml.tokens", texts.data(), texts.size());
  gguf_set_arr_data(ctx, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, vocab.types.data(),
                    vocab.types.size());
  gguf_set_arr_str(ctx, "tokenizer.ggml.merges", merges.data(), merges.size());
  gguf_set_val_u32(ctx, "tokenizer.ggml.eos_token_id", first_special + kEndOfTextIndex);
  gguf_set_val_u32(ctx, "tokenizer.ggml.eot_token_id", first_special + kUserIndex);
  gguf_set_val_u32(ctx, "tokenizer.ggml.unknown_token_id", first_special + kEndOfTextIndex);
  gguf_set_val_u32(ctx, "tokenizer.ggml.padding_token_id", first_special + kEndOfTextIndex);
  gguf_set_val_bool(ctx, "tokenizer.ggml.add_bos_token", false);
  gguf_set_val_str(ctx, "tokenizer.chat_template", kChatTemplate);
}

// Generates one tensor chunk by chunk and appends it in its file type.
Status WriteTensorData(const TensorPlan& plan, const Vocab& vocab, float anchor, uint64_t seed,
                       OutputFile& out) {
  Rng rng(seed);
  const int64_t rows = std::max<int64_t>(plan.rows, 1);
  const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkElements / plan.cols);
  std::vector<float> values(static_cast<size_t>(std::min(rows, rows_per_chunk) * plan.cols));
  std::vector<uint8_t> packed;
  for (int64_t first = 0; first < rows; first += rows_per_chunk) {
    const int64_t n = std::min(rows_per_chunk, rows - first);
    for (int64_t r = 0; r < n; ++r) {
      FillRow(plan, first + r, vocab, anchor, rng, values.data() + r * plan.cols);
    }
    if (plan.type == GGML_TYPE_F32) {
      GLMQ_RETURN_IF_ERROR(out.Write(values.data(), n * plan.cols * sizeof(float)));
      continue;
    }
    packed.resize(ggml_row_size(plan.type, plan.cols) * n);
    const size_t size =
        ggml_quantize_chunk(plan.type, values.data(), packed.data(), 0, n, plan.cols, nullptr);
    GLMQ_RETURN_IF_ERROR(out.Write(packed.data(), size));
  }
  return Status::Ok();
}

Status WriteFile(const TestModelSpec& spec, const WeightType& weight_type,
                 const std::string& path) {
  const Vocab vocab = BuildVocab(spec.vocab);
  const std::vector<TensorPlan> plans = PlanTensors(spec, weight_type.type);

  std::unique_ptr<gguf_context, GgufDeleter> gguf(gguf_init_empty());
  SetMetadata(gguf.get(), spec, weight_type, vocab);
  // Tensors here only describe shapes and types for the header (no_alloc); the data is
  // generated later, chunk by chunk.
  ggml_init_params params = {};
  params.mem_size = ggml_tensor_overhead() * (plans.size() + 1);
  params.no_alloc = true;
  std::unique_ptr<ggml_context, GgmlDeleter> ggml(ggml_init(params));
  if (!ggml) return Internal("test model: ggml_init failed");
  for (const TensorPlan& plan : plans) {
    ggml_tensor* t = plan.rows == 0
                         ? ggml_new_tensor_1d(ggml.get(), plan.type, plan.cols)
                         : ggml_new_tensor_2d(ggml.get(), plan.type, plan.cols, plan.rows);
    ggml_set_name(t, plan.name.c_str());
    gguf_add_tensor(gguf.get(), t);
  }

  OutputFile out;
  GLMQ_RETURN_IF_ERROR(out.Open(path));
  if (!gguf_write_to_file_ptr(gguf.get(), out.get(), /*only_meta=*/true)) {
    return Internal("test model: cannot write the GGUF header to " + path);
  }
  // The header ends padded to the alignment; tensor offsets count from there.
  const uint64_t data_start = gguf_get_meta_size(gguf.get());
  if (std::ftell(out.get()) != static_cast<long>(data_start)) {
    return Internal("test model: GGUF header of " + path + " has an unexpected size");
  }
  out.SetPosition(data_start);
  const float anchor = kAnchorScale * kResidualStd * std::sqrt(static_cast<float>(spec.embd));
  for (size_t i = 0; i < plans.size(); ++i) {
    GLMQ_RETURN_IF_ERROR(out.PadTo(data_start + gguf_get_tensor_offset(gguf.get(), i)));
    // One stream per tensor, so a tensor's values do not depend on the ones before it.
    const uint64_t tensor_seed = Rng(spec.seed ^ (0xA0761D6478BD642Full * (i + 1))).Next();
    GLMQ_RETURN_IF_ERROR(WriteTensorData(plans[i], vocab, anchor, tensor_seed, out));
  }
  const uint64_t alignment = gguf_get_alignment(gguf.get());
  GLMQ_RETURN_IF_ERROR(out.PadTo((out.position() + alignment - 1) / alignment * alignment));
  return out.Close();
}

}  // namespace

TestModelSpec BenchPresetSpec() {
  TestModelSpec spec;
  spec.layers = 12;
  spec.embd = 1024;
  spec.heads = 8;
  spec.kv_heads = 2;
  spec.ff = 3072;
  spec.vocab = 65536;
  spec.ctx = 131072;
  spec.type = "f16";
  return spec;
}

Status ValidateTestModelSpec(const TestModelSpec& spec) {
  auto invalid = [](const std::string& what) { return InvalidArgument("test model: " + what); };
  auto str = [](int64_t v) { return std::to_string(v); };
  if (spec.layers < 1 || spec.layers > kMaxLayers) {
    return invalid("layers must be in [1, " + str(kMaxLayers) + "], got " + str(spec.layers));
  }
  if (spec.embd < 1 || spec.heads < 1 || spec.kv_heads < 1 || spec.ff < 1 || spec.ctx < 1) {
    return invalid("embd, heads, kv_heads, ff and ctx must be positive");
  }
  if (spec.embd % spec.heads != 0) {
    return invalid("embd (" + str(spec.embd) + ") must be divisible by heads (" + str(spec.heads) +
                   ")");
  }
  if (spec.heads % spec.kv_heads != 0) {
    return invalid("heads (" + str(spec.heads) + ") must be divisible by kv_heads (" +
                   str(spec.kv_heads) + ")");
  }
  // GLM ropes half of each head, and ggml's rope needs an even number of dimensions.
  const int32_t head_dim = spec.embd / spec.heads;
  if (head_dim % 4 != 0) {
    return invalid("head dimension embd/heads (" + str(head_dim) +
                   ") must be a multiple of 4: half of it is rotated in pairs");
  }
  const int32_t min_vocab = kNumByteTokens + kMinMerges + kNumSpecialTokens;
  if (spec.vocab < min_vocab || spec.vocab > kMaxVocab) {
    return invalid("vocab must be in [" + str(min_vocab) + ", " + str(kMaxVocab) +
                   "] (256 byte tokens + at least " + str(kMinMerges) + " merges + " +
                   str(kNumSpecialTokens) + " special tokens), got " + str(spec.vocab));
  }
  const WeightType* type = FindWeightType(spec.type);
  if (type == nullptr) {
    return invalid("unknown weight type '" + spec.type + "' (use f32, f16, q8_0 or q4_0)");
  }
  const int64_t block = ggml_blck_size(type->type);
  if (spec.embd % block != 0 || spec.ff % block != 0) {
    return invalid(spec.type + " packs rows in blocks of " + str(block) + ": embd (" +
                   str(spec.embd) + ") and ff (" + str(spec.ff) + ") must be multiples of it");
  }
  if (spec.name.empty()) return invalid("name must not be empty");
  return Status::Ok();
}

Status WriteTestModel(const TestModelSpec& spec, const std::string& path) {
  GLMQ_RETURN_IF_ERROR(ValidateTestModelSpec(spec));
  if (path.empty()) return InvalidArgument("test model: output path is empty");
  const WeightType& weight_type = *FindWeightType(spec.type);
  const std::string temp_path = path + ".tmp";
  Status status = WriteFile(spec, weight_type, temp_path);
  if (status.ok() && std::rename(temp_path.c_str(), path.c_str()) != 0) {
    status = Internal("test model: cannot rename " + temp_path + " to " + path + ": " +
                      std::strerror(errno));
  }
  if (!status.ok()) std::remove(temp_path.c_str());
  return status;
}

}  // namespace glmq
