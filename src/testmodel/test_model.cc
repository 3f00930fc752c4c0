#include "testmodel/test_model.h"

#include <fcntl.h>
#include <ggml.h>
#include <gguf.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "testmodel/test_model_vocab.h"

namespace glmq {
namespace {

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

void FillRow(const TensorPlan& plan, int64_t row, const TestVocab& vocab, float anchor, Rng& rng,
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
// Closes the file on an early return.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Status IoError(const char* what, const std::string& path) {
  return Internal("test model: " + std::string(what) + " " + path + ": " + std::strerror(errno));
}

Status WriteAt(int fd, const void* data, size_t size, uint64_t offset, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("cannot write", path);
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

void SetMetadata(gguf_context* ctx, const TestModelSpec& spec, const WeightType& weight_type,
                 const TestVocab& vocab) {
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

// One piece of work: rows [first, first + n) of a tensor, written at `offset` of the file.
struct Chunk {
  const TensorPlan* plan;
  int64_t first;
  int64_t n;
  uint64_t offset;
  uint64_t seed;
};

// Splits every tensor into chunks of about kChunkElements values. A chunk's random stream
// depends only on the model's seed, its tensor and its index, so the file is the same
// whatever the number of threads (and a model whose tensors fit one chunk each, as the
// small test models do, has one stream per tensor).
std::vector<Chunk> PlanChunks(const std::vector<TensorPlan>& plans, const gguf_context* gguf,
                              uint64_t data_start, uint64_t seed) {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < plans.size(); ++i) {
    const TensorPlan& plan = plans[i];
    const uint64_t tensor_seed = Rng(seed ^ (0xA0761D6478BD642Full * (i + 1))).Next();
    const int64_t rows = std::max<int64_t>(plan.rows, 1);
    const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkElements / plan.cols);
    const uint64_t row_bytes = ggml_row_size(plan.type, plan.cols);
    const uint64_t base = data_start + gguf_get_tensor_offset(gguf, static_cast<int64_t>(i));
    for (int64_t first = 0, index = 0; first < rows; first += rows_per_chunk, ++index) {
      const uint64_t chunk_seed =
          index == 0 ? tensor_seed : Rng(tensor_seed ^ (0xE7037ED1A0B428DBull * index)).Next();
      chunks.push_back({&plan, first, std::min(rows_per_chunk, rows - first),
                        base + static_cast<uint64_t>(first) * row_bytes, chunk_seed});
    }
  }
  return chunks;
}

// Generates one chunk and writes it in its file type. `values` and `packed` are the
// calling thread's buffers.
Status WriteChunk(const Chunk& c, const TestVocab& vocab, float anchor, int fd,
                  const std::string& path, std::vector<float>& values,
                  std::vector<uint8_t>& packed) {
  const TensorPlan& plan = *c.plan;
  Rng rng(c.seed);
  values.resize(static_cast<size_t>(c.n * plan.cols));
  for (int64_t r = 0; r < c.n; ++r) {
    FillRow(plan, c.first + r, vocab, anchor, rng, values.data() + r * plan.cols);
  }
  if (plan.type == GGML_TYPE_F32) {
    return WriteAt(fd, values.data(), values.size() * sizeof(float), c.offset, path);
  }
  packed.resize(ggml_row_size(plan.type, plan.cols) * c.n);
  const size_t size =
      ggml_quantize_chunk(plan.type, values.data(), packed.data(), 0, c.n, plan.cols, nullptr);
  return WriteAt(fd, packed.data(), size, c.offset, path);
}

// Runs the chunks on every hardware thread (a GLM-4-9B-shaped model is 9.4 billion values:
// about a minute on one core). The first error stops the rest.
Status WriteChunks(const std::vector<Chunk>& chunks, const TestVocab& vocab, float anchor, int fd,
                   const std::string& path) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first_error = Status::Ok();
  std::atomic<bool> failed{false};
  auto work = [&] {
    std::vector<float> values;
    std::vector<uint8_t> packed;
    for (size_t i = next++; i < chunks.size() && !failed; i = next++) {
      Status s = WriteChunk(chunks[i], vocab, anchor, fd, path, values, packed);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.exchange(true)) first_error = std::move(s);
      }
    }
  };
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1,
                                            std::min<size_t>(32, chunks.size()));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return first_error;
}

Status WriteFile(const TestModelSpec& spec, const WeightType& weight_type,
                 const std::string& path) {
  const TestVocab vocab = BuildTestVocab(spec.vocab);
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

  Fd file{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  const int fd = file.fd;
  if (fd < 0) return IoError("cannot create", path);
  // The header ends padded to the alignment; tensor offsets count from there.
  const size_t data_start = gguf_get_meta_size(gguf.get());
  std::vector<uint8_t> header(data_start);
  gguf_get_meta_data(gguf.get(), header.data());
  GLMQ_RETURN_IF_ERROR(WriteAt(fd, header.data(), header.size(), 0, path));
  const float anchor = kAnchorScale * kResidualStd * std::sqrt(static_cast<float>(spec.embd));
  GLMQ_RETURN_IF_ERROR(
      WriteChunks(PlanChunks(plans, gguf.get(), data_start, spec.seed), vocab, anchor, fd, path));
  // Padding between tensors is a hole that reads as zeros; the file ends padded too.
  const size_t last = plans.size() - 1;
  const uint64_t end = data_start + gguf_get_tensor_offset(gguf.get(), static_cast<int64_t>(last)) +
                       gguf_get_tensor_size(gguf.get(), static_cast<int64_t>(last));
  const uint64_t alignment = gguf_get_alignment(gguf.get());
  if (::ftruncate(fd, static_cast<off_t>((end + alignment - 1) / alignment * alignment)) != 0) {
    return IoError("cannot write", path);
  }
  file.fd = -1;
  if (::close(fd) != 0) return IoError("cannot close", path);
  return Status::Ok();
}

}  // namespace

std::optional<TestModelSpec> PresetSpec(std::string_view name) {
  struct Shape {
    std::string_view name;
    int32_t layers, embd, heads, kv_heads, ff, vocab, ctx;
    const char* type;
  };
  static constexpr Shape kShapes[] = {
      {"bench", 12, 1024, 8, 2, 3072, 65536, 131072, "f16"},
      {"glm4-9b", 40, 4096, 32, 2, 13696, 151552, 1048576, "q4_0"},
  };
  TestModelSpec spec;
  if (name == "default") return spec;
  for (const Shape& s : kShapes) {
    if (s.name != name) continue;
    spec.layers = s.layers;
    spec.embd = s.embd;
    spec.heads = s.heads;
    spec.kv_heads = s.kv_heads;
    spec.ff = s.ff;
    spec.vocab = s.vocab;
    spec.ctx = s.ctx;
    spec.type = s.type;
    return spec;
  }
  return std::nullopt;
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
