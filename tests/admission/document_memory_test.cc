#include "admission/document_memory.h"

#include <gtest/gtest.h>

#include <string>

namespace glmq {
namespace {

JobRequest Question(std::string document, std::string question) {
  JobRequest r;
  r.text = std::move(document);
  r.question = std::move(question);
  return r;
}

JobRequest Chat(std::vector<ChatMessage> messages) {
  JobRequest r;
  r.messages = std::move(messages);
  return r;
}

TEST(DocumentMemoryTest, AQuestionsDocumentIsItsTextAndAChatsIsAllButItsLastMessage) {
  const std::string doc(4000, 'd');
  const auto a = DocumentMemory::DocumentOf("", Question(doc, "who?"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a, DocumentMemory::DocumentOf("", Question(doc, "when?")));
  EXPECT_NE(a, DocumentMemory::DocumentOf("", Question(doc + ".", "who?")));
  // Tenants do not share: the prefix cache keeps them apart.
  EXPECT_NE(a, DocumentMemory::DocumentOf("acme", Question(doc, "who?")));

  const auto chat = DocumentMemory::DocumentOf("", Chat({{"system", doc}, {"user", "who?"}}));
  ASSERT_TRUE(chat.has_value());
  EXPECT_EQ(chat, DocumentMemory::DocumentOf("", Chat({{"system", doc}, {"user", "why?"}})));
  EXPECT_NE(chat, DocumentMemory::DocumentOf("", Chat({{"user", doc}, {"user", "who?"}})));
  EXPECT_NE(chat, a);
  // Nothing before the question: no document.
  EXPECT_FALSE(DocumentMemory::DocumentOf("", Question("", "who?")).has_value());
  EXPECT_FALSE(DocumentMemory::DocumentOf("", Chat({{"user", doc}})).has_value());
}

TEST(DocumentMemoryTest, ADocumentsTokensAreItsShareOfThePrompt) {
  // 4,000 of 4,004 bytes: 1,002 of 1,004 tokens; all of them, but the last token.
  EXPECT_EQ(DocumentMemory::DocumentTokens(Question(std::string(4000, 'd'), "who?"), 1004), 1002);
  EXPECT_EQ(DocumentMemory::DocumentTokens(Question(std::string(4000, 'd'), ""), 1004), 1003);
  EXPECT_EQ(DocumentMemory::DocumentTokens(
                Chat({{"system", std::string(3000, 's')}, {"user", std::string(1000, 'u')}}), 800),
            600);
  // Too short to be reused.
  EXPECT_EQ(DocumentMemory::DocumentTokens(Question(std::string(100, 'd'), "who?"), 30), 0);
}

TEST(DocumentMemoryTest, ADocumentIsRememberedForAWhile) {
  DocumentMemory memory;
  const TimeMs t = 1'000'000;
  EXPECT_FALSE(memory.Seen(7, t).has_value());
  memory.Note(7, t, t + 5000, 10, 0.0);
  EXPECT_TRUE(memory.Seen(7, t + 1).has_value());
  EXPECT_TRUE(memory.Seen(7, t + DocumentMemory::kRememberMs).has_value());
  EXPECT_FALSE(memory.Seen(7, t + DocumentMemory::kRememberMs + 1).has_value());
  EXPECT_FALSE(memory.Seen(8, t).has_value());
}

// The first job's reading ends when it was foreseen to; the jobs that came before then wait
// for it, those after take the document at once.
TEST(DocumentMemoryTest, ItCountsTheJobsThatCameWhileTheDocumentWasRead) {
  DocumentMemory memory;
  const TimeMs t = 1'000'000;
  memory.Note(7, t, t + 5000, 40, 12.5);
  // A later job's foresight and slack do not move the first's.
  memory.Note(7, t + 100, t + 100, 16, 3.0);
  memory.Note(7, t + 200, t + 200, 64, 30.0);
  auto seen = memory.Seen(7, t + 300);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->read_at, t + 5000);
  EXPECT_EQ(seen->jobs, 3);
  EXPECT_EQ(seen->fewest_max_tokens, 16);
  EXPECT_EQ(seen->slack_seconds, 12.5);        // its questions sort with the first job
  EXPECT_EQ(seen->first_max_tokens, 40);       // and are priced with its answer when counted
  memory.Note(7, t + 6000, t + 6000, 1, 0.0);  // read by then: it takes the document at once
  EXPECT_EQ(memory.Seen(7, t + 6000)->jobs, 3);
  EXPECT_EQ(memory.Seen(7, t + 6000)->fewest_max_tokens, 16);
  // Forgotten, and then seen again: a first job again.
  const TimeMs later = t + 6000 + DocumentMemory::kRememberMs + 1;
  memory.Note(7, later, later + 800, 5, 0.0);
  EXPECT_EQ(memory.Seen(7, later)->jobs, 1);
  EXPECT_EQ(memory.Seen(7, later)->read_at, later + 800);
}

TEST(DocumentMemoryTest, ItHoldsAtMostItsLimitAndKeepsTheLatest) {
  DocumentMemory memory;
  const TimeMs t = 1'000'000;
  const auto n = static_cast<DocumentMemory::Key>(DocumentMemory::kMaxDocuments);
  for (DocumentMemory::Key k = 0; k < 3 * n; ++k) {
    memory.Note(k, t + static_cast<TimeMs>(k), t + static_cast<TimeMs>(k), 1, 0.0);
  }
  const TimeMs now = t + static_cast<TimeMs>(3 * n);
  EXPECT_TRUE(memory.Seen(3 * n - 1, now).has_value());
  EXPECT_FALSE(memory.Seen(0, now).has_value());
  size_t kept = 0;
  for (DocumentMemory::Key k = 0; k < 3 * n; ++k) kept += memory.Seen(k, now) ? 1 : 0;
  EXPECT_LE(kept, DocumentMemory::kMaxDocuments + 1);
  EXPECT_GE(kept, DocumentMemory::kMaxDocuments / 2);
}

}  // namespace
}  // namespace glmq
