#include "sched/first_end.h"

#include <gtest/gtest.h>

#include "store/job_store.h"

namespace glmq {
namespace {

// 100 ms a step's generating part, steps held near 0.5 s: a step beside generating
// sequences reads 0.4 s of prompt (400 tokens at 1 ms).
StepCosts Costs() {
  return {.decode_step_seconds = 0.1, .step_target_seconds = 0.5, .batch_size = 2048};
}

TEST(FirstEndTest, UnforeseenWithNothingRunningOrNothingMeasured) {
  EXPECT_FALSE(FirstEndSeconds({}, Costs()).has_value());
  EXPECT_FALSE(FirstEndSeconds({{.prompt_tokens = 0, .tokens_to_generate = 5}}, StepCosts{}));
}

TEST(FirstEndTest, GeneratingJobsEndWithTheFewestTokensLeft) {
  auto seconds = FirstEndSeconds({{.prompt_tokens = 0, .tokens_to_generate = 10},
                                  {.prompt_tokens = 0, .tokens_to_generate = 3}},
                                 Costs());
  ASSERT_TRUE(seconds.has_value());
  EXPECT_DOUBLE_EQ(*seconds, 0.3);
}

TEST(FirstEndTest, AnAnswerBesideADocumentEndsInItsOwnSteps) {
  // Five tokens left, beside a document with 10,000 prompt tokens (10 s) to read: five steps
  // of 0.1 s generating and 0.4 s reading.
  auto seconds =
      FirstEndSeconds({{.prompt_tokens = 10'000, .prompt_seconds = 10, .tokens_to_generate = 100},
                       {.prompt_tokens = 0, .tokens_to_generate = 5}},
                      Costs());
  ASSERT_TRUE(seconds.has_value());
  EXPECT_NEAR(*seconds, 2.5, 1e-9);
}

TEST(FirstEndTest, TheShortestPromptIsReadFirst) {
  // Nothing generates: the 100-token prompt is read at full speed (0.1 s), and the step that
  // reads its last token samples its only token.
  auto seconds =
      FirstEndSeconds({{.prompt_tokens = 1000, .prompt_seconds = 1, .tokens_to_generate = 1},
                       {.prompt_tokens = 100, .prompt_seconds = 0.1, .tokens_to_generate = 1}},
                      Costs());
  ASSERT_TRUE(seconds.has_value());
  EXPECT_NEAR(*seconds, 0.1, 1e-9);
  // Beside a generating job: a quarter of a 0.5 s step reads it, then two more tokens of
  // 0.1 s each end it, before the other's 50.
  seconds =
      FirstEndSeconds({{.prompt_tokens = 0, .tokens_to_generate = 50},
                       {.prompt_tokens = 100, .prompt_seconds = 0.1, .tokens_to_generate = 3}},
                      Costs());
  ASSERT_TRUE(seconds.has_value());
  EXPECT_NEAR(*seconds, 0.125 + 0.2, 1e-9);
  // The engine reads the prompt with the fewest tokens first, whatever each costs: 100 tokens
  // deep into a context (0.5 s) before 200 at its start (0.2 s).
  seconds =
      FirstEndSeconds({{.prompt_tokens = 200, .prompt_seconds = 0.2, .tokens_to_generate = 1},
                       {.prompt_tokens = 100, .prompt_seconds = 0.5, .tokens_to_generate = 1}},
                      Costs());
  ASSERT_TRUE(seconds.has_value());
  EXPECT_NEAR(*seconds, 0.5, 1e-9);
}

TEST(FirstEndTest, AJobWaitingForAnotherToReadTheirSharedPrefixStartsWhenItIsRead) {
  // A question on a document another job is reading: its own 10 tokens (the question) are
  // not read first, shortest as they are, but once the document is (1 s, nothing
  // generating); then a fortieth of a step reads them beside the reader's first tokens and
  // one more step samples its second and last.
  std::vector<SequenceLeft> running = {
      {.prompt_tokens = 1000, .prompt_seconds = 1, .tokens_to_generate = 5},
      {.prompt_tokens = 10, .prompt_seconds = 0.01, .tokens_to_generate = 2, .waits_for = 0}};
  auto seconds = FirstEndSeconds(running, Costs());
  ASSERT_TRUE(seconds.has_value());
  EXPECT_NEAR(*seconds, 1 + 0.025 * 0.5 + 0.1, 1e-9);
  // Not waiting, it would end in its first step.
  running[1].waits_for = -1;
  seconds = FirstEndSeconds(running, Costs());
  ASSERT_TRUE(seconds.has_value());
  EXPECT_NEAR(*seconds, 0.01 + 0.5, 1e-9);
  // Jobs that only wait, for nothing that reads, are not foreseen.
  running[0].waits_for = 1;
  running[1].waits_for = 0;
  EXPECT_FALSE(FirstEndSeconds(running, Costs()).has_value());
}

TEST(FirstEndTest, TheWaitIsTheLesserOfTheFirstEndAndAllTheRunningWork) {
  WaitModel model{.base_seconds = 60, .seconds_per_prompt_token = 0.01, .when_clear = std::nullopt};
  model.first_end = WaitModel::FirstEnd{.seconds = 1, .slope = 2};
  EXPECT_DOUBLE_EQ(model.Seconds(0, 0), 1);
  EXPECT_DOUBLE_EQ(model.Seconds(100, 0), 3);       // 1 + 2 × 1 s
  EXPECT_DOUBLE_EQ(model.Seconds(10'000, 0), 160);  // 60 + 100 s
  model.first_end.reset();
  EXPECT_DOUBLE_EQ(model.Seconds(0, 0), 60);
}

}  // namespace
}  // namespace glmq
