// The test of compatibility: OpenAI's official Node.js client (the `openai` npm package,
// pinned, installed into the cache by scripts/install-openai-node.sh) drives the Batch API of
// a real `glmq serve`, unchanged: tests/integration/openai_client/batch.cjs.
#include <gtest/gtest.h>

#include <string>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

// The last line of what a command printed.
std::string LastLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

TEST(OpenAiClientTest, TheOfficialNodeClientRunsAndCancelsBatches) {
  const std::string source = GLMQ_SOURCE_DIR;
  const auto [install_code, install_out] = RunCommand(source + "/scripts/install-openai-node.sh");
  ASSERT_EQ(install_code, 0) << install_out;
  const std::string prefix = LastLine(install_out);
  ASSERT_FALSE(prefix.empty());

  Server server({"--parallel", "2"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const auto [code, out] =
      RunCommand("NODE_PATH=" + prefix + "/node_modules node " + source +
                 "/tests/integration/openai_client/batch.cjs " + server.base_url() + " 2>&1");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("openai-node: every check passed"), std::string::npos) << out;
}

}  // namespace
}  // namespace glmq::integration
