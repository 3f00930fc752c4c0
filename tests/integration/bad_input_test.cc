// Client mistakes: every one gets the right status and an error body, and none of them
// disturbs the server or the jobs it already holds.
#include <gtest/gtest.h>

#include <regex>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

constexpr auto kJobTimeout = seconds(60);

struct BadCase {
  const char* name;
  std::string body;
  long status;
  const char* code;
};

TEST(BadInputTest, EachMistakeGetsItsStatusAndTheServerCarriesOn) {
  Server server({"--parallel", "1", "--max-body-bytes", "1000000"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  // Accepted before the bad inputs, and long enough to still be running during them.
  const std::string kept_id =
      SubmitJob(server, {{"text", "Describe a quiet harbour."}, {"max_tokens", 2000}});
  ASSERT_FALSE(kept_id.empty());

  const std::vector<BadCase> cases = {
      {"invalid JSON", R"({"text": "hi",)", 400, "invalid_request"},
      {"not an object", R"(["text", "hi"])", 400, "invalid_request"},
      {"a bare string", R"("hi")", 400, "invalid_request"},
      {"empty body", "", 400, "invalid_request"},
      {"missing text", R"({"question": "why?"})", 400, "invalid_request"},
      {"empty text", R"({"text": ""})", 400, "invalid_request"},
      {"blank text", R"({"text": "  \n "})", 400, "invalid_request"},
      {"text and messages", R"({"text": "hi", "messages": [{"role": "user", "content": "hi"}]})",
       400, "invalid_request"},
      {"text not a string", R"({"text": 5})", 400, "invalid_request"},
      {"max_tokens a string", R"({"text": "hi", "max_tokens": "x"})", 400, "invalid_request"},
      {"max_tokens fractional", R"({"text": "hi", "max_tokens": 1.5})", 400, "invalid_request"},
      {"temperature a string", R"({"text": "hi", "temperature": "hot"})", 400, "invalid_request"},
      {"stop a number", R"({"text": "hi", "stop": 5})", 400, "invalid_request"},
      {"stop with a number", R"({"text": "hi", "stop": ["a", 5]})", 400, "invalid_request"},
      {"stop empty string", R"({"text": "hi", "stop": [""]})", 400, "invalid_request"},
      {"messages a string", R"({"messages": "hi"})", 400, "invalid_request"},
      {"messages empty", R"({"messages": []})", 400, "invalid_request"},
      {"max_tokens 0", R"({"text": "hi", "max_tokens": 0})", 400, "invalid_request"},
      {"max_tokens over the limit", R"({"text": "hi", "max_tokens": 100000000})", 400,
       "invalid_request"},
      {"temperature 5", R"({"text": "hi", "temperature": 5})", 400, "invalid_request"},
      {"top_p 0", R"({"text": "hi", "top_p": 0})", 400, "invalid_request"},
      {"priority 99", R"({"text": "hi", "priority": 99})", 400, "invalid_request"},
      {"timeout_seconds -1", R"({"text": "hi", "timeout_seconds": -1})", 400, "invalid_request"},
      {"unknown field", R"({"text": "hi", "max_token": 5})", 400, "invalid_request"},
      {"bad role", R"({"messages": [{"role": "robot", "content": "hi"}]})", 400, "invalid_request"},
      {"no user message", R"({"messages": [{"role": "system", "content": "hi"}]})", 400,
       "invalid_request"},
      {"message without content", R"({"messages": [{"role": "user"}]})", 400, "invalid_request"},
      {"question with messages",
       R"({"messages": [{"role": "user", "content": "hi"}], "question": "why?"})", 400,
       "invalid_request"},
      {"invalid UTF-8", "{\"text\": \"caf\xC3\x28\"}", 400, "invalid_request"},
      {"a key twice", R"({"text": "hi", "max_tokens": 100000, "max_tokens": 1})", 400,
       "invalid_request"},
  };
  for (const BadCase& c : cases) {
    HttpResult r = server.PostRaw("/v1/jobs", c.body);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.Describe();
    EXPECT_TRUE(IsErrorBody(r)) << c.name << ": " << r.body;
    EXPECT_EQ(r.body_json.is_object() ? r.body_json["error"].value("code", "") : "",
              std::string(c.code))
        << c.name << ": " << r.body;
  }

  // The seed API validates too.
  HttpResult seed = server.PostRaw("/api/v1/chat", R"({"question": "no text"})");
  EXPECT_EQ(seed.status, 400) << seed.Describe();
  EXPECT_TRUE(IsErrorBody(seed)) << seed.body;

  // Unknown jobs, bad query values, unknown paths and methods.
  HttpResult unknown = server.Get("/v1/jobs/job_000000000000000000000000");
  EXPECT_EQ(unknown.status, 404) << unknown.Describe();
  EXPECT_TRUE(IsErrorBody(unknown)) << unknown.body;
  HttpResult not_an_id = server.Get("/v1/jobs/nope");
  EXPECT_EQ(not_an_id.status, 404) << not_an_id.Describe();
  EXPECT_TRUE(IsErrorBody(not_an_id)) << not_an_id.body;
  for (const char* wait : {"abc", "-1", "100000"}) {
    HttpResult r = server.Get("/v1/jobs/" + kept_id + "?wait=" + wait);
    EXPECT_EQ(r.status, 400) << "wait=" << wait << ": " << r.Describe();
    EXPECT_TRUE(IsErrorBody(r)) << r.body;
  }
  HttpResult nope = server.Get("/nope");
  EXPECT_EQ(nope.status, 404) << nope.Describe();
  EXPECT_TRUE(IsErrorBody(nope)) << nope.body;
  HttpResult put = server.client().Request("PUT", "/v1/jobs", std::string("{}"), seconds(10));
  EXPECT_EQ(put.status, 405) << put.Describe();
  EXPECT_TRUE(IsErrorBody(put)) << put.body;
  EXPECT_NE(put.Header("allow").find("POST"), std::string::npos) << put.Header("allow");

  // Still alive, and the job accepted before all this completes.
  EXPECT_EQ(server.Get("/healthz").status, 200);
  const json kept = WaitForTerminal(server, kept_id, kJobTimeout);
  EXPECT_EQ(kept.value("state", ""), "succeeded") << kept;
  EXPECT_EQ(kept["usage"].value("completion_tokens", 0), 2000) << kept;

  // None of the bad requests became a job.
  HttpResult list = server.Get("/v1/jobs?limit=100");
  ASSERT_EQ(list.status, 200) << list.Describe();
  EXPECT_EQ(list.body_json["data"].size(), 1u) << list.body;
}

TEST(BadInputTest, BodyOverTheLimitIs413) {
  Server server({"--parallel", "1", "--max-body-bytes", "1000000"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string kept_id = SubmitJob(server, {{"text", "Count the stars."}, {"max_tokens", 8}});
  ASSERT_FALSE(kept_id.empty());

  // A body over --max-body-bytes.
  HttpResult big = server.Post("/v1/jobs", json{{"text", FillerText(2'000'000)}});
  EXPECT_EQ(big.status, 413) << big.Describe();
  EXPECT_TRUE(IsErrorBody(big)) << big.body;
  EXPECT_EQ(big.is_json ? big.body_json["error"].value("code", "") : "", "payload_too_large");

  // A declared length over the limit is refused from the headers alone: no body is sent.
  const std::string reply = RawExchange(server.port(),
                                        "POST /v1/jobs HTTP/1.1\r\n"
                                        "Host: 127.0.0.1\r\n"
                                        "Content-Type: application/json\r\n"
                                        "Content-Length: 100000000\r\n\r\n",
                                        seconds(10));
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << "reply: " << reply;
  const size_t body_at = reply.find("\r\n\r\n");
  EXPECT_NE(body_at, std::string::npos) << "reply: " << reply;
  if (body_at != std::string::npos) {
    HttpResult raw;
    raw.body = reply.substr(body_at + 4);
    raw.body_json = json::parse(raw.body, nullptr, false);
    raw.is_json = !raw.body_json.is_discarded();
    EXPECT_TRUE(IsErrorBody(raw)) << raw.body;
  }

  // A body just under the limit is read and judged on its content: far too many tokens.
  HttpResult under = server.Post("/v1/jobs", json{{"text", FillerText(900'000)}});
  EXPECT_EQ(under.status, 422) << under.Describe();
  EXPECT_TRUE(IsErrorBody(under)) << under.body;

  EXPECT_EQ(server.Get("/healthz").status, 200);
  EXPECT_EQ(WaitForTerminal(server, kept_id, kJobTimeout).value("state", ""), "succeeded");
}

TEST(BadInputTest, PromptThatCanNeverFitIs422) {
  Server server({"--ctx-size", "256"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  HttpResult r = server.Post("/v1/jobs", json{{"text", FillerText(2000)}, {"max_tokens", 200}});
  ASSERT_EQ(r.status, 422) << r.Describe();
  ASSERT_TRUE(IsErrorBody(r)) << r.body;
  EXPECT_EQ(r.body_json["error"].value("code", ""), "prompt_too_long");
  const std::string message = r.body_json["error"].value("message", "");

  // The message gives the numbers: the prompt's tokens, max_tokens, their sum, the context.
  HttpResult q = server.Get("/v1/queue");
  ASSERT_EQ(q.status, 200) << q.Describe();
  const int64_t ctx_size = q.body_json["engine"].value("ctx_size", int64_t{0});
  EXPECT_GE(ctx_size, 256);
  const std::regex numbers(R"(prompt_tokens \((\d+)\) \+ max_tokens \((\d+)\) = (\d+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(message, m, numbers)) << message;
  const int64_t prompt_tokens = std::stoll(m[1].str());
  // The server may stop counting once the prompt is known not to fit.
  EXPECT_GT(prompt_tokens, 0) << message;
  EXPECT_GT(prompt_tokens + 200, ctx_size) << message;
  EXPECT_EQ(std::stoll(m[2].str()), 200) << message;
  EXPECT_EQ(std::stoll(m[3].str()), prompt_tokens + 200) << message;
  EXPECT_NE(message.find(std::to_string(ctx_size)), std::string::npos) << message;

  // A small job still fits and runs.
  const std::string id = SubmitJob(server, {{"text", "Hi."}, {"max_tokens", 8}});
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(WaitForTerminal(server, id, kJobTimeout).value("state", ""), "succeeded");
}

}  // namespace
}  // namespace glmq::integration
