#include "cli/config_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <regex>

#include "cli/commands.h"
#include "support/scratch_dir.h"

namespace glmq {
namespace {

std::string WriteFile(const std::string& name, const std::string& text) {
  static const std::string dir = ScratchDir("glmq-config-test");
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

struct Flags {
  int port = 8080;
  std::string model;
  int parallel = 1;
};

// A command like `glmq serve`: flags with GLMQ_* environment names.
void AddFlags(CLI::App& cmd, Flags& f) {
  cmd.add_option("--port", f.port)->envname("GLMQ_TEST_PORT");
  cmd.add_option("--model", f.model)->envname("GLMQ_TEST_MODEL");
  cmd.add_option("--parallel", f.parallel)->envname("GLMQ_TEST_PARALLEL");
}

TEST(ConfigFileTest, FileSetsDefaultsThatEnvironmentAndFlagsOverride) {
  CLI::App app;
  auto* serve = app.add_subcommand("serve");
  Flags f;
  AddFlags(*serve, f);
  const std::string path =
      WriteFile("ok.toml", "model = \"/m.gguf\"\nport = 9000\n[serve]\nparallel = 4\n");
  ASSERT_TRUE(ApplyConfigFile(*serve, path).ok());
  ::setenv("GLMQ_TEST_PORT", "9100", 1);
  const char* argv[] = {"glmq", "serve", "--parallel", "6"};
  app.parse(4, const_cast<char**>(argv));
  ::unsetenv("GLMQ_TEST_PORT");
  EXPECT_EQ(f.model, "/m.gguf");  // from the file
  EXPECT_EQ(f.port, 9100);        // the environment beats the file
  EXPECT_EQ(f.parallel, 6);       // the flag beats both
}

TEST(ConfigFileTest, UnknownKeysAndBadValuesAreErrorsThatNameTheKey) {
  CLI::App app;
  auto* serve = app.add_subcommand("serve");
  Flags f;
  AddFlags(*serve, f);
  Status unknown = ApplyConfigFile(*serve, WriteFile("unknown.toml", "prot = 1\n"));
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("'prot'"), std::string::npos) << unknown.message();
  Status bad = ApplyConfigFile(*serve, WriteFile("bad.toml", "port = \"eighty\"\n"));
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("'port'"), std::string::npos) << bad.message();
  Status table = ApplyConfigFile(*serve, WriteFile("table.toml", "[gatway]\nport = 1\n"));
  EXPECT_EQ(table.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(table.message().find("[gatway]"), std::string::npos) << table.message();
  // One file for a whole deployment: the other subcommands' tables and the alert rules are
  // not serve's to read, and are left alone.
  Status shared = ApplyConfigFile(
      *serve, WriteFile("shared.toml",
                        "[gateway]\nport = 1\n[worker]\nparallel = 2\n[alerts.rules.stalled]\n"
                        "enabled = false\n"));
  EXPECT_TRUE(shared.ok()) << shared.message();
  Status syntax = ApplyConfigFile(*serve, WriteFile("syntax.toml", "port = = 1\n"));
  EXPECT_EQ(syntax.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ApplyConfigFile(*serve, "/nonexistent/glmq.toml").ok());
}

TEST(ConfigFileTest, AListFillsAnOptionGivenManyTimes) {
  CLI::App app;
  auto* gateway = app.add_subcommand("gateway");
  std::vector<std::string> hosts;
  gateway->add_option("--webhook-allow-hosts", hosts)->delimiter(',');
  const std::string path =
      WriteFile("list.toml", "webhook-allow-hosts = [\"a.example\", \"*.corp.example\"]\n");
  ASSERT_TRUE(ApplyConfigFile(*gateway, path).ok());
  const char* argv[] = {"glmq", "gateway"};
  app.parse(2, const_cast<char**>(argv));
  EXPECT_EQ(hosts, (std::vector<std::string>{"a.example", "*.corp.example"}));
  Status nested = ApplyConfigFile(
      *gateway, WriteFile("nested.toml", "webhook-allow-hosts = [[\"a\"], [\"b\"]]\n"));
  EXPECT_EQ(nested.code(), StatusCode::kInvalidArgument);
}

// The example the repository ships is read by the real gateway and worker commands, with
// every flag it shows commented out put in as well (the alert channels' alternatives stay
// commented).
TEST(ConfigFileTest, TheDeployExampleIsAValidConfigForGatewayAndWorker) {
  std::ifstream in(std::string(GLMQ_SOURCE_DIR) + "/deploy/glmq.example.toml");
  ASSERT_TRUE(in.good());
  std::string text, line;
  int uncommented = 0;
  const std::regex commented_key(R"(^# ([a-z][a-z-]*) = (.*)$)");
  bool flags = true;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("# Alert rules and channels", 0) == 0) flags = false;
    if (flags && std::regex_match(line, m, commented_key)) {
      line = m[1].str() + " = " + m[2].str();
      ++uncommented;
    }
    text += line + "\n";
  }
  EXPECT_GE(uncommented, 10);
  const std::string path = WriteFile("example.toml", text);
  for (auto add : {&AddGatewayCommand, &AddWorkerCommand}) {
    CLI::App app;
    const CommandRunner run = add(app);  // holds the flags the options write to
    CLI::App* command = app.get_subcommands({}).front();
    const Status s = ApplyConfigFile(*command, path);
    EXPECT_TRUE(s.ok()) << command->get_name() << ": " << s.message();
  }
}

TEST(ConfigFileTest, FindsThePathInArgvOrEnvironment) {
  const char* with_flag[] = {"glmq", "serve", "--config", "/a.toml"};
  EXPECT_EQ(FindConfigPath(4, const_cast<char**>(with_flag)), "/a.toml");
  const char* with_equals[] = {"glmq", "serve", "--config=/b.toml"};
  EXPECT_EQ(FindConfigPath(3, const_cast<char**>(with_equals)), "/b.toml");
  const char* none[] = {"glmq", "serve"};
  ::setenv("GLMQ_CONFIG", "/c.toml", 1);
  EXPECT_EQ(FindConfigPath(2, const_cast<char**>(none)), "/c.toml");
  ::unsetenv("GLMQ_CONFIG");
  EXPECT_EQ(FindConfigPath(2, const_cast<char**>(none)), "");
}

}  // namespace
}  // namespace glmq
