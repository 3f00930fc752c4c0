#include "engine/llama_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

#include "engine/engine_test_support.h"

namespace glmq {
namespace {

std::unique_ptr<LlamaTokenizer> Vocabulary() {
  LlamaEngineOptions o;
  o.model_path = ModelPath();
  o.ctx_size = 1 << 20;
  auto t = LlamaTokenizer::Load(o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(*t) : nullptr;
}

// Text whose lines end every way a pre-tokenizer tells apart: after words, digits and
// punctuation, with spaces before the newline, blank lines, and lines that start indented.
std::string Lines(size_t bytes) {
  const char* const kEnds[] = {"\n", ".\n", "\n\n", "  \n", "!\n\n", "42\n", ":\n  ", "\r\n"};
  const char* const kWords[] = {"the", "harbour", "Zürich", "1987", "don't", "<b>", "naïve", "—"};
  std::mt19937 rng(7);
  std::string out;
  while (out.size() < bytes) {
    for (int w = 0; w < 12; ++w) {
      out += kWords[rng() % 8];
      out += ' ';
    }
    out += kEnds[rng() % 8];
  }
  return out;
}

TEST(LlamaTokenizerTest, APromptTokenizedInPiecesHasTheTokensOfTheWhole) {
  auto pieces = Vocabulary();
  auto whole = Vocabulary();
  ASSERT_NE(pieces, nullptr);
  ASSERT_NE(whole, nullptr);
  pieces->set_chunk_bytes(4096);
  whole->set_chunk_bytes(std::numeric_limits<size_t>::max());
  JobRequest request;
  request.text = Lines(300'000);  // ~70 pieces of 4 KiB
  request.question = "What happened in 1987?";
  auto in_pieces = pieces->TokenizePrompt(request);
  auto at_once = whole->TokenizePrompt(request);
  ASSERT_TRUE(in_pieces.ok()) << in_pieces.status().ToString();
  ASSERT_TRUE(at_once.ok()) << at_once.status().ToString();
  EXPECT_GT(at_once->size(), 50'000u);
  EXPECT_EQ(*in_pieces, *at_once);
  EXPECT_EQ(*pieces->CountPromptTokens(request), static_cast<int64_t>(at_once->size()));
  EXPECT_EQ(*whole->CountPromptTokens(request), static_cast<int64_t>(at_once->size()));
}

// One long line (no newline to cut after): it is cut before spaces between words.
TEST(LlamaTokenizerTest, ALongLineIsCutBetweenWordsWithTheSameTokens) {
  auto pieces = Vocabulary();
  auto whole = Vocabulary();
  ASSERT_NE(pieces, nullptr);
  ASSERT_NE(whole, nullptr);
  pieces->set_chunk_bytes(2048);
  whole->set_chunk_bytes(std::numeric_limits<size_t>::max());
  JobRequest request;
  request.text = Lines(100'000);
  for (char& c : request.text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  auto in_pieces = pieces->TokenizePrompt(request);
  auto at_once = whole->TokenizePrompt(request);
  ASSERT_TRUE(in_pieces.ok() && at_once.ok());
  EXPECT_EQ(*in_pieces, *at_once);
}

// A prompt is tokenized from its parts (the template's text, each content) without being
// copied into one string: pieces that span the end of one part and the start of the next,
// parts smaller than a piece, and parts many pieces long give the tokens of the whole.
TEST(LlamaTokenizerTest, AChatTokenizedFromItsPartsHasTheTokensOfTheWhole) {
  auto whole = Vocabulary();
  ASSERT_NE(whole, nullptr);
  whole->set_chunk_bytes(std::numeric_limits<size_t>::max());
  JobRequest request;
  request.messages = {{"system", "Answer from the documents alone."},
                      {"user", Lines(9'000)},
                      {"assistant", "  \n Which part?  "},
                      {"user", Lines(700) + "\n"},
                      {"user", Lines(40'000)},
                      {"user", "\n\n  The end.  "}};
  auto at_once = whole->TokenizePrompt(request);
  ASSERT_TRUE(at_once.ok()) << at_once.status().ToString();
  for (const size_t chunk : {512, 1000, 4096, 16384}) {
    auto pieces = Vocabulary();
    ASSERT_NE(pieces, nullptr);
    pieces->set_chunk_bytes(chunk);
    auto in_pieces = pieces->TokenizePrompt(request);
    ASSERT_TRUE(in_pieces.ok()) << in_pieces.status().ToString();
    EXPECT_EQ(*in_pieces, *at_once) << "pieces of " << chunk << " bytes";
    EXPECT_EQ(*pieces->CountPromptTokens(request), static_cast<int64_t>(at_once->size()));
  }
}

TEST(LlamaTokenizerTest, ATextWithNowhereToCutIsTokenizedWhole) {
  auto tokenizer = Vocabulary();
  ASSERT_NE(tokenizer, nullptr);
  tokenizer->set_chunk_bytes(1024);
  JobRequest request;
  request.text = std::string(20'000, 'a');
  auto tokens = tokenizer->TokenizePrompt(request);
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  EXPECT_EQ(*tokenizer->CountPromptTokens(request), static_cast<int64_t>(tokens->size()));
}

// A NUL inside a text or a message is a character like any other: the whole prompt, the
// question after it included, reaches the model. (llama.cpp's template takes C strings,
// which cut it there: the question was lost and the count said so.)
TEST(LlamaTokenizerTest, ANulCharacterDoesNotCutThePrompt) {
  auto tokenizer = Vocabulary();
  ASSERT_NE(tokenizer, nullptr);
  JobRequest cut;
  cut.text = "The harbour was quiet that morning.";
  JobRequest whole = cut;
  whole.text += std::string("\0", 1) + " Then the boats came back, one after another.";
  whole.question = "When did the boats come back?";
  const auto cut_tokens = tokenizer->TokenizePrompt(cut);
  const auto whole_tokens = tokenizer->TokenizePrompt(whole);
  ASSERT_TRUE(cut_tokens.ok() && whole_tokens.ok()) << whole_tokens.status().ToString();
  EXPECT_GT(whole_tokens->size(), cut_tokens->size() + 15);
  EXPECT_EQ(*tokenizer->CountPromptTokens(whole), static_cast<int64_t>(whole_tokens->size()));
  // The question is there, after the NUL: the prompt ends with its tokens and the
  // assistant's turn, as a prompt without the NUL does.
  JobRequest no_nul = whole;
  no_nul.text.erase(no_nul.text.find('\0'), 1);
  const auto no_nul_tokens = tokenizer->TokenizePrompt(no_nul);
  ASSERT_TRUE(no_nul_tokens.ok());
  const size_t tail = 12;
  ASSERT_GT(no_nul_tokens->size(), tail);
  EXPECT_TRUE(
      std::equal(no_nul_tokens->end() - tail, no_nul_tokens->end(), whole_tokens->end() - tail));

  JobRequest chat;
  chat.messages = {{"system", std::string("Be brief.\0Be kind.", 18)},
                   {"user", std::string("Hello\0 there, how are you today?", 33)}};
  const auto chat_tokens = tokenizer->TokenizePrompt(chat);
  ASSERT_TRUE(chat_tokens.ok()) << chat_tokens.status().ToString();
  JobRequest chat_cut;
  chat_cut.messages = {{"system", "Be brief."}, {"user", "Hello"}};
  EXPECT_GT(chat_tokens->size(), tokenizer->TokenizePrompt(chat_cut)->size() + 8);
}

}  // namespace
}  // namespace glmq
