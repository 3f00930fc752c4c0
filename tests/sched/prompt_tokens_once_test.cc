#include "sched/prompt_tokens_once.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "sched/fake_engine.h"

namespace glmq {
namespace {

ModelInfo Model() {
  ModelInfo info;
  info.ctx_size = 1 << 20;
  return info;
}

JobRequest Document(size_t bytes) {
  JobRequest r;
  r.text = std::string(bytes, 'd');
  r.question = "Why?";
  return r;
}

TEST(PromptTokensOnceTest, TheSchedulerTakesTheTokensTheSettleStepMade) {
  FakeTokenizer tokenizer(Model());
  PromptTokensOnce once(tokenizer, 1 << 20);
  const JobRequest doc = Document(5000);
  auto counted = once.CountAndKeep("a", doc);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(*counted, FakeTokenizer::Tokens(doc));
  EXPECT_GT(once.kept_bytes(), 0u);
  auto taken = once.Take("a", doc);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(static_cast<int64_t>(taken->size()), *counted);
  EXPECT_EQ(tokenizer.TimesTokenized(doc.text), 1);
  EXPECT_EQ(once.kept_bytes(), 0u);
  EXPECT_EQ(once.taken(), 1);
  // Taken once: a second claim (the job handed back and claimed again) tokenizes anew.
  ASSERT_TRUE(once.Take("a", doc).ok());
  EXPECT_EQ(tokenizer.TimesTokenized(doc.text), 2);
}

TEST(PromptTokensOnceTest, AClaimDuringTheSettleStepWaitsForItsTokens) {
  FakeTokenizer tokenizer(Model());
  tokenizer.SetSlow(1000, 300);
  PromptTokensOnce once(tokenizer, 1 << 20);
  const JobRequest doc = Document(5000);
  auto settle = std::async(std::launch::async, [&] { return once.CountAndKeep("a", doc); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the settle step is tokenizing
  auto taken = once.Take("a", doc);
  ASSERT_TRUE(taken.ok());
  ASSERT_TRUE(settle.get().ok());
  EXPECT_EQ(tokenizer.TimesTokenized(doc.text), 1);
  EXPECT_EQ(static_cast<int64_t>(taken->size()), FakeTokenizer::Tokens(doc));
  EXPECT_EQ(once.kept_bytes(), 0u);  // nothing left behind for a claim that came
}

TEST(PromptTokensOnceTest, ASettleStepDuringTheClaimCountsItsTokens) {
  FakeTokenizer tokenizer(Model());
  tokenizer.SetSlow(1000, 300);
  PromptTokensOnce once(tokenizer, 1 << 20);
  const JobRequest doc = Document(5000);
  auto claim = std::async(std::launch::async, [&] { return once.Take("a", doc); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto counted = once.CountAndKeep("a", doc);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(*counted, FakeTokenizer::Tokens(doc));
  auto taken = claim.get();
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(static_cast<int64_t>(taken->size()), *counted);
  EXPECT_EQ(tokenizer.TimesTokenized(doc.text), 1);
  EXPECT_EQ(once.kept_bytes(), 0u);
}

TEST(PromptTokensOnceTest, TokensPastTheBudgetAreNotKept) {
  FakeTokenizer tokenizer(Model());
  // Room for one document's tokens (4 bytes each), not two.
  PromptTokensOnce once(tokenizer, 4 * 7000);
  const JobRequest first = Document(5000), second = Document(5001);
  ASSERT_TRUE(once.CountAndKeep("first", first).ok());
  ASSERT_TRUE(once.CountAndKeep("second", second).ok());
  ASSERT_TRUE(once.Take("second", second).ok());
  EXPECT_EQ(tokenizer.TimesTokenized(second.text), 2);  // not kept: made again
  ASSERT_TRUE(once.Take("first", first).ok());
  EXPECT_EQ(tokenizer.TimesTokenized(first.text), 1);
}

TEST(PromptTokensOnceTest, ForgottenAndExpiredTokensLeaveTheKeep) {
  FakeTokenizer tokenizer(Model());
  PromptTokensOnce once(tokenizer, 1 << 20, std::chrono::milliseconds(100));
  const JobRequest doc = Document(3000), other = Document(3001);
  ASSERT_TRUE(once.CountAndKeep("a", doc).ok());
  once.Forget("a");
  EXPECT_EQ(once.kept_bytes(), 0u);
  ASSERT_TRUE(once.CountAndKeep("b", other).ok());
  EXPECT_GT(once.kept_bytes(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ASSERT_TRUE(once.Take("c", doc).ok());  // any call drops what expired
  EXPECT_EQ(once.kept_bytes(), 0u);
}

}  // namespace
}  // namespace glmq
