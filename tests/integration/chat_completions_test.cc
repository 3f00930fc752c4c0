// POST /v1/chat/completions as an OpenAI client uses it: one request, one answer, the job
// behind it visible in the queue's API; a job that outlasts the wait is named, not lost.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

TEST(ChatCompletionsTest, AnOpenAiRequestGetsAChatCompletion) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const json request = {{"model", "anything"},
                        {"messages",
                         {{{"role", "system"}, {"content", "Be brief."}},
                          {{"role", "user"}, {"content", "Name a colour."}}}},
                        {"max_tokens", 6},
                        {"temperature", 0}};
  const HttpResult r = server.Post("/v1/chat/completions", request);
  ASSERT_EQ(r.status, 200) << r.Describe();
  const json& c = r.body_json;
  EXPECT_EQ(c.value("object", ""), "chat.completion") << c;
  EXPECT_EQ(c.value("model", ""), "glmq-test-model");
  ASSERT_EQ(c["choices"].size(), 1u) << c;
  EXPECT_EQ(c["choices"][0]["message"].value("role", ""), "assistant");
  EXPECT_EQ(c["choices"][0].value("finish_reason", ""), "length");
  EXPECT_EQ(c["usage"].value("completion_tokens", 0), 6) << c;
  EXPECT_GT(c["usage"].value("prompt_tokens", 0), 0) << c;

  // The job behind it is an ordinary job, with the same answer.
  const std::string job_id = r.Header("glmq-job");
  ASSERT_FALSE(job_id.empty());
  EXPECT_EQ(c.value("id", ""), "chatcmpl-" + job_id);
  const json job = server.Get("/v1/jobs/" + job_id).body_json;
  EXPECT_EQ(job.value("state", ""), "succeeded") << job;
  EXPECT_EQ(job.value("text", ""), c["choices"][0]["message"].value("content", "x"));

  // The same request through the job API gives the same greedy answer.
  json as_job = {{"messages", request["messages"]}, {"max_tokens", 6}, {"temperature", 0}};
  const json done = WaitForTerminal(server, SubmitJob(server, as_job), seconds(60));
  EXPECT_EQ(done.value("text", ""), c["choices"][0]["message"].value("content", "x"));

  // "stream": true: the same answer as server-sent chunks, then [DONE].
  json streamed_request = request;
  streamed_request["stream"] = true;
  const HttpResult streamed = server.Post("/v1/chat/completions", streamed_request);
  ASSERT_EQ(streamed.status, 200) << streamed.Describe();
  EXPECT_EQ(streamed.Header("content-type"), "text/event-stream");
  std::vector<json> chunks;
  bool saw_done = false;
  std::istringstream lines(streamed.body);
  for (std::string line; std::getline(lines, line);) {
    if (line == "data: [DONE]") {
      saw_done = true;
    } else if (line.rfind("data: ", 0) == 0) {
      chunks.push_back(json::parse(line.substr(6)));
    }
  }
  EXPECT_TRUE(saw_done) << streamed.body;
  ASSERT_EQ(chunks.size(), 2u) << streamed.body;
  EXPECT_EQ(chunks[0].value("object", ""), "chat.completion.chunk");
  EXPECT_EQ(chunks[0]["choices"][0]["delta"].value("content", "x"),
            c["choices"][0]["message"].value("content", "y"));
  EXPECT_EQ(chunks[1]["choices"][0].value("finish_reason", ""), "length");
  EXPECT_EQ(chunks[1]["usage"].value("completion_tokens", 0), 6);
  EXPECT_EQ(
      server.Post("/v1/chat/completions", {{"messages", request["messages"]}, {"n", 2}}).status,
      400);
}

TEST(ChatCompletionsTest, AStreamOfACancelledJobEndsWithItsError) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  std::thread cancel([&] {
    // The streamed request's job, once it runs.
    PollUntil(
        [&] {
          const json list = server.Get("/v1/jobs?state=running").body_json;
          if (!list.contains("data") || list["data"].empty()) return false;
          server.Delete("/v1/jobs/" + list["data"][0].value("id", ""));
          return true;
        },
        seconds(30));
  });
  const HttpResult streamed = server.Post(
      "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Go on and on."}}}},
                               {"max_tokens", 20000},
                               {"stream", true}});
  cancel.join();
  ASSERT_EQ(streamed.status, 200) << streamed.Describe();
  EXPECT_NE(streamed.body.find(R"("code":"cancelled")"), std::string::npos) << streamed.body;
  EXPECT_NE(streamed.body.find("data: [DONE]"), std::string::npos) << streamed.body;
}

TEST(ChatCompletionsTest, AJobThatOutlastsTheWaitIsNamedAndGoesOn) {
  Server server({"--chat-wait-seconds", "0.5"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const HttpResult r =
      server.Post("/v1/chat/completions",
                  {{"messages", {{{"role", "user"}, {"content", "Write a long essay."}}}},
                   {"max_tokens", 20000}});
  ASSERT_EQ(r.status, 504) << r.Describe();
  EXPECT_EQ(r.body_json["error"].value("code", ""), "still_running") << r.body;
  const std::string location = r.Header("location");
  ASSERT_EQ(location.rfind("/v1/jobs/job_", 0), 0u) << location;
  const json job = server.Get(location).body_json;
  EXPECT_TRUE(job.value("state", "") == "running" || job.value("state", "") == "queued") << job;
  EXPECT_EQ(server.Delete(location).status, 200);
}

}  // namespace
}  // namespace glmq::integration
