#include "testmodel/test_model.h"

#include <gtest/gtest.h>
#include <llama.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "core/utf8.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

constexpr int32_t kNumSpecialTokens = 14;

struct ModelDeleter {
  void operator()(llama_model* model) const { llama_model_free(model); }
};
struct ContextDeleter {
  void operator()(llama_context* ctx) const { llama_free(ctx); }
};
struct SamplerDeleter {
  void operator()(llama_sampler* sampler) const { llama_sampler_free(sampler); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// llama.cpp logs every tensor at load; keep the test output to errors.
void ErrorsOnlyLog(ggml_log_level level, const char* text, void* /*user_data*/) {
  if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

ModelPtr LoadModel(const std::string& path) {
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  return ModelPtr(llama_model_load_from_file(path.c_str(), params));
}

std::string MetaString(const llama_model* model, const char* key) {
  char buf[256];
  if (llama_model_meta_val_str(model, key, buf, sizeof(buf)) < 0) return "<missing>";
  return buf;
}

std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& text,
                                  bool parse_special) {
  std::vector<llama_token> tokens(text.size() + 8);
  const int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()),
                                   tokens.data(), static_cast<int32_t>(tokens.size()),
                                   /*add_special=*/true, parse_special);
  tokens.resize(n < 0 ? 0 : n);
  return tokens;
}

std::string Detokenize(const llama_vocab* vocab, const std::vector<llama_token>& tokens) {
  std::string text(tokens.size() * 16 + 16, '\0');
  const int32_t n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()),
                                     text.data(), static_cast<int32_t>(text.size()),
                                     /*remove_special=*/false, /*unparse_special=*/false);
  text.resize(n < 0 ? 0 : n);
  return text;
}

std::string Piece(const llama_vocab* vocab, llama_token token) {
  char buf[256];
  const int32_t n = llama_token_to_piece(vocab, token, buf, sizeof(buf), 0, /*special=*/false);
  return std::string(buf, n < 0 ? 0 : n);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Generation {
  std::vector<llama_token> tokens;
  std::string text;
};

// Decodes the chat prompt for one user message, then samples `n` tokens one at a time.
Generation Generate(llama_model* model, llama_sampler* sampler, int n) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  llama_context_params params = llama_context_default_params();
  params.n_ctx = 256;
  params.n_batch = 256;
  params.n_threads = 1;  // tiny model; more threads only spin when the machine is busy
  params.n_threads_batch = 1;
  ContextPtr ctx(llama_init_from_model(model, params));
  EXPECT_NE(ctx, nullptr);
  Generation out;
  if (!ctx) return out;

  std::vector<llama_token> prompt =
      Tokenize(vocab, "[gMASK]<sop><|user|>\nTell me about the harbour.<|assistant|>\n", true);
  EXPECT_EQ(llama_decode(ctx.get(), llama_batch_get_one(prompt.data(), prompt.size())), 0);
  for (int i = 0; i < n; ++i) {
    llama_token token = llama_sampler_sample(sampler, ctx.get(), -1);
    out.tokens.push_back(token);
    out.text += Piece(vocab, token);
    if (llama_decode(ctx.get(), llama_batch_get_one(&token, 1)) != 0) {
      ADD_FAILURE() << "decode failed at token " << i;
      break;
    }
  }
  return out;
}

void ExpectCleanText(const llama_model* model, const Generation& generation) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  for (const llama_token token : generation.tokens) {
    EXPECT_FALSE(llama_vocab_is_control(vocab, token)) << "special token " << token;
    EXPECT_FALSE(llama_vocab_is_eog(vocab, token)) << "end-of-generation token " << token;
  }
  EXPECT_FALSE(generation.text.empty());
  EXPECT_TRUE(IsValidUtf8(generation.text)) << generation.text;
}

SamplerPtr GreedySampler() {
  SamplerPtr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
  return chain;
}

// The default model is written and loaded once for the suite.
class TestModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    llama_log_get(&saved_log_, &saved_log_data_);
    llama_log_set(ErrorsOnlyLog, nullptr);
    llama_backend_init();
    dir_ =
        new fs::path(fs::temp_directory_path() / ("glmq-test-model-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    default_path_ = new std::string((*dir_ / "default.gguf").string());

    const auto start = std::chrono::steady_clock::now();
    const Status status = WriteTestModel(TestModelSpec{}, *default_path_);
    const auto written = std::chrono::steady_clock::now();
    ASSERT_TRUE(status.ok()) << status.ToString();
    model_ = LoadModel(*default_path_).release();
    const auto loaded = std::chrono::steady_clock::now();
    ASSERT_NE(model_, nullptr);
    using Ms = std::chrono::duration<double, std::milli>;
    std::printf("default test model: %.2f MB, %.1f ms to write, %.1f ms to load, %llu params\n",
                fs::file_size(*default_path_) / 1e6, Ms(written - start).count(),
                Ms(loaded - written).count(),
                static_cast<unsigned long long>(llama_model_n_params(model_)));
  }

  static void TearDownTestSuite() {
    llama_model_free(model_);
    model_ = nullptr;
    std::error_code ignored;
    fs::remove_all(*dir_, ignored);
    delete dir_;
    delete default_path_;
    llama_log_set(saved_log_, saved_log_data_);
  }

  static const llama_vocab* vocab() { return llama_model_get_vocab(model_); }

  static inline fs::path* dir_ = nullptr;
  static inline std::string* default_path_ = nullptr;
  static inline llama_model* model_ = nullptr;
  static inline ggml_log_callback saved_log_ = nullptr;
  static inline void* saved_log_data_ = nullptr;
};

TEST_F(TestModelTest, WritesChatglmMetadata) {
  EXPECT_EQ(MetaString(model_, "general.architecture"), "chatglm");
  EXPECT_EQ(MetaString(model_, "general.name"), "glmq-test-model");
  EXPECT_EQ(llama_model_n_ctx_train(model_), 131072);
  EXPECT_EQ(llama_model_n_embd(model_), 64);
  EXPECT_EQ(llama_model_n_layer(model_), 2);
  EXPECT_EQ(llama_vocab_n_tokens(vocab()), 512);
  EXPECT_EQ(llama_model_ftype(model_), LLAMA_FTYPE_ALL_F32);
  // A few MB: quick to write, load and run in every test that needs a model.
  EXPECT_LT(fs::file_size(*default_path_), 8u << 20);
}

TEST_F(TestModelTest, ChatTemplateRendersAsChatglm4) {
  const char* tmpl = llama_model_chat_template(model_, nullptr);
  ASSERT_NE(tmpl, nullptr);
  const llama_chat_message messages[] = {{"system", "S"}, {"user", "Hi"}};
  char buf[512];
  const int32_t n =
      llama_chat_apply_template(tmpl, messages, 2, /*add_ass=*/true, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), "[gMASK]<sop><|system|>\nS<|user|>\nHi<|assistant|>\n");
}

TEST_F(TestModelTest, ParsesGlmSpecialTokens) {
  const int32_t first_special = 512 - kNumSpecialTokens;
  const std::vector<llama_token> tokens = Tokenize(vocab(), "[gMASK]<sop><|user|>", true);
  EXPECT_EQ(tokens,
            (std::vector<llama_token>{first_special + 2, first_special + 4, first_special + 7}));
  for (const llama_token token : tokens) EXPECT_TRUE(llama_vocab_is_control(vocab(), token));
  EXPECT_EQ(llama_vocab_eos(vocab()), first_special);
  EXPECT_EQ(llama_vocab_eot(vocab()), first_special + 7);
  EXPECT_TRUE(llama_vocab_is_eog(vocab(), first_special));
  EXPECT_TRUE(llama_vocab_is_eog(vocab(), first_special + 7));
  EXPECT_FALSE(llama_vocab_get_add_bos(vocab()));
}

TEST_F(TestModelTest, TokenizerRoundTripsText) {
  const std::string ascii = "Hello, world! The queue holds 1234 jobs.\nAsk again later?";
  const std::vector<llama_token> ascii_tokens = Tokenize(vocab(), ascii, false);
  // Learned merges are in use: fewer tokens than bytes.
  EXPECT_LT(ascii_tokens.size(), ascii.size() * 3 / 4);
  EXPECT_EQ(Detokenize(vocab(), ascii_tokens), ascii);

  const std::string chinese = "你好，世界。今天天气很好，我们去公园散步吧。";
  EXPECT_EQ(Detokenize(vocab(), Tokenize(vocab(), chinese, false)), chinese);
}

TEST_F(TestModelTest, GreedyGenerationIsCleanText) {
  SamplerPtr sampler = GreedySampler();
  const Generation generation = Generate(model_, sampler.get(), 20);
  EXPECT_EQ(generation.tokens.size(), 20u);
  ExpectCleanText(model_, generation);
}

// The suppressed tokens' logits are far below the rest, not merely zero, so even sampling
// at temperature 1 never ends a test answer early or breaks a character.
TEST_F(TestModelTest, SampledGenerationIsCleanText) {
  SamplerPtr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(1.0f));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(7));
  const Generation generation = Generate(model_, chain.get(), 100);
  ExpectCleanText(model_, generation);
}

TEST_F(TestModelTest, SameSpecWritesSameBytes) {
  const fs::path again = *dir_ / "again.gguf";
  ASSERT_TRUE(WriteTestModel(TestModelSpec{}, again.string()).ok());
  EXPECT_TRUE(ReadFile(again) == ReadFile(*default_path_));

  TestModelSpec other_seed;
  other_seed.seed = 43;
  const fs::path reseeded = *dir_ / "seed43.gguf";
  ASSERT_TRUE(WriteTestModel(other_seed, reseeded.string()).ok());
  EXPECT_EQ(fs::file_size(reseeded), fs::file_size(*default_path_));
  EXPECT_FALSE(ReadFile(reseeded) == ReadFile(*default_path_));
  EXPECT_FALSE(fs::exists(again.string() + ".tmp"));
}

TEST_F(TestModelTest, QuantizedVariantsLoadAndGenerate) {
  const struct {
    const char* type;
    llama_ftype ftype;
  } variants[] = {{"f16", LLAMA_FTYPE_MOSTLY_F16},
                  {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
                  {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0}};
  for (const auto& variant : variants) {
    SCOPED_TRACE(variant.type);
    TestModelSpec spec;
    spec.type = variant.type;
    const fs::path path = *dir_ / (std::string(variant.type) + ".gguf");
    const Status status = WriteTestModel(spec, path.string());
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_LT(fs::file_size(path), fs::file_size(*default_path_));
    ModelPtr model = LoadModel(path.string());
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(llama_model_ftype(model.get()), variant.ftype);
    SamplerPtr sampler = GreedySampler();
    ExpectCleanText(model.get(), Generate(model.get(), sampler.get(), 10));
  }
}

TEST_F(TestModelTest, RejectsInvalidSpecs) {
  const struct {
    const char* what;
    std::function<void(TestModelSpec&)> mutate;
  } cases[] = {
      {"embd not divisible by heads", [](TestModelSpec& s) { s.heads = 3; }},
      {"heads not divisible by kv_heads", [](TestModelSpec& s) { s.kv_heads = 3; }},
      {"odd head dimension",
       [](TestModelSpec& s) {
         s.embd = 40;
         s.heads = 8;
         s.kv_heads = 8;
       }},
      {"vocab too small", [](TestModelSpec& s) { s.vocab = 256 + 14; }},
      {"unknown type", [](TestModelSpec& s) { s.type = "q5_k"; }},
      {"quantized rows not in blocks",
       [](TestModelSpec& s) {
         s.type = "q8_0";
         s.ff = 100;
       }},
      {"no layers", [](TestModelSpec& s) { s.layers = 0; }},
      {"negative context", [](TestModelSpec& s) { s.ctx = -1; }},
      {"empty name", [](TestModelSpec& s) { s.name.clear(); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    TestModelSpec spec;
    c.mutate(spec);
    const fs::path path = *dir_ / "invalid.gguf";
    const Status status = WriteTestModel(spec, path.string());
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
    EXPECT_FALSE(status.message().empty());
    EXPECT_FALSE(fs::exists(path));
  }
  const Status no_path = WriteTestModel(TestModelSpec{}, "");
  EXPECT_EQ(no_path.code(), StatusCode::kInvalidArgument);
  const Status bad_dir = WriteTestModel(TestModelSpec{}, (*dir_ / "missing" / "m.gguf").string());
  EXPECT_EQ(bad_dir.code(), StatusCode::kInternal);
}

// layers, embd, heads, kv_heads, ff, vocab, ctx, type, as one line to compare.
std::string Shape(const TestModelSpec& s) {
  return std::to_string(s.layers) + " " + std::to_string(s.embd) + " " + std::to_string(s.heads) +
         " " + std::to_string(s.kv_heads) + " " + std::to_string(s.ff) + " " +
         std::to_string(s.vocab) + " " + std::to_string(s.ctx) + " " + s.type;
}

TEST(PresetSpecTest, BenchIsAValidFewHundredMillionParameterModel) {
  const TestModelSpec spec = *PresetSpec("bench");
  EXPECT_EQ(Shape(spec), "12 1024 8 2 3072 65536 131072 f16");
  EXPECT_EQ(spec.name, "glmq-test-model");
  EXPECT_TRUE(ValidateTestModelSpec(spec).ok());
}

TEST(PresetSpecTest, Glm4NineBHasTheRealModelsShape) {
  const TestModelSpec spec = *PresetSpec("glm4-9b");
  EXPECT_TRUE(ValidateTestModelSpec(spec).ok());
  // GLM-4-9B-Chat-1M's config.json: num_layers, hidden_size, num_attention_heads,
  // multi_query_group_num, ffn_hidden_size, padded_vocab_size, seq_length; 4-bit weights.
  EXPECT_EQ(Shape(spec), "40 4096 32 2 13696 151552 1048576 q4_0");
  // 9.4 billion parameters: embeddings and output, then per block QKV (with 2 KV heads of
  // 128), the attention output, the fused gate+up and the down projection.
  const int64_t head_dim = spec.embd / spec.heads;
  const int64_t block = int64_t{spec.embd} * (spec.embd + 2 * spec.kv_heads * head_dim) +
                        int64_t{spec.embd} * spec.embd + int64_t{spec.embd} * 2 * spec.ff +
                        int64_t{spec.ff} * spec.embd;
  const int64_t params = 2 * int64_t{spec.vocab} * spec.embd + spec.layers * block;
  EXPECT_NEAR(params / 1e9, 9.4, 0.05);
}

TEST(PresetSpecTest, DefaultIsTheStructsDefaultsAndUnknownNamesAreRefused) {
  EXPECT_EQ(PresetSpec("default")->embd, TestModelSpec{}.embd);
  EXPECT_FALSE(PresetSpec("glm4-32b").has_value());
}

}  // namespace
}  // namespace glmq
