// Large documents are accepted on an estimate of their size and counted right after the 202
// (--sync-count-bytes). The exact count must land, and a document that turns out never to
// fit must fail with the numbers, not run.
#include <gtest/gtest.h>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

TEST(LargeDocumentTest, EstimatedCountIsReplacedByTheExactOne) {
  Server server({"--sync-count-bytes", "1000"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  // Counted before the 202: small.
  HttpResult small_reply;
  const std::string small_id =
      SubmitJob(server, {{"text", FillerText(500)}, {"max_tokens", 4}}, &small_reply);
  ASSERT_FALSE(small_id.empty()) << small_reply.Describe();
  EXPECT_FALSE(small_reply.body_json.value("prompt_tokens_estimated", true));

  // Accepted on an estimate: large.
  HttpResult reply;
  const std::string id = SubmitJob(
      server, {{"text", FillerText(20000)}, {"question", "Why?"}, {"max_tokens", 4}}, &reply);
  ASSERT_FALSE(id.empty()) << reply.Describe();
  EXPECT_TRUE(reply.body_json.value("prompt_tokens_estimated", false)) << reply.body;
  EXPECT_GT(reply.body_json.value("prompt_tokens", 0), 0) << reply.body;

  const json done = WaitForTerminal(server, id, seconds(60));
  ASSERT_EQ(done.value("state", ""), "succeeded") << done;
  // The record carries the exact count, the one the engine read.
  EXPECT_EQ(done.value("prompt_tokens", -1), done["usage"].value("prompt_tokens", -2)) << done;
}

TEST(LargeDocumentTest, DocumentThatTurnsOutTooLongFailsWithTheNumbers) {
  // 8192 tokens of context; ~20 KB of filler is ~10k tokens, but its lower bound
  // (bytes / longest token) is far below 8192, so it is accepted and counted after.
  Server server({"--sync-count-bytes", "1000", "--ctx-size", "8192", "--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  // Keep the engine busy so the count, not the engine, finds the problem. It must be running
  // before the document arrives: queued beside it, the document (the shorter job) would be
  // taken first.
  const std::string busy = SubmitJob(server, {{"text", "Busy."}, {"max_tokens", 4000}});
  ASSERT_FALSE(busy.empty());
  ASSERT_EQ(WaitForState(server, busy, "running", seconds(30)).value("state", ""), "running");
  HttpResult reply;
  const std::string id =
      SubmitJob(server, {{"text", FillerText(20000)}, {"max_tokens", 100}}, &reply);
  ASSERT_EQ(reply.status, 202) << reply.Describe();
  const json done = WaitForTerminal(server, id, seconds(60));
  EXPECT_EQ(done.value("state", ""), "failed") << done;
  EXPECT_EQ(done["error"].value("code", ""), "prompt_too_long") << done;
  EXPECT_NE(done["error"].value("message", "").find("8192"), std::string::npos) << done;
  EXPECT_EQ(done.value("attempts", -1), 0) << done;  // it never reached the engine
}

}  // namespace
}  // namespace glmq::integration
