// Questions on one document, as a client sends them: the document is read once, every
// answer says how many of its prompt tokens came from the cache, and /metrics counts them.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

constexpr int kQuestions = 4;
const std::string kDocument = "Annual report 2026.\n" + FillerText(12000);

json Question(int i) {
  return {{"text", kDocument},
          {"question", "Question " + std::to_string(i) + ": what changed this year?"},
          {"max_tokens", 4},
          {"temperature", 0}};
}

int64_t CachedTokens(const json& job) {
  return job["usage"]["prompt_tokens_details"].value("cached_tokens", int64_t{-1});
}

TEST(PrefixCacheTest, QuestionsOnOneDocumentReadItOnce) {
  Server server({"--parallel", "4", "--ctx-size", "32768"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const double read_before = MetricSample(server, "glmq_prompt_tokens_total");

  std::vector<std::string> ids;
  for (int i = 0; i < kQuestions; ++i) {
    ids.push_back(SubmitJob(server, Question(i)));
    ASSERT_FALSE(ids.back().empty());
  }
  int64_t prompt = 0, cached = 0, followers = 0;
  for (const std::string& id : ids) {
    const json done = WaitForTerminal(server, id, seconds(120));
    ASSERT_EQ(done.value("state", ""), "succeeded") << done;
    const int64_t tokens = done["usage"].value("prompt_tokens", int64_t{0});
    ASSERT_GT(tokens, 3000) << done;
    prompt += tokens;
    cached += CachedTokens(done);
    followers += CachedTokens(done) > tokens - 40 ? 1 : 0;
    EXPECT_LT(CachedTokens(done), tokens) << done;  // its question is its own
  }
  // One job read the document; the other three took it from the first one's KV.
  EXPECT_EQ(followers, kQuestions - 1);
  EXPECT_EQ(MetricSample(server, "glmq_prompt_tokens_reused_total"), static_cast<double>(cached));
  EXPECT_EQ(MetricSample(server, "glmq_prompt_tokens_total") - read_before,
            static_cast<double>(prompt - cached));

  // A later question finds the document still in memory.
  const std::string later = SubmitJob(server, Question(kQuestions));
  const json done = WaitForTerminal(server, later, seconds(60));
  ASSERT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_GT(CachedTokens(done), done["usage"].value("prompt_tokens", int64_t{0}) - 40) << done;
}

TEST(PrefixCacheTest, OffReadsEveryDocumentInFull) {
  Server server({"--parallel", "2", "--prefix-cache", "off"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  for (int i = 0; i < 2; ++i) {
    const std::string id = SubmitJob(server, Question(i));
    const json done = WaitForTerminal(server, id, seconds(120));
    ASSERT_EQ(done.value("state", ""), "succeeded") << done;
    EXPECT_EQ(CachedTokens(done), 0) << done;
  }
  EXPECT_EQ(MetricSample(server, "glmq_prompt_tokens_reused_total"), 0.0);
}

// With a disk tier, a document read before a restart is loaded, not read, after it.
TEST(PrefixCacheTest, ADocumentReadBeforeARestartIsLoadedAfterIt) {
  Server server({"--prefix-cache-disk", "64MiB"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const json first = WaitForTerminal(server, SubmitJob(server, Question(0)), seconds(120));
  ASSERT_EQ(first.value("state", ""), "succeeded") << first;
  EXPECT_EQ(CachedTokens(first), 0);
  ASSERT_GE(server.Kill(SIGTERM), 0);  // shutting down saves the warm document

  ASSERT_TRUE(server.Restart()) << server.start_error();
  const json later = WaitForTerminal(server, SubmitJob(server, Question(1)), seconds(120));
  ASSERT_EQ(later.value("state", ""), "succeeded") << later;
  EXPECT_GT(CachedTokens(later), later["usage"].value("prompt_tokens", int64_t{0}) - 40) << later;
  EXPECT_TRUE(std::filesystem::exists(server.data_dir() + "/prefix-cache"));
}

}  // namespace
}  // namespace glmq::integration
