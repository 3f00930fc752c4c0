#include "engine/llama_engine.h"

#include <gtest/gtest.h>

#include "core/utf8.h"
#include "engine/engine_test_support.h"

namespace glmq {
namespace {

TEST(LlamaEngineTest, RunsAJobToMaxTokensWithTrueUsage) {
  auto engine = LoadEngine(1);
  ASSERT_NE(engine, nullptr);
  EXPECT_TRUE(engine->info().is_test_model);
  EXPECT_GT(engine->info().kv_bytes_per_token, 0);
  Job job = MakeJob("a", "A short document about foxes and dogs.", 24);
  auto counted = engine->tokenizer().CountPromptTokens(job.request);
  ASSERT_TRUE(counted.ok());
  ASSERT_TRUE(Admit(*engine, job).ok());
  EXPECT_EQ(engine->FreeSlots(), 0);
  auto done = RunAll(*engine);
  ASSERT_EQ(done.count("a"), 1u);
  const Completion& c = done["a"];
  EXPECT_EQ(c.state, JobState::kSucceeded);
  EXPECT_EQ(c.finish_reason, "length");
  EXPECT_EQ(c.usage.prompt_tokens, *counted);
  EXPECT_EQ(c.usage.completion_tokens, 24);
  EXPECT_FALSE(c.output.empty());
  EXPECT_TRUE(IsValidUtf8(c.output));
  EXPECT_EQ(engine->FreeSlots(), 1);
}

TEST(LlamaEngineTest, GreedyOutputIsTheSameAloneAndBesideOthers) {
  auto alone = LoadEngine(1);
  ASSERT_NE(alone, nullptr);
  const Job probe = MakeJob("probe", "The river runs past the old mill at dawn.", 32);
  ASSERT_TRUE(Admit(*alone, probe).ok());
  const std::string solo = RunAll(*alone)["probe"].output;

  auto batched = LoadEngine(8);
  ASSERT_NE(batched, nullptr);
  ASSERT_TRUE(Admit(*batched, probe).ok());
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        Admit(*batched, MakeJob("other" + std::to_string(i),
                                std::string(20 + 15 * i, 'x') + " other text " + std::to_string(i),
                                8 + 5 * i))
            .ok());
  }
  auto done = RunAll(*batched);
  EXPECT_EQ(done.size(), 8u);
  EXPECT_EQ(done["probe"].output, solo);
}

TEST(LlamaEngineTest, StopStringEndsTheAnswerBeforeIt) {
  auto engine = LoadEngine(1);
  ASSERT_NE(engine, nullptr);
  Job job = MakeJob("s", "Tell me about the sea and the ships.", 48);
  ASSERT_TRUE(Admit(*engine, job).ok());
  const std::string full = RunAll(*engine)["s"].output;
  ASSERT_GT(full.size(), 12u);
  // Cut at a character boundary in the middle of the greedy answer.
  size_t cut = full.size() / 2;
  while (cut > 0 && (static_cast<unsigned char>(full[cut]) & 0xC0) == 0x80) --cut;
  const std::string stop = full.substr(cut, 3);
  job.request.sampling.stop = {stop};
  ASSERT_TRUE(Admit(*engine, job).ok());
  const Completion c = RunAll(*engine)["s"];
  EXPECT_EQ(c.finish_reason, "stop");
  EXPECT_EQ(c.output, full.substr(0, full.find(stop)));
  EXPECT_LT(c.usage.completion_tokens, 48);
}

TEST(LlamaEngineTest, StopFreesTheSequenceAndReportsCancelled) {
  auto engine = LoadEngine(1);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Admit(*engine, MakeJob("long", "A long one.", 2000)).ok());
  for (int i = 0; i < 5; ++i) (void)engine->Step();
  engine->Stop("long", JobState::kCancelled);
  EXPECT_EQ(engine->ActiveSequences(), 0);
  EXPECT_EQ(engine->FreeSlots(), 1);
  StepReport r = engine->Step();
  ASSERT_EQ(r.finished.size(), 1u);
  EXPECT_EQ(r.finished[0].completion.state, JobState::kCancelled);
  EXPECT_LT(r.finished[0].completion.usage.completion_tokens, 2000);
  // The freed sequence takes the next job.
  ASSERT_TRUE(Admit(*engine, MakeJob("next", "Next.", 4)).ok());
  EXPECT_EQ(RunAll(*engine)["next"].state, JobState::kSucceeded);
}

TEST(LlamaEngineTest, PassedDeadlineExpiresARunningJob) {
  auto engine = LoadEngine(1);
  ASSERT_NE(engine, nullptr);
  Job job = MakeJob("late", "Late.", 2000);
  job.deadline_at = NowMs() - 1;
  ASSERT_TRUE(Admit(*engine, job).ok());
  const Completion c = RunAll(*engine)["late"];
  EXPECT_EQ(c.state, JobState::kExpired);
  EXPECT_EQ(c.error_code, "timeout");
}

TEST(LlamaEngineTest, RejectsJobsThatCanNeverFit) {
  auto engine = LoadEngine(1, 256);
  ASSERT_NE(engine, nullptr);
  const Status s = engine->tokenizer().CheckFits(200, 100);
  EXPECT_EQ(s.code(), StatusCode::kUnprocessable);
  EXPECT_NE(s.message().find("300"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("256"), std::string::npos) << s.message();
  EXPECT_FALSE(Admit(*engine, MakeJob("big", std::string(3000, 'a'), 10)).ok());
  EXPECT_EQ(engine->FreeSlots(), 1);
}

// llama.cpp rounds a context up: what fits the check must fit the memory too.
TEST(LlamaEngineTest, AJobThatPassesTheContextCheckFitsTheMemory) {
  auto engine = LoadEngine(1, 1000);
  ASSERT_NE(engine, nullptr);
  const int64_t ctx = engine->info().ctx_size;
  EXPECT_GE(ctx, 1000);
  Job job = MakeJob("edge", std::string(600, 'x'), 1);
  const int64_t prompt = *engine->tokenizer().CountPromptTokens(job.request);
  job.request.sampling.max_tokens = static_cast<int32_t>(ctx - prompt);
  ASSERT_TRUE(engine->tokenizer().CheckFits(prompt, job.request.sampling.max_tokens).ok());
  const Status admitted = Admit(*engine, job);
  EXPECT_TRUE(admitted.ok()) << admitted.ToString();
  EXPECT_EQ(engine->tokenizer().CheckFits(prompt, job.request.sampling.max_tokens + 1).code(),
            StatusCode::kUnprocessable);
}

TEST(LlamaEngineTest, BadOptionsAreErrorsNotCrashes) {
  LlamaEngineOptions o;
  o.model_path = "/nonexistent/model.gguf";
  EXPECT_FALSE(LlamaEngine::Load(o).ok());
  o.model_path = ModelPath();
  o.kv_type = "q4_0";
  o.flash_attn = "off";
  EXPECT_EQ(LlamaEngine::Load(o).status().code(), StatusCode::kInvalidArgument);
  o.kv_type = "bf17";
  EXPECT_EQ(LlamaEngine::Load(o).status().code(), StatusCode::kInvalidArgument);
}

// A quantized KV with flash attention, the setting a long context on a GPU needs (the GPU
// kit runs this with every layer there): jobs run to their end, a second question on the
// same document reuses its cells, and the KV costs what its type says.
TEST(LlamaEngineTest, QuantizedKvRunsJobsAndSharesADocumentsCells) {
  // The default test model's heads (16 wide) are narrower than a quantized block (32).
  LlamaEngineOptions narrow = TestOptions(1);
  narrow.kv_type = "q8_0";
  narrow.flash_attn = "on";
  const auto refused = LlamaEngine::Load(narrow);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("heads are 16 wide"), std::string::npos)
      << refused.status().message();

  TestModelSpec spec;  // heads 32 wide, as GLM-4's are 128
  spec.embd = 128;
  spec.ff = 256;
  spec.heads = 4;
  spec.kv_heads = 2;
  const std::string path = ModelPath() + ".wide-heads.gguf";
  ASSERT_TRUE(WriteTestModel(spec, path).ok());
  for (const std::string kv : {"q8_0", "q4_0"}) {
    SCOPED_TRACE(kv);
    LlamaEngineOptions o = TestOptions(2);
    o.model_path = path;
    o.kv_type = kv;
    o.flash_attn = "on";
    auto engine = LoadWith(o);
    ASSERT_NE(engine, nullptr);
    // f16 would be 2 layers × 2 (K, V) × 2 KV heads × 32 × 2 bytes = 512 B per token.
    EXPECT_LT(engine->info().kv_bytes_per_token, 512);
    const std::string doc = std::string(800, 'k') + " and then the end.";
    ASSERT_TRUE(Admit(*engine, MakeJob("first", doc, 8)).ok());
    const Completion first = RunAll(*engine)["first"];
    EXPECT_EQ(first.state, JobState::kSucceeded) << first.error_message;
    EXPECT_EQ(first.usage.completion_tokens, 8);
    ASSERT_TRUE(Admit(*engine, MakeJob("second", doc, 8)).ok());
    const Completion second = RunAll(*engine)["second"];
    EXPECT_EQ(second.state, JobState::kSucceeded) << second.error_message;
    EXPECT_GT(second.usage.cached_tokens, 0);
    // Same prompt, same KV, greedy: the same answer.
    EXPECT_EQ(second.output, first.output);
  }
}

}  // namespace
}  // namespace glmq

namespace glmq {
namespace {

// A document told to yield reads nothing while another sequence has work, and reads again
// as soon as it is alone: yielding delays it, never stalls it.
TEST(LlamaEngineTest, YieldingPromptWaitsForOthersAndThenReads) {
  LlamaEngineOptions o = TestOptions(2);
  o.batch_size = 64;  // the document needs several steps
  auto loaded = LoadWith(o);
  ASSERT_NE(loaded, nullptr);
  LlamaEngine& engine = *loaded;
  ASSERT_TRUE(Admit(engine, MakeJob("doc", std::string(1500, 'a') + " the end.", 2)).ok());
  ASSERT_TRUE(Admit(engine, MakeJob("question", "Why?", 6)).ok());

  StepHints hints;
  hints.yield_prefill = {"doc"};
  bool question_done = false;
  for (int i = 0; i < 100 && !question_done; ++i) {
    const StepReport r = engine.Step(hints);
    for (const auto& p : r.progressed) {
      EXPECT_NE(p.id, "doc") << "the document read while the question had work (step " << i << ")";
    }
    for (const auto& f : r.finished) question_done |= f.id == "question";
  }
  ASSERT_TRUE(question_done);
  // Alone now: the same hint no longer holds it back.
  const StepReport r = engine.Step(hints);
  ASSERT_EQ(r.progressed.size(), 1u);
  EXPECT_EQ(r.progressed[0].id, "doc");
  EXPECT_GT(r.progressed[0].progress.prompt_tokens_read, 0);
  EXPECT_GT(r.progressed[0].progress.prompt_tokens, r.progressed[0].progress.prompt_tokens_read);
}

}  // namespace
}  // namespace glmq
