// StableTextEnd: text shown while a job runs is never taken back by the answer it ends with.
#include "engine/stable_text.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/utf8.h"

namespace glmq {
namespace {

TEST(StableTextTest, HoldsACharacterUntilItIsWhole) {
  const std::string han = "\xE4\xB8\xAD";  // U+4E2D, three bytes
  EXPECT_EQ(StableTextEnd("ab" + han.substr(0, 1), 0, {}), 2u);
  EXPECT_EQ(StableTextEnd("ab" + han.substr(0, 2), 0, {}), 2u);
  EXPECT_EQ(StableTextEnd("ab" + han, 0, {}), 5u);
  // Bytes that can never become a character are shown (as U+FFFD) at once.
  EXPECT_EQ(StableTextEnd("ab\xFF", 0, {}), 3u);
  EXPECT_EQ(StableTextEnd("ab\xE4z", 0, {}), 4u);
}

TEST(StableTextTest, HoldsWhatMayBeTheStartOfAStopString) {
  const std::vector<std::string> stop = {"</answer>", "\n\n\n"};
  EXPECT_EQ(StableTextEnd("yes</ans", 0, stop), 3u);
  EXPECT_EQ(StableTextEnd("yes<", 0, stop), 3u);
  EXPECT_EQ(StableTextEnd("yes\n\n", 0, stop), 3u);
  EXPECT_EQ(StableTextEnd("yes</b>", 0, stop), 7u);  // "</b>" can no longer be "</answer>"
  EXPECT_EQ(StableTextEnd("yes", 0, stop), 3u);
  // What was shown stays shown.
  EXPECT_EQ(StableTextEnd("yes</ans", 5, stop), 5u);
  // An empty stop string (never matched) holds nothing.
  EXPECT_EQ(StableTextEnd("yes", 0, {""}), 3u);
}

// Generations of random pieces (ASCII, parts of characters, bytes that are no character)
// against random stop strings, cut as the engine cuts them (at the first match, which ends
// the job): the text shown step by step is always the beginning of the answer, and all of
// it once the job ends without a stop string.
TEST(StableTextTest, WhatIsShownIsTheBeginningOfTheAnswer) {
  std::mt19937 rng(7);
  const std::vector<std::string> alphabet = {
      "a",    "b",        "<",        "/",        "\n",   "\xE4\xB8\xAD",
      "\xE4", "\xB8\xAD", "\xF0\x9F", "\x98\x80", "\xFF", "ab<"};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::string> stop;
    for (size_t i = pick(3); i > 0; --i) {
      std::string s;
      for (size_t k = 1 + pick(3); k > 0; --k) s += alphabet[pick(5)];  // valid UTF-8
      stop.push_back(s);
    }
    std::string bytes, shown_text;
    size_t shown = 0;
    bool stopped = false;
    for (size_t step = 1 + pick(12); step > 0 && !stopped; --step) {
      bytes += alphabet[pick(alphabet.size())];
      size_t cut = std::string::npos;
      for (const std::string& s : stop) cut = std::min(cut, bytes.find(s));
      if (cut != std::string::npos) {
        bytes.resize(cut);
        stopped = true;
        break;
      }
      const size_t end = StableTextEnd(bytes, shown, stop);
      ASSERT_GE(end, shown);
      shown_text += SanitizeUtf8(std::string_view(bytes).substr(shown, end - shown));
      shown = end;
    }
    const std::string answer = SanitizeUtf8(bytes);
    ASSERT_EQ(answer.rfind(shown_text, 0), 0u)
        << "round " << round << ": shown '" << shown_text << "', answer '" << answer << "'";
    if (!stopped) {
      // The end: every byte of a whole character or of none, no stop string pending.
      shown_text += SanitizeUtf8(std::string_view(bytes).substr(shown));
      ASSERT_EQ(shown_text, answer) << "round " << round;
    }
  }
}

}  // namespace
}  // namespace glmq
