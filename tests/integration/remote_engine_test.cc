// `glmq worker --engine openai`: jobs queued on Redis run on a remote OpenAI-compatible
// server. The upstream here is another glmq (its POST /v1/chat/completions), serving the
// same generated model, so the answers can be compared with its own.
#include <gtest/gtest.h>

#include <thread>

#include "integration/harness.h"
#include "integration/webhook_receiver.h"
#include "store/redis_server.h"
#include "support/json_prefix.h"

namespace glmq::integration {
namespace {

TEST(RemoteEngineTest, AWorkerRunsJobsOnAnOpenAiCompatibleUpstream) {
  Server upstream({"--parallel", "2", "--ctx-size", "4096"});
  ASSERT_TRUE(upstream.Start()) << upstream.start_error();
  RedisServer redis;
  ASSERT_TRUE(redis.Start({"--appendonly", "yes", "--appendfsync", "always"}));
  Server gateway("gateway", {"--redis", redis.url()});
  Server worker("worker", {"--redis", redis.url(), "--engine", "openai", "--upstream",
                           upstream.base_url() + "/v1", "--parallel", "2", "--ctx-size", "8192",
                           "--lease-ms", "2000"});
  for (Server* p : {&gateway, &worker}) ASSERT_TRUE(p->Start()) << p->start_error() << p->LogTail();

  // A job through the queue, and the same job on the upstream directly: the same answer.
  const json job = {{"messages", {{{"role", "user"}, {"content", "Name three rivers."}}}},
                    {"max_tokens", 8},
                    {"temperature", 0}};
  const json remote = WaitForTerminal(gateway, SubmitJob(gateway, job), seconds(60));
  ASSERT_EQ(remote.value("state", ""), "succeeded") << remote << worker.LogTail();
  const json direct = WaitForTerminal(upstream, SubmitJob(upstream, job), seconds(60));
  ASSERT_EQ(direct.value("state", ""), "succeeded") << direct;
  EXPECT_EQ(remote.value("text", "x"), direct.value("text", "y"));
  EXPECT_EQ(remote["usage"].value("completion_tokens", -1), 8) << remote;
  EXPECT_EQ(remote["usage"].value("prompt_tokens", -1), direct["usage"].value("prompt_tokens", -2));
  EXPECT_EQ(remote.value("finish_reason", ""), "length");

  // JSON mode goes upstream with the job: the upstream's own answer, held to JSON.
  json json_job = job;
  json_job["messages"][0]["content"] = "Name three rivers, in JSON.";
  json_job["response_format"] = {{"type", "json_object"}};
  json_job["max_tokens"] = 24;
  const json remote_json = WaitForTerminal(gateway, SubmitJob(gateway, json_job), seconds(60));
  ASSERT_EQ(remote_json.value("state", ""), "succeeded") << remote_json << worker.LogTail();
  const json direct_json = WaitForTerminal(upstream, SubmitJob(upstream, json_job), seconds(60));
  EXPECT_EQ(remote_json.value("text", "x"), direct_json.value("text", "y"));
  EXPECT_NE(ShapeOfJson(remote_json.value("text", "")), JsonShape::kNeither) << remote_json;
  EXPECT_EQ(remote_json["response_format"].value("type", ""), "json_object") << remote_json;
  json schema_job = job;
  schema_job["response_format"] = {{"type", "json_schema"},
                                   {"json_schema",
                                    {{"name", "flag"},
                                     {"schema",
                                      {{"type", "object"},
                                       {"properties", {{"set", {{"type", "boolean"}}}}},
                                       {"required", {"set"}}}}}}};
  schema_job["max_tokens"] = 200;
  const json remote_schema = WaitForTerminal(gateway, SubmitJob(gateway, schema_job), seconds(60));
  const json direct_schema =
      WaitForTerminal(upstream, SubmitJob(upstream, schema_job), seconds(60));
  EXPECT_EQ(remote_schema.value("text", "x"), direct_schema.value("text", "y"));
  EXPECT_TRUE(json::parse(remote_schema.value("text", ""), nullptr, false)["set"].is_boolean())
      << remote_schema;

  // A cancel drops the upstream request and ends the job at once.
  const std::string long_id =
      SubmitJob(gateway, {{"text", "Write a long essay."}, {"max_tokens", 3000}});
  ASSERT_EQ(WaitForState(gateway, long_id, "running", seconds(30)).value("state", ""), "running");
  ASSERT_EQ(gateway.Delete("/v1/jobs/" + long_id).status, 200);
  EXPECT_EQ(WaitForTerminal(gateway, long_id, seconds(10)).value("state", ""), "cancelled");

  // What the upstream refuses fails the job with its reason: the worker allows 8192 tokens,
  // the upstream only 4096.
  const json refused = WaitForTerminal(
      gateway, SubmitJob(gateway, {{"text", FillerText(12000)}, {"max_tokens", 4}}), seconds(60));
  EXPECT_EQ(refused.value("state", ""), "failed") << refused;
  EXPECT_EQ(refused["error"].value("code", ""), "upstream_error") << refused;
  EXPECT_NE(refused["error"].value("message", "").find("422"), std::string::npos) << refused;
}

// An upstream that is down or overloaded loses no job: it goes back to the queue, the
// worker waits longer each time, and the job runs once the upstream answers.
TEST(RemoteEngineTest, AnUpstreamThatIsBusyOrDownHandsTheJobBack) {
  WebhookReceiver upstream;  // a plain HTTP server: 503 twice, then 200 with no choices
  upstream.FailNext(2, 503);
  RedisServer redis;
  ASSERT_TRUE(redis.Start({"--appendonly", "yes"}));
  Server gateway("gateway", {"--redis", redis.url()});
  Server worker("worker", {"--redis", redis.url(), "--engine", "openai", "--upstream",
                           "http://127.0.0.1:" + std::to_string(upstream.port()) + "/v1",
                           "--lease-ms", "2000"});
  for (Server* p : {&gateway, &worker}) ASSERT_TRUE(p->Start()) << p->start_error() << p->LogTail();
  const std::string id = SubmitJob(gateway, {{"text", "Hello?"}, {"max_tokens", 4}});
  const json ended = WaitForTerminal(gateway, id, seconds(60));
  const auto calls = upstream.received();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].path, "/v1/chat/completions");
  EXPECT_EQ(calls[0].body["messages"][0].value("content", ""), "Hello?") << calls[0].raw_body;
  // The waits between tries grew: 1 s, then 2 s.
  EXPECT_GE(calls[1].at - calls[0].at, std::chrono::milliseconds(900));
  EXPECT_GE(calls[2].at - calls[1].at, std::chrono::milliseconds(1900));
  // The third answer was a 200 that is no chat completion: that fails the job, once.
  EXPECT_EQ(ended.value("state", ""), "failed") << ended;
  EXPECT_EQ(ended["error"].value("code", ""), "upstream_error") << ended;
  EXPECT_EQ(ended.value("attempts", -1), 1) << ended;  // the handed-back runs do not count
}

TEST(RemoteEngineTest, AnUnreachableUpstreamLeavesTheJobQueued) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start({"--appendonly", "yes"}));
  Server gateway("gateway", {"--redis", redis.url()});
  Server worker("worker", {"--redis", redis.url(), "--engine", "openai", "--upstream",
                           "http://127.0.0.1:1/v1", "--lease-ms", "2000"});
  for (Server* p : {&gateway, &worker}) ASSERT_TRUE(p->Start()) << p->start_error() << p->LogTail();
  const std::string id = SubmitJob(gateway, {{"text", "Hello?"}, {"max_tokens", 4}});
  ASSERT_TRUE(PollUntil([&] { return worker.LogTail().find("handed back") != std::string::npos; },
                        seconds(30)))
      << worker.LogTail();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const json job = gateway.Get("/v1/jobs/" + id).body_json;
  EXPECT_FALSE(IsTerminalState(job.value("state", ""))) << job;
  EXPECT_LE(job.value("attempts", 99), 1) << job;
  EXPECT_EQ(gateway.Delete("/v1/jobs/" + id).status, 200);
}

}  // namespace
}  // namespace glmq::integration
