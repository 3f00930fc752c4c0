// The happy paths of `glmq serve`, seen by a client: submitting and finishing jobs, stop
// strings, the seed API, listing, the queue view and health.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

constexpr auto kJobTimeout = seconds(30);

const json kTextJob = {{"text", "Glaciers carve valleys slowly over thousands of years."},
                       {"question", "What carves the valleys?"},
                       {"max_tokens", 16},
                       {"temperature", 0}};

// Checks the 202 answer to POST /v1/jobs and returns its prompt_tokens.
int64_t ExpectAccepted(const HttpResult& r, const std::string& id) {
  EXPECT_EQ(r.status, 202) << r.Describe();
  EXPECT_FALSE(id.empty()) << r.Describe();
  EXPECT_EQ(r.Header("location"), "/v1/jobs/" + id);
  const json& b = r.body_json;
  EXPECT_EQ(b.value("id", ""), id);
  EXPECT_EQ(b.value("state", ""), "queued");
  EXPECT_TRUE(b.contains("prompt_tokens") && b["prompt_tokens"].is_number_integer()) << r.body;
  EXPECT_GT(b.value("prompt_tokens", int64_t{0}), 0);
  EXPECT_TRUE(b.contains("queue_position") && b["queue_position"].is_number_integer()) << r.body;
  EXPECT_GE(b.value("queue_position", int64_t{0}), 1);
  EXPECT_TRUE(b.contains("estimated_wait_seconds") && b["estimated_wait_seconds"].is_number())
      << r.body;
  EXPECT_GE(b.value("estimated_wait_seconds", -1.0), 0.0);
  return b.value("prompt_tokens", int64_t{0});
}

// Checks a job that ran to its max_tokens.
void ExpectRanToLength(const json& job, int64_t prompt_tokens, int64_t max_tokens) {
  ASSERT_TRUE(job.is_object()) << job;
  EXPECT_EQ(job.value("state", ""), "succeeded") << job;
  ASSERT_TRUE(job.contains("text") && job["text"].is_string()) << job;
  EXPECT_FALSE(job["text"].get<std::string>().empty()) << job;
  EXPECT_EQ(job.value("finish_reason", ""), "length") << job;
  ASSERT_TRUE(job.contains("usage")) << job;
  EXPECT_EQ(job["usage"].value("prompt_tokens", int64_t{-1}), prompt_tokens) << job;
  EXPECT_EQ(job["usage"].value("completion_tokens", int64_t{-1}), max_tokens) << job;
  EXPECT_EQ(job["usage"].value("total_tokens", int64_t{-1}), prompt_tokens + max_tokens) << job;
  EXPECT_EQ(job.value("attempts", 0), 1) << job;
}

TEST(SubmitTest, TextJobRunsToMaxTokens) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  HttpResult accepted;
  const std::string id = SubmitJob(server, kTextJob, &accepted);
  ASSERT_FALSE(id.empty()) << accepted.Describe();
  const int64_t prompt_tokens = ExpectAccepted(accepted, id);

  HttpResult done = server.client().Get("/v1/jobs/" + id + "?wait=30", seconds(40));
  ASSERT_EQ(done.status, 200) << done.Describe();
  ExpectRanToLength(done.body_json, prompt_tokens, 16);
  EXPECT_EQ(done.body_json.value("max_tokens", 0), 16);
  EXPECT_EQ(done.body_json["progress"].value("prompt_tokens_read", int64_t{-1}), prompt_tokens);
}

TEST(SubmitTest, MessagesJobRunsToMaxTokens) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const json body = {{"messages",
                      {{{"role", "system"}, {"content", "You answer in one short sentence."}},
                       {{"role", "user"}, {"content", "Why is the sky blue during the day?"}}}},
                     {"max_tokens", 16},
                     {"temperature", 0}};
  HttpResult accepted;
  const std::string id = SubmitJob(server, body, &accepted);
  ASSERT_FALSE(id.empty()) << accepted.Describe();
  const int64_t prompt_tokens = ExpectAccepted(accepted, id);

  HttpResult done = server.client().Get("/v1/jobs/" + id + "?wait=30", seconds(40));
  ASSERT_EQ(done.status, 200) << done.Describe();
  ExpectRanToLength(done.body_json, prompt_tokens, 16);
}

TEST(SubmitTest, GreedyIsDeterministic) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string first = SubmitJob(server, kTextJob);
  const std::string second = SubmitJob(server, kTextJob);
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  ASSERT_NE(first, second);
  const json a = WaitForTerminal(server, first, kJobTimeout);
  const json b = WaitForTerminal(server, second, kJobTimeout);
  ASSERT_EQ(a.value("state", ""), "succeeded") << a;
  ASSERT_EQ(b.value("state", ""), "succeeded") << b;
  EXPECT_FALSE(a.value("text", "").empty());
  EXPECT_EQ(a.value("text", ""), b.value("text", ""));
}

TEST(SubmitTest, StopStringEndsTheTextBeforeIt) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  json body = kTextJob;
  body["max_tokens"] = 48;
  const std::string full_id = SubmitJob(server, body);
  ASSERT_FALSE(full_id.empty());
  const json full = WaitForTerminal(server, full_id, kJobTimeout);
  ASSERT_EQ(full.value("state", ""), "succeeded") << full;
  const std::string text = full.value("text", "");
  ASSERT_EQ(full["usage"].value("completion_tokens", 0), 48) << full;

  // A short printable-ASCII piece from the middle whose first occurrence is not at the start,
  // so the cut falls on a character boundary and leaves a non-empty prefix.
  std::string stop;
  size_t cut = std::string::npos;
  for (size_t i = text.size() / 2; i + 3 <= text.size() && stop.empty(); ++i) {
    const std::string piece = text.substr(i, 3);
    const bool printable =
        std::all_of(piece.begin(), piece.end(), [](char c) { return c > ' ' && c < 0x7f; });
    const size_t first = text.find(piece);
    if (printable && first > 0) {
      stop = piece;
      cut = first;
    }
  }
  ASSERT_FALSE(stop.empty()) << "no printable ASCII piece in the middle of: " << text;

  body["stop"] = json::array({stop});
  const std::string stopped_id = SubmitJob(server, body);
  ASSERT_FALSE(stopped_id.empty());
  const json stopped = WaitForTerminal(server, stopped_id, kJobTimeout);
  ASSERT_EQ(stopped.value("state", ""), "succeeded") << stopped;
  EXPECT_EQ(stopped.value("text", ""), text.substr(0, cut)) << "stop: '" << stop << "'";
  EXPECT_EQ(stopped.value("finish_reason", ""), "stop");
  EXPECT_LT(stopped["usage"].value("completion_tokens", 1000), 48) << stopped;
  EXPECT_GT(stopped["usage"].value("completion_tokens", 0), 0) << stopped;
}

TEST(SeedApiTest, ChatTaskCompletes) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const json body = {{"text", "The river floods every spring and the farmers plant after it."},
                     {"question", "When do farmers plant?"},
                     {"max_length", 8},
                     {"temperature", 0.5}};
  HttpResult r = server.Post("/api/v1/chat", body);
  ASSERT_EQ(r.status, 200) << r.Describe();
  const json& b = r.body_json;
  ASSERT_TRUE(b.contains("task_id") && b["task_id"].is_string()) << r.body;
  const std::string task_id = b["task_id"].get<std::string>();
  EXPECT_FALSE(task_id.empty());
  EXPECT_EQ(b.value("status", ""), "pending");
  EXPECT_TRUE(b.contains("message") && b["message"].is_string()) << r.body;
  EXPECT_FALSE(b.value("message", "").empty());
  EXPECT_TRUE(b.contains("estimated_time") && b["estimated_time"].is_number()) << r.body;
  EXPECT_GE(b.value("estimated_time", -1.0), 0.0);
  EXPECT_TRUE(b.contains("queue_position") && b["queue_position"].is_number_integer()) << r.body;
  EXPECT_GE(b.value("queue_position", 0), 1);

  json task = nullptr;
  const bool completed = PollUntil(
      [&] {
        HttpResult t = server.Get("/api/v1/task/" + task_id);
        if (t.status != 200) return false;
        task = t.body_json;
        return task.value("status", "") == "completed";
      },
      kJobTimeout);
  ASSERT_TRUE(completed) << task;
  EXPECT_EQ(task.value("task_id", ""), task_id);
  ASSERT_TRUE(task.contains("result") && task["result"].is_string()) << task;
  EXPECT_FALSE(task["result"].get<std::string>().empty());
  EXPECT_EQ(task.value("completion_tokens", 0), 8) << task;

  HttpResult status = server.Get("/api/v1/queue/status");
  ASSERT_EQ(status.status, 200) << status.Describe();
  for (const char* field : {"queue_length", "processing", "completed"}) {
    ASSERT_TRUE(status.body_json.contains(field) && status.body_json[field].is_number())
        << field << " in " << status.body;
  }
  EXPECT_EQ(status.body_json["queue_length"].get<int64_t>(), 0);
  EXPECT_EQ(status.body_json["processing"].get<int64_t>(), 0);
  EXPECT_EQ(status.body_json["completed"].get<int64_t>(), 1);

  HttpResult unknown = server.Get("/api/v1/task/job_000000000000000000000000");
  EXPECT_EQ(unknown.status, 404) << unknown.Describe();
  EXPECT_TRUE(IsErrorBody(unknown)) << unknown.body;
}

TEST(ListTest, PagesNewestFirstWithoutOverlap) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  json body = kTextJob;
  body["max_tokens"] = 4;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(SubmitJob(server, body));
    ASSERT_FALSE(ids.back().empty());
  }
  for (const std::string& id : ids) {
    ASSERT_EQ(WaitForTerminal(server, id, kJobTimeout).value("state", ""), "succeeded") << id;
  }

  HttpResult first = server.Get("/v1/jobs?state=succeeded&limit=2");
  ASSERT_EQ(first.status, 200) << first.Describe();
  ASSERT_TRUE(first.body_json["data"].is_array()) << first.body;
  ASSERT_EQ(first.body_json["data"].size(), 2u) << first.body;
  EXPECT_EQ(first.body_json["data"][0].value("id", ""), ids[2]);
  EXPECT_EQ(first.body_json["data"][1].value("id", ""), ids[1]);
  EXPECT_EQ(first.body_json["data"][0].value("state", ""), "succeeded");
  EXPECT_EQ(first.body_json.value("has_more", false), true);
  ASSERT_TRUE(first.body_json["next_after"].is_string()) << first.body;
  const std::string after = first.body_json["next_after"].get<std::string>();
  EXPECT_EQ(after, ids[1]);

  HttpResult second = server.Get("/v1/jobs?state=succeeded&limit=2&after=" + after);
  ASSERT_EQ(second.status, 200) << second.Describe();
  ASSERT_EQ(second.body_json["data"].size(), 1u) << second.body;
  EXPECT_EQ(second.body_json["data"][0].value("id", ""), ids[0]);
  EXPECT_EQ(second.body_json.value("has_more", true), false);
  EXPECT_TRUE(second.body_json["next_after"].is_null()) << second.body;

  std::set<std::string> seen;
  for (const json& j : first.body_json["data"]) seen.insert(j.value("id", ""));
  for (const json& j : second.body_json["data"]) {
    EXPECT_FALSE(seen.count(j.value("id", ""))) << "overlap: " << j.value("id", "");
  }

  for (const char* bad : {"/v1/jobs?limit=0", "/v1/jobs?state=bogus", "/v1/jobs?limit=x",
                          "/v1/jobs?limit=%2B5", "/v1/jobs?limit=", "/v1/jobs?limit=99999999999"}) {
    HttpResult r = server.Get(bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.Describe();
    EXPECT_TRUE(IsErrorBody(r)) << bad << ": " << r.body;
  }
}

TEST(QueueTest, ShowsRunningJobAndQueuedCounts) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string long_id =
      SubmitJob(server, {{"text", "Tell a very long story."}, {"max_tokens", 20000}});
  ASSERT_FALSE(long_id.empty());
  const json running = WaitForJob(
      server, long_id,
      [](const json& j) {
        return j.value("state", "") == "running" && j["progress"].value("completion_tokens", 0) > 0;
      },
      kJobTimeout);
  ASSERT_EQ(running.value("state", ""), "running") << running;

  const std::string queued_id = SubmitJob(server, {{"text", "A short one."}, {"max_tokens", 4}});
  ASSERT_FALSE(queued_id.empty());

  HttpResult q = server.Get("/v1/queue");
  ASSERT_EQ(q.status, 200) << q.Describe();
  const json& b = q.body_json;
  ASSERT_TRUE(b["running"].is_array()) << q.body;
  ASSERT_EQ(b["running"].size(), 1u) << q.body;
  const json& r = b["running"][0];
  EXPECT_EQ(r.value("id", ""), long_id);
  EXPECT_EQ(r.value("max_tokens", 0), 20000);
  EXPECT_GT(r.value("completion_tokens", 0), 0) << q.body;
  EXPECT_GT(r.value("prompt_tokens", 0), 0) << q.body;
  EXPECT_EQ(r.value("prompt_tokens_read", -1), r.value("prompt_tokens", 0)) << q.body;
  EXPECT_EQ(b["classes"]["short"].value("queued", -1), 1) << q.body;
  EXPECT_EQ(b.value("queued", -1), 1) << q.body;
  EXPECT_EQ(b["totals"].value("running", -1), 1) << q.body;
  EXPECT_EQ(b["engine"].value("parallel", 0), 1) << q.body;

  // A queued job shows its wait as estimated now beside the one it was given: the long job
  // ahead has most of its 20,000 tokens left.
  HttpResult queued = server.Get("/v1/jobs/" + queued_id);
  ASSERT_EQ(queued.status, 200) << queued.Describe();
  EXPECT_EQ(queued.body_json.value("state", ""), "queued") << queued.body;
  EXPECT_EQ(queued.body_json.value("current_queue_position", 0), 1) << queued.body;
  EXPECT_GT(queued.body_json.value("current_estimated_wait_seconds", 0.0), 0.0) << queued.body;
  EXPECT_TRUE(queued.body_json.contains("estimated_wait_seconds")) << queued.body;

  // Leave quickly: the long job would otherwise run for a minute.
  EXPECT_EQ(server.Delete("/v1/jobs/" + long_id).status, 200);
  const json ended = WaitForTerminal(server, queued_id, kJobTimeout);
  EXPECT_FALSE(ended.contains("current_estimated_wait_seconds")) << ended;
}

TEST(HealthTest, HealthzAndReadyz) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  HttpResult health = server.Get("/healthz");
  EXPECT_EQ(health.status, 200) << health.Describe();
  EXPECT_EQ(health.body_json.value("status", ""), "ok");
  HttpResult ready = server.Get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.Describe();
  EXPECT_EQ(ready.body_json.value("store_writable", false), true) << ready.body;
  EXPECT_EQ(ready.body_json.value("status", ""), "ready") << ready.body;
}

// Every operation /openapi.json names is routed: none meets the router's "no such endpoint"
// or 405 (path parameters get ids that exist nowhere, bodies are empty objects).
// Run with an API key: an operation the document marks open ("security": []) answers
// without it, every other one answers 401 without it, and all are routed with it.
TEST(ApiDocTest, EveryOperationTheOpenApiDocumentNamesIsAnswered) {
  const std::string key = "doc-test-key-0123456789";
  Server server({"--api-key", key});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const HttpResult doc = server.Get("/openapi.json");
  ASSERT_EQ(doc.status, 200) << doc.Describe();
  ASSERT_TRUE(doc.is_json) << doc.body;
  int checked = 0;
  for (const auto& [path, item] : doc.body_json["paths"].items()) {
    std::string target = path;
    for (const char* param : {"{id}", "{task_id}"}) {
      if (const size_t at = target.find(param); at != std::string::npos) {
        target.replace(at, std::string(param).size(), "job_000000000000000000000000");
      }
    }
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const std::optional<std::string> body =
          upper == "POST" ? std::optional<std::string>("{}") : std::nullopt;
      const bool open = op.contains("security") && op["security"].empty();
      const HttpResult anonymous = server.client().Request(upper, target, body, seconds(10));
      if (open) {
        EXPECT_NE(anonymous.status, 401) << upper << " " << target;
      } else {
        EXPECT_EQ(anonymous.status, 401) << upper << " " << target;
      }
      const HttpResult r = server.client().Request(
          upper, target, body.value_or(""), {{"Authorization", "Bearer " + key}}, seconds(10));
      EXPECT_NE(r.status, 0) << upper << " " << target << ": " << r.error;
      EXPECT_NE(r.status, 405) << upper << " " << target;
      const bool error =
          r.is_json && r.body_json.contains("error") && r.body_json["error"].is_object();
      const std::string message = error ? r.body_json["error"].value("message", "") : "";
      EXPECT_NE(message.rfind("no such endpoint", 0), 0u) << upper << " " << target;
      ++checked;
    }
  }
  EXPECT_GE(checked, 18);
}

}  // namespace
}  // namespace glmq::integration
