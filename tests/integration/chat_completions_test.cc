// POST /v1/chat/completions as an OpenAI client uses it: one request, one answer, the job
// behind it visible in the queue's API; a job that outlasts the wait is named, not lost.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <sstream>
#include <thread>

#include "integration/harness.h"
#include "store/redis_server.h"
#include "support/json_prefix.h"

namespace glmq::integration {
namespace {

// A "stream": true response as a client reads it: its chunks, their text put together, and
// whether it ended with [DONE].
struct StreamedChat {
  std::vector<json> chunks;
  std::vector<std::string> pieces;  // each chunk's delta content, where it has one
  std::string content;
  bool done = false;
};

StreamedChat ReadChatStream(const std::string& body) {
  StreamedChat chat;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line == "data: [DONE]") {
      chat.done = true;
    } else if (line.rfind("data: ", 0) == 0) {
      chat.chunks.push_back(json::parse(line.substr(6), nullptr, false));
      const json& chunk = chat.chunks.back();
      if (!chunk.contains("choices")) continue;
      const json& delta = chunk["choices"][0]["delta"];
      if (!delta.contains("content")) continue;
      chat.pieces.push_back(delta["content"].get<std::string>());
      chat.content += chat.pieces.back();
    }
  }
  return chat;
}

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
  const StreamedChat chat = ReadChatStream(streamed.body);
  EXPECT_TRUE(chat.done) << streamed.body;
  ASSERT_GE(chat.chunks.size(), 2u) << streamed.body;
  EXPECT_EQ(chat.chunks[0].value("object", ""), "chat.completion.chunk");
  EXPECT_EQ(chat.chunks[0]["choices"][0]["delta"].value("role", ""), "assistant");
  EXPECT_EQ(chat.content, c["choices"][0]["message"].value("content", "y"));
  EXPECT_EQ(chat.chunks.back()["choices"][0].value("finish_reason", ""), "length");
  EXPECT_EQ(chat.chunks.back()["usage"].value("completion_tokens", 0), 6);
  EXPECT_EQ(
      server.Post("/v1/chat/completions", {{"messages", request["messages"]}, {"n", 2}}).status,
      400);
}

// A streamed answer goes out as the engine makes it, not in one piece at the end; the
// job's record shows the answer so far while it runs. Both are the beginning of the
// answer the job ends with.
// JSON mode (`response_format` json_object), as OpenAI's clients ask for it: the answer is a
// JSON object, or its beginning when max_tokens cut it, streamed or not; a prompt that does
// not ask for JSON is refused as OpenAI refuses it. A json_schema's answer matches the
// schema; a schema with a keyword the grammar cannot enforce is refused.
TEST(ChatCompletionsTest, JsonModeAnswersWithAJsonObject) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  json request = {{"messages", {{{"role", "user"}, {"content", "List two colours as JSON."}}}},
                  {"response_format", {{"type", "json_object"}}},
                  {"max_tokens", 32},
                  {"temperature", 0.7},
                  {"seed", 11}};
  const HttpResult r = server.Post("/v1/chat/completions", request);
  ASSERT_EQ(r.status, 200) << r.Describe();
  const std::string content = r.body_json["choices"][0]["message"].value("content", "");
  const JsonShape shape = ShapeOfJson(content);
  EXPECT_NE(shape, JsonShape::kNeither) << content;
  if (r.body_json["choices"][0].value("finish_reason", "") == "stop") {
    EXPECT_EQ(shape, JsonShape::kObject) << content;
  }
  const json job = server.Get("/v1/jobs/" + r.Header("glmq-job")).body_json;
  EXPECT_EQ(job["response_format"].value("type", ""), "json_object") << job;

  request["stream"] = true;
  const HttpResult streamed = server.Post("/v1/chat/completions", request);
  ASSERT_EQ(streamed.status, 200) << streamed.Describe();
  const StreamedChat chat = ReadChatStream(streamed.body);
  EXPECT_TRUE(chat.done);
  EXPECT_EQ(chat.content, content);  // the same seed, the same answer

  // Structured Outputs: a value matching the schema, no mention of JSON needed.
  json structured = {
      {"messages", {{{"role", "user"}, {"content", "Rate the weather."}}}},
      {"response_format",
       {{"type", "json_schema"},
        {"json_schema",
         {{"name", "rating"},
          {"strict", true},
          {"schema",
           {{"type", "object"},
            {"properties",
             {{"sunny", {{"type", "boolean"}}}, {"grade", {{"enum", {"A", "B", "C"}}}}}},
            {"required", {"sunny", "grade"}},
            {"additionalProperties", false}}}}}}},
      {"max_tokens", 400},
      {"temperature", 0}};
  const HttpResult rated = server.Post("/v1/chat/completions", structured);
  ASSERT_EQ(rated.status, 200) << rated.Describe();
  ASSERT_EQ(rated.body_json["choices"][0].value("finish_reason", ""), "stop") << rated.body;
  const json rating =
      json::parse(rated.body_json["choices"][0]["message"].value("content", ""), nullptr, false);
  EXPECT_TRUE(rating.is_object() && rating.size() == 2 && rating["sunny"].is_boolean() &&
              (rating["grade"] == "A" || rating["grade"] == "B" || rating["grade"] == "C"))
      << rated.body;
  const json rated_job = server.Get("/v1/jobs/" + rated.Header("glmq-job")).body_json;
  EXPECT_EQ(rated_job["response_format"], structured["response_format"]) << rated_job;
  structured["response_format"]["json_schema"]["schema"]["properties"]["grade"] = {
      {"type", "string"}, {"pattern", "^[A-C]$"}};
  const HttpResult unenforced = server.Post("/v1/chat/completions", structured);
  EXPECT_EQ(unenforced.status, 400) << unenforced.Describe();
  EXPECT_NE(unenforced.body_json["error"].value("message", "").find("'pattern'"), std::string::npos)
      << unenforced.Describe();

  request.erase("stream");
  request["messages"][0]["content"] = "List two colours.";
  const HttpResult refused = server.Post("/v1/chat/completions", request);
  EXPECT_EQ(refused.status, 400) << refused.Describe();
  EXPECT_NE(refused.body_json["error"].value("message", "").find("'json'"), std::string::npos)
      << refused.Describe();
}

TEST(ChatCompletionsTest, AStreamSendsTheAnswerAsItGrows) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  std::vector<json> running;  // the job as read while it ran
  std::atomic<bool> ended = false;
  std::thread reader([&] {
    while (!ended) {
      const json list = server.Get("/v1/jobs?state=running").body_json;
      if (list.contains("data") && !list["data"].empty()) running.push_back(list["data"][0]);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  const HttpResult streamed = server.Post(
      "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Go on and on."}}}},
                               {"max_tokens", 3000},
                               {"stream", true}});
  ended = true;
  reader.join();
  ASSERT_EQ(streamed.status, 200) << streamed.Describe();
  const StreamedChat chat = ReadChatStream(streamed.body);
  EXPECT_TRUE(chat.done) << streamed.body;
  // Progress is written every 500 ms; 3,000 tokens take seconds on the test model.
  EXPECT_GE(chat.pieces.size(), 3u) << streamed.body;
  for (const std::string& piece : chat.pieces) EXPECT_FALSE(piece.empty()) << streamed.body;

  ASSERT_FALSE(chat.chunks.empty());
  const std::string id = chat.chunks[0].value("id", "").substr(std::string("chatcmpl-").size());
  const json job = server.Get("/v1/jobs/" + id).body_json;
  ASSERT_EQ(job.value("state", ""), "succeeded") << job;
  EXPECT_EQ(chat.content, job.value("text", "")) << job;
  EXPECT_EQ(job["usage"].value("completion_tokens", 0), 3000) << job;

  ASSERT_FALSE(running.empty());
  size_t shown = 0;
  for (const json& r : running) {
    ASSERT_EQ(r.value("id", ""), id);
    const std::string so_far = r["progress"].value("text", "");
    EXPECT_EQ(job.value("text", "").rfind(so_far, 0), 0u) << so_far;
    shown = std::max(shown, so_far.size());
  }
  EXPECT_GT(shown, 0u);  // it was read at least once with some of its answer
}

// A streamed job whose worker is killed runs again on another worker. The text streamed so
// far stays the beginning of the answer only if the new run makes the same one (a fixed
// seed, greedy): then the stream goes on where it was; a run that answers otherwise ends
// the stream with answer_restarted, never with a second answer glued to the first.
class RestartedStreamTest : public ::testing::Test {
 protected:
  // Streams `body` through a gateway, kills the worker once some of the answer was written
  // (and, a second later, read by the stream), and lets another worker take the job.
  void StreamThroughARestart(json body) {
    ASSERT_TRUE(redis_.Start({"--appendonly", "yes", "--appendfsync", "always"}))
        << redis_.last_error();
    Server gateway("gateway", {"--redis", redis_.url()});
    auto first = std::make_unique<Server>(
        "worker", std::vector<std::string>{"--redis", redis_.url(), "--lease-ms", "2000"});
    ASSERT_TRUE(gateway.Start()) << gateway.start_error();
    ASSERT_TRUE(first->Start()) << first->start_error();
    body["stream"] = true;
    std::thread client(
        [&] { streamed_ = gateway.client().Post("/v1/chat/completions", body, seconds(120)); });
    PollUntil(
        [&] {
          const json list = gateway.Get("/v1/jobs?state=running").body_json;
          if (!list.contains("data") || list["data"].empty()) return false;
          id_ = list["data"][0].value("id", "");
          return !list["data"][0]["progress"].value("text", "").empty();
        },
        seconds(60));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    first->Kill(SIGKILL);
    Server second("worker", {"--redis", redis_.url()});
    ASSERT_TRUE(second.Start()) << second.start_error();
    client.join();
    ASSERT_EQ(streamed_.status, 200) << streamed_.Describe();
    job_ = gateway.Get("/v1/jobs/" + id_).body_json;
    ASSERT_EQ(job_.value("state", ""), "succeeded") << job_;
    ASSERT_EQ(job_.value("attempts", 0), 2) << job_;
  }

  RedisServer redis_;
  HttpResult streamed_;
  std::string id_;
  json job_;
};

TEST_F(RestartedStreamTest, TheSameAnswerGoesOnWhereItWas) {
  StreamThroughARestart({{"messages", {{{"role", "user"}, {"content", "Tell it again."}}}},
                         {"max_tokens", 2000},
                         {"temperature", 0}});
  const StreamedChat chat = ReadChatStream(streamed_.body);
  EXPECT_TRUE(chat.done) << streamed_.body;
  EXPECT_GE(chat.pieces.size(), 2u) << streamed_.body;
  EXPECT_EQ(chat.content, job_.value("text", "")) << streamed_.body;
  EXPECT_EQ(streamed_.body.find("\"error\""), std::string::npos) << streamed_.body;
}

TEST_F(RestartedStreamTest, AnotherAnswerEndsTheStreamWithAnError) {
  StreamThroughARestart({{"messages", {{{"role", "user"}, {"content", "Tell it otherwise."}}}},
                         {"max_tokens", 2000},
                         {"temperature", 1.5}});  // and no seed: each run draws its own
  const StreamedChat chat = ReadChatStream(streamed_.body);
  EXPECT_TRUE(chat.done) << streamed_.body;
  ASSERT_FALSE(chat.pieces.empty()) << streamed_.body;  // the first run's beginning went out
  EXPECT_NE(job_.value("text", "").rfind(chat.content, 0), 0u) << streamed_.body;
  ASSERT_GE(chat.chunks.size(), 2u);
  const json& last = chat.chunks.back();
  EXPECT_EQ(last["error"].value("code", ""), "answer_restarted") << streamed_.body;
  EXPECT_NE(last["error"].value("message", "").find("/v1/jobs/" + id_), std::string::npos);
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
