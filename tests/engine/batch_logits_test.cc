// With default settings (flash attention auto, f16 weights) llama.cpp's kernels are not
// bit-exact across batch shapes, so a job's tokens may differ at near-ties when it runs beside
// others. What must hold is that its first-step logits agree within a small tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "llama.h"
#include "testmodel/test_model.h"

namespace glmq {
namespace {

// Largest difference allowed between the two logit vectors. Ordinary tokens' logits of the
// test model span a few units (suppressed tokens sit near -55 to -200), so 0.01 is well
// below what would reorder tokens that are not near-ties.
constexpr double kAbsoluteTolerance = 0.01;

std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& text) {
  std::vector<llama_token> out(text.size() + 8);
  const int n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                               static_cast<int32_t>(out.size()), true, true);
  out.resize(std::max(n, 0));
  return out;
}

llama_context* MakeContext(llama_model* model, uint32_t sequences) {
  llama_context_params p = llama_context_default_params();  // flash attention: auto
  p.n_ctx = 4096;
  p.n_batch = 2048;
  p.n_seq_max = sequences;
  p.kv_unified = true;
  p.n_threads = 2;
  p.n_threads_batch = 2;
  return llama_init_from_model(model, p);
}

// Decodes the prompts in one batch (prompt i as sequence i) and returns the logits of the
// last token of prompt 0.
std::vector<float> FirstStepLogits(llama_context* ctx, const llama_vocab* vocab,
                                   const std::vector<std::vector<llama_token>>& prompts) {
  size_t total = 0;
  for (const auto& p : prompts) total += p.size();
  llama_batch batch = llama_batch_init(static_cast<int32_t>(total), 0, 1);
  int32_t row_of_first = -1;
  for (size_t s = 0; s < prompts.size(); ++s) {
    for (size_t i = 0; i < prompts[s].size(); ++i) {
      const int32_t k = batch.n_tokens++;
      batch.token[k] = prompts[s][i];
      batch.pos[k] = static_cast<llama_pos>(i);
      batch.n_seq_id[k] = 1;
      batch.seq_id[k][0] = static_cast<llama_seq_id>(s);
      batch.logits[k] = i + 1 == prompts[s].size();
      if (s == 0 && i + 1 == prompts[s].size()) row_of_first = k;
    }
  }
  EXPECT_EQ(llama_decode(ctx, batch), 0);
  const float* logits = llama_get_logits_ith(ctx, row_of_first);
  std::vector<float> out(logits, logits + llama_vocab_n_tokens(vocab));
  llama_batch_free(batch);
  return out;
}

TEST(BatchLogitsTest, FirstStepLogitsAgreeAloneAndBesideSevenOthers) {
  llama_backend_init();
  const auto dir =
      std::filesystem::temp_directory_path() / ("glmq-logits-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  TestModelSpec spec;
  spec.type = "f16";
  const std::string path = (dir / "model-f16.gguf").string();
  ASSERT_TRUE(WriteTestModel(spec, path).ok());
  llama_model* model = llama_model_load_from_file(path.c_str(), llama_model_default_params());
  ASSERT_NE(model, nullptr);
  const llama_vocab* vocab = llama_model_get_vocab(model);

  std::vector<std::vector<llama_token>> prompts;
  prompts.push_back(Tokenize(vocab,
                             "[gMASK]<sop><|user|>\nThe lighthouse keeper wrote every "
                             "night about the ships.<|assistant|>\n"));
  for (int i = 1; i < 8; ++i) {
    prompts.push_back(Tokenize(vocab, "[gMASK]<sop><|user|>\nAnother question, number " +
                                          std::to_string(i) + std::string(i * 9, '!') +
                                          "<|assistant|>\n"));
  }

  llama_context* alone = MakeContext(model, 1);
  ASSERT_NE(alone, nullptr);
  const std::vector<float> a = FirstStepLogits(alone, vocab, {prompts[0]});
  llama_context* batched = MakeContext(model, 8);
  ASSERT_NE(batched, nullptr);
  const std::vector<float> b = FirstStepLogits(batched, vocab, prompts);

  double largest = 0, worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    largest = std::max(largest, static_cast<double>(std::fabs(a[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  ASSERT_GT(largest, 0);
  RecordProperty("max_abs_diff", std::to_string(worst));
  std::printf("[ logits ] largest |logit| %.4f, largest difference %.6f (%.4f%%)\n", largest, worst,
              100 * worst / largest);
  EXPECT_LE(worst, kAbsoluteTolerance);

  llama_free(alone);
  llama_free(batched);
  llama_model_free(model);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace glmq
