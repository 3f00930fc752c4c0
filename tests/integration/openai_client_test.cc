// The test of compatibility: OpenAI's official Node.js client (the `openai` npm package,
// pinned, installed into the cache by scripts/install-openai-node.sh) drives the Batch API of
// a real `glmq serve`, and two gateways with two workers on Redis, unchanged (and reads a
// streamed chat completion as it grows):
// tests/integration/openai_client/batch.cjs.
#include <gtest/gtest.h>

#include <string>

#include "integration/harness.h"
#include "store/redis_server.h"

namespace glmq::integration {
namespace {

// The last line of what a command printed.
std::string LastLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// Runs batch.cjs against `base_url` with the pinned client (installed on first use).
void RunClientScript(const std::string& base_url) {
  const std::string source = GLMQ_SOURCE_DIR;
  const auto [install_code, install_out] = RunCommand(source + "/scripts/install-openai-node.sh");
  ASSERT_EQ(install_code, 0) << install_out;
  const std::string prefix = LastLine(install_out);
  ASSERT_FALSE(prefix.empty());
  const auto [code, out] =
      RunCommand("NODE_PATH=" + prefix + "/node_modules node " + source +
                 "/tests/integration/openai_client/batch.cjs " + base_url + " 2>&1");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("openai-node: every check passed"), std::string::npos) << out;
}

TEST(OpenAiClientTest, TheOfficialNodeClientRunsAndCancelsBatches) {
  Server server({"--parallel", "2"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  RunClientScript(server.base_url());
}

// The same script against a gateway of two on Redis, whose batches run on two workers.
TEST(OpenAiClientTest, TheOfficialNodeClientRunsBatchesOnGatewaysAndWorkers) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start({"--appendonly", "yes", "--appendfsync", "always"}))
      << redis.last_error();
  Server first("gateway", {"--redis", redis.url()}), second("gateway", {"--redis", redis.url()});
  Server w1("worker", {"--redis", redis.url(), "--parallel", "2"});
  Server w2("worker", {"--redis", redis.url(), "--parallel", "2"});
  for (Server* p : {&first, &second, &w1, &w2}) ASSERT_TRUE(p->Start()) << p->start_error();
  RunClientScript(second.base_url());
}

}  // namespace
}  // namespace glmq::integration
