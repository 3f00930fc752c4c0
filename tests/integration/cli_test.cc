// The command-line client's job commands (submit, status, result) against a real
// `glmq serve`: what a user types is what the server is sent, and a wait means the wait.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

std::string Cli(const Server& server, const std::string& args) {
  return GlmqBin() + " " + args + " --server " + server.base_url();
}

// A wait longer than one long-poll (the server allows 300 s a request) is several of them:
// the README's own `glmq submit ... --wait 600` was answered with the server's 400.
TEST(ClientTest, WaitsLongerThanOneLongPollAllows) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();

  const auto [code, out] = RunCommand(Cli(server,
                                          "submit --text 'A short note.' -q 'Why?' "
                                          "--max-tokens 3 --wait 301"));
  ASSERT_EQ(code, 0) << out;
  const json job = json::parse(out, nullptr, false);
  ASSERT_TRUE(job.is_object()) << out;
  EXPECT_EQ(job.value("state", ""), "succeeded") << out;
  EXPECT_EQ(job["usage"].value("completion_tokens", 0), 3) << out;

  const std::string id = job.value("id", "");
  const auto [status_code, status_out] = RunCommand(Cli(server, "status " + id + " --wait 400"));
  EXPECT_EQ(status_code, 0) << status_out;
  EXPECT_EQ(json::parse(status_out, nullptr, false).value("state", ""), "succeeded") << status_out;

  const auto [result_code, text] = RunCommand(Cli(server, "result " + id + " --wait 900"));
  EXPECT_EQ(result_code, 0) << text;
  EXPECT_EQ(text, job.value("text", "") + "\n");
}

// A value the user gave is sent, and the server judges it; none is dropped in favour of
// the server's default.
TEST(ClientTest, SendsTheValuesItIsGivenForTheServerToJudge) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();

  const auto [zero_code, zero_out] =
      RunCommand(Cli(server, "submit --text 'A short note.' --max-tokens 0"));
  EXPECT_EQ(zero_code, 1) << zero_out;
  EXPECT_NE(zero_out.find("'max_tokens' must be between 1 and"), std::string::npos) << zero_out;

  const auto [cold_code, cold_out] =
      RunCommand(Cli(server, "submit --text 'A short note.' --temperature -1"));
  EXPECT_EQ(cold_code, 1) << cold_out;
  EXPECT_NE(cold_out.find("'temperature'"), std::string::npos) << cold_out;

  // --json asks for JSON mode; a question that does not ask for JSON is the server's 400.
  const auto [plain_code, plain_out] =
      RunCommand(Cli(server, "submit --text 'A short note.' -q 'Why?' --json"));
  EXPECT_EQ(plain_code, 1) << plain_out;
  EXPECT_NE(plain_out.find("'json'"), std::string::npos) << plain_out;

  const HttpResult list = server.Get("/v1/jobs");
  ASSERT_EQ(list.status, 200) << list.Describe();
  EXPECT_TRUE(list.body_json["data"].empty()) << list.body;  // none was accepted

  const auto [json_code, json_out] =
      RunCommand(Cli(server,
                     "submit --text 'A short note.' -q 'Reply in JSON.' --json --max-tokens 8 "
                     "--wait 60"));
  ASSERT_EQ(json_code, 0) << json_out;
  const json job = json::parse(json_out, nullptr, false);
  EXPECT_EQ(job["response_format"].value("type", ""), "json_object") << json_out;
  EXPECT_EQ(job.value("text", "").substr(0, 1), "{") << json_out;

  // --schema FILE: a value matching the schema, named after the file.
  const std::string schema_path = server.data_dir() + "/verdict.schema.json";
  {
    std::ofstream out(schema_path);
    out << R"({"type": "object", "properties": {"yes": {"type": "boolean"}}, "required": ["yes"]})";
  }
  const auto [schema_code, schema_out] = RunCommand(
      Cli(server, "submit --text 'A short note.' -q 'Is it short?' --temperature 0 --schema " +
                      schema_path + " --max-tokens 200 --wait 60"));
  ASSERT_EQ(schema_code, 0) << schema_out;
  const json verdict = json::parse(schema_out, nullptr, false);
  EXPECT_EQ(verdict["response_format"]["json_schema"].value("name", ""), "verdict") << schema_out;
  EXPECT_TRUE(json::parse(verdict.value("text", ""), nullptr, false)["yes"].is_boolean())
      << schema_out;
}

// `glmq result` prints a job's text and exits 0 only when it succeeded; a job that ended
// otherwise, or has not ended within --wait, is shown as it stands, and the exit code is 1.
TEST(ClientTest, ResultExitsOneForAJobWithoutAnAnswer) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string id = SubmitJob(server, {{"text", "Never mind."}, {"max_tokens", 30000}});
  ASSERT_FALSE(id.empty());

  const auto [running_code, running] = RunCommand(Cli(server, "result " + id + " --wait 1"));
  EXPECT_EQ(running_code, 1) << running;
  const std::string state = json::parse(running, nullptr, false).value("state", "");
  EXPECT_TRUE(state == "queued" || state == "running") << running;

  ASSERT_EQ(server.Delete("/v1/jobs/" + id).status, 200);
  const auto [code, out] = RunCommand(Cli(server, "result " + id));
  EXPECT_EQ(code, 1) << out;
  EXPECT_EQ(json::parse(out, nullptr, false).value("state", ""), "cancelled") << out;
}

}  // namespace
}  // namespace glmq::integration
