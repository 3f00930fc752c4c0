// The Batch API on the real binary, as a user meets it with curl: a file with bad lines (or
// one too long for a request body) fails with their line numbers and runs nothing; requests
// the job parser or the context refuse go to the error file while the rest run; a short
// window expires what is left and keeps what finished; a batch outlives a kill -9 of the
// server, and on Redis a kill -9 of a worker and of the gateway that runs it, with every line
// answered once; tries of a batch's end that failed leave no files behind; another tenant's
// batch is unknown. Over 500 lines: the tests share one harness of servers, workers and
// files, and each reads as a user's session.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "integration/harness.h"
#include "integration/webhook_receiver.h"
#include "store/redis_server.h"

namespace glmq::integration {
namespace {

json ChatLine(const std::string& custom_id, const std::string& content, int max_tokens,
              const std::string& url = "/v1/chat/completions") {
  return {{"custom_id", custom_id},
          {"method", "POST"},
          {"url", url},
          {"body",
           {{"model", "glm"},
            {"messages", json::array({{{"role", "user"}, {"content", content}}})},
            {"max_tokens", max_tokens}}}};
}

std::string WriteLines(const std::vector<std::string>& lines) {
  const std::string path = ScratchDir("glmq-batches") + "/input.jsonl";
  std::ofstream out(path, std::ios::binary);
  for (const std::string& l : lines) out << l << "\n";
  return path;
}

// Uploads the lines and creates a batch of them (with the `extra` fields of the create
// request); returns the batch object (null on failure).
json CreateBatch(const Server& server, const std::vector<std::string>& lines,
                 const std::string& window = "24h", const std::string& key = "",
                 const json& extra = json::object()) {
  const auto [status, file] =
      UploadForm(server, key, {"purpose=batch", "file=@" + WriteLines(lines)});
  EXPECT_EQ(status, 200) << file.dump();
  if (status != 200) return nullptr;
  HttpClient client = server.client();
  if (!key.empty()) client.SetHeader("Authorization", "Bearer " + key);
  json create{{"input_file_id", file["id"]},
              {"endpoint", "/v1/chat/completions"},
              {"completion_window", window}};
  create.update(extra);
  const HttpResult r = client.Post("/v1/batches", create);
  EXPECT_EQ(r.status, 200) << r.Describe();
  return r.status == 200 ? r.body_json : json(nullptr);
}

// The batch once it has ended (read with API key `key`, if given), or as last seen.
json WaitForBatchEnd(const Server& server, const std::string& id, milliseconds timeout,
                     const std::string& key = "") {
  HttpClient client = server.client();
  if (!key.empty()) client.SetHeader("Authorization", "Bearer " + key);
  json last;
  PollUntil(
      [&] {
        const HttpResult r = client.Get("/v1/batches/" + id);
        if (r.status == 200) last = r.body_json;
        const std::string status = last.value("status", "");
        return status == "completed" || status == "failed" || status == "expired" ||
               status == "cancelled";
      },
      timeout);
  return last;
}

std::vector<json> FileLines(const Server& server, const json& file_id) {
  std::vector<json> out;
  if (!file_id.is_string()) return out;
  const HttpResult r = server.Get("/v1/files/" + file_id.get<std::string>() + "/content");
  EXPECT_EQ(r.status, 200);
  size_t start = 0;
  while (start < r.body.size()) {
    const size_t nl = r.body.find('\n', start);
    out.push_back(json::parse(r.body.substr(start, nl - start)));
    start = nl == std::string::npos ? r.body.size() : nl + 1;
  }
  return out;
}

TEST(BatchesTest, AFileWithBadLinesFailsWithTheirNumbersAndRunsNothing) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  json no_id = ChatLine("x", "hi", 4);
  no_id.erase("custom_id");
  json get = ChatLine("get", "hi", 4);
  get["method"] = "GET";
  const json batch = CreateBatch(server, {
                                             ChatLine("a", "hi", 4).dump(),                    // 1
                                             "{not json",                                      // 2
                                             no_id.dump(),                                     // 3
                                             ChatLine("a", "again", 4).dump(),                 // 4
                                             ChatLine("b", "hi", 4, "/v1/embeddings").dump(),  // 5
                                             get.dump(),                                       // 6
                                             "",                                               // 7
                                             ChatLine("c", "hi", 4).dump(),                    // 8
                                         });
  ASSERT_TRUE(batch.is_object());
  const json failed = WaitForBatchEnd(server, batch["id"], seconds(30));
  ASSERT_EQ(failed["status"], "failed") << failed.dump();
  EXPECT_TRUE(failed["failed_at"].is_number());
  const json& errors = failed["errors"]["data"];
  ASSERT_EQ(errors.size(), 5u) << failed.dump();
  const std::vector<std::pair<int, std::string>> want = {{2, "invalid_json_line"},
                                                         {3, "missing_custom_id"},
                                                         {4, "duplicate_custom_id"},
                                                         {5, "invalid_url"},
                                                         {6, "invalid_method"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(errors[i]["line"], want[i].first) << errors[i].dump();
    EXPECT_EQ(errors[i]["code"], want[i].second) << errors[i].dump();
  }
  EXPECT_EQ(failed["request_counts"]["total"], 0);
  EXPECT_EQ(server.Get("/v1/jobs").body_json["data"].size(), 0u);
}

// A line longer than a request body may be (--max-body-bytes) fails the file with its
// number, as a submit of that body would get a 413; the reader never holds it whole.
TEST(BatchesTest, ALineOverTheBodyLimitFailsTheFileWithItsNumber) {
  Server server({"--parallel", "1", "--max-body-bytes", "4096"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const json batch = CreateBatch(
      server, {ChatLine("a", "hi", 4).dump(), ChatLine("big", std::string(5000, 'w'), 4).dump(),
               ChatLine("c", "hi", 4).dump()});
  ASSERT_TRUE(batch.is_object());
  const json failed = WaitForBatchEnd(server, batch["id"], seconds(30));
  ASSERT_EQ(failed["status"], "failed") << failed.dump();
  const json& errors = failed["errors"]["data"];
  ASSERT_EQ(errors.size(), 1u) << failed.dump();
  EXPECT_EQ(errors[0]["line"], 2);
  EXPECT_EQ(errors[0]["code"], "line_too_large");
  EXPECT_NE(errors[0]["message"].get<std::string>().find("--max-body-bytes"), std::string::npos);
  EXPECT_EQ(failed["request_counts"]["total"], 0);
  EXPECT_EQ(server.Get("/v1/jobs").body_json["data"].size(), 0u);
}

TEST(BatchesTest, RefusedRequestsGoToTheErrorFileAndTheRestRun) {
  Server server({"--parallel", "2", "--ctx-size", "4096"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  json two_choices = ChatLine("two-choices", "hi", 4);
  two_choices["body"]["n"] = 2;
  json no_messages = ChatLine("no-messages", "hi", 4);
  no_messages["body"].erase("messages");
  // JSON mode in a line: answered with a JSON object where the prompt asks for JSON,
  // refused where it does not.
  json json_mode = ChatLine("json-mode", "Reply in JSON.", 6);
  json_mode["body"]["response_format"] = {{"type", "json_object"}};
  json json_unasked = ChatLine("json-unasked", "Reply.", 6);
  json_unasked["body"]["response_format"] = {{"type", "json_object"}};
  const json batch = CreateBatch(server, {
                                             ChatLine("good-1", "Say something.", 4).dump(),
                                             two_choices.dump(),
                                             no_messages.dump(),
                                             ChatLine("too-long", FillerText(200'000), 4).dump(),
                                             ChatLine("good-2", "Say more.", 4).dump(),
                                             json_mode.dump(),
                                             json_unasked.dump(),
                                         });
  ASSERT_TRUE(batch.is_object());
  const json done = WaitForBatchEnd(server, batch["id"], seconds(120));
  ASSERT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"], json({{"total", 7}, {"completed", 3}, {"failed", 4}}));
  // An estimate of its end came with its lines: after they were queued, before the window.
  ASSERT_TRUE(done["estimated_finish_at"].is_number()) << done.dump();
  EXPECT_GE(done["estimated_finish_at"].get<int64_t>(), done["in_progress_at"].get<int64_t>());
  EXPECT_LE(done["estimated_finish_at"].get<int64_t>(), done["expires_at"].get<int64_t>());
  std::set<std::string> answered, refused;
  for (const json& l : FileLines(server, done["output_file_id"])) {
    EXPECT_EQ(l["response"]["status_code"], 200);
    answered.insert(l["custom_id"]);
    if (l["custom_id"] == "json-mode") {
      const std::string content = l["response"]["body"]["choices"][0]["message"]["content"];
      EXPECT_EQ(content.substr(0, 1), "{") << l.dump();
    }
  }
  for (const json& l : FileLines(server, done["error_file_id"])) {
    EXPECT_TRUE(l["response"].is_null());
    EXPECT_FALSE(l["error"]["message"].get<std::string>().empty());
    refused.insert(l["custom_id"]);
    const std::string want = l["custom_id"] == "too-long" ? "unprocessable" : "invalid_request";
    EXPECT_EQ(l["error"]["code"], want) << l.dump();
  }
  EXPECT_EQ(answered, (std::set<std::string>{"good-1", "good-2", "json-mode"}));
  EXPECT_EQ(refused,
            (std::set<std::string>{"two-choices", "no-messages", "too-long", "json-unasked"}));
  // The metrics count each request's outcome once, and the batch in its status.
  EXPECT_EQ(MetricSample(server, R"(glmq_batch_requests_total{outcome="succeeded"})"), 3);
  EXPECT_EQ(MetricSample(server, R"(glmq_batch_requests_total{outcome="refused"})"), 4);
  EXPECT_EQ(MetricSample(server, R"(glmq_batch_requests_total{outcome="failed"})"), 0);
  EXPECT_TRUE(
      PollUntil([&] { return MetricSample(server, R"(glmq_batches{status="completed"})") == 1; },
                seconds(5)));
  EXPECT_EQ(MetricSample(server, R"(glmq_batches{status="in_progress"})"), 0);
}

// A window of ten seconds on one sequence: the short first requests finish, the long rest
// (80,000 tokens to generate, about 25 s on the test model here) do not; every line is in
// one of the files, once.
TEST(BatchesTest, AShortWindowExpiresWhatIsLeftAndKeepsWhatFinished) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  std::vector<std::string> lines;
  for (int i = 0; i < 3; ++i)
    lines.push_back(ChatLine("quick-" + std::to_string(i), "Hi.", 2).dump());
  for (int i = 0; i < 20; ++i) {
    lines.push_back(ChatLine("long-" + std::to_string(i), "Tell a long story.", 4000).dump());
  }
  const json batch = CreateBatch(server, lines, "10s");
  ASSERT_TRUE(batch.is_object());
  EXPECT_EQ(batch["expires_at"].get<int64_t>() - batch["created_at"].get<int64_t>(), 10);
  const json done = WaitForBatchEnd(server, batch["id"], seconds(90));
  ASSERT_EQ(done["status"], "expired") << done.dump();
  EXPECT_TRUE(done["expired_at"].is_number());
  const json& counts = done["request_counts"];
  EXPECT_EQ(counts["total"], 23);
  EXPECT_GE(counts["completed"].get<int>(), 3);
  EXPECT_GE(counts["failed"].get<int>(), 1);
  std::set<std::string> ids;
  for (const json& l : FileLines(server, done["output_file_id"])) {
    EXPECT_TRUE(ids.insert(l["custom_id"]).second);
  }
  for (const json& l : FileLines(server, done["error_file_id"])) {
    EXPECT_EQ(l["error"]["code"], "batch_expired") << l.dump();
    EXPECT_TRUE(ids.insert(l["custom_id"]).second);
  }
  EXPECT_EQ(ids.size(), 23u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(ids.count("quick-" + std::to_string(i)));
}

// kill -9 in the middle: the batch goes on after the restart, and its output file answers
// every line exactly once.
TEST(BatchesTest, ABatchOutlivesAKillOfTheServer) {
  Server server({"--parallel", "2"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  std::vector<std::string> lines;
  for (int i = 0; i < 24; ++i)
    lines.push_back(ChatLine("q-" + std::to_string(i), "Question " + std::to_string(i), 24).dump());
  const json batch = CreateBatch(server, lines);
  ASSERT_TRUE(batch.is_object());
  const std::string id = batch["id"];
  ASSERT_TRUE(PollUntil(
      [&] { return server.Get("/v1/batches/" + id).body_json["request_counts"]["completed"] >= 3; },
      seconds(60)));
  server.Kill(SIGKILL);
  ASSERT_TRUE(server.Restart()) << server.start_error();
  const json done = WaitForBatchEnd(server, id, seconds(180));
  ASSERT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"], json({{"total", 24}, {"completed", 24}, {"failed", 0}}));
  std::multiset<std::string> ids;
  for (const json& l : FileLines(server, done["output_file_id"])) ids.insert(l["custom_id"]);
  EXPECT_EQ(ids.size(), 24u);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(ids.count("q-" + std::to_string(i)), 1u);
}

// On Redis: two gateways and two workers. The file is uploaded to one gateway and the batch
// read from the other; mid-batch a worker with a line running is killed (its job runs
// elsewhere) and so is the gateway whose runner moves the batch on (the other takes its
// lease). Every line is answered exactly once in the output file.
TEST(BatchesTest, OnRedisABatchOutlivesAKilledWorkerAndAKilledGateway) {
  RedisServer redis;
  ASSERT_TRUE(redis.Start({"--appendonly", "yes", "--appendfsync", "always"}))
      << redis.last_error();
  const std::vector<std::string> gateway_flags = {"--redis", redis.url(), "--batch-lease-ms",
                                                  "2000"};
  Server first("gateway", gateway_flags), second("gateway", gateway_flags);
  Server w1("worker", {"--redis", redis.url(), "--parallel", "2", "--lease-ms", "2000", "--name",
                       "first-worker"});
  Server w2("worker", {"--redis", redis.url(), "--parallel", "2", "--lease-ms", "2000"});
  ASSERT_TRUE(first.Start()) << first.start_error();  // the first to take the batches lease
  for (Server* p : {&second, &w1, &w2}) ASSERT_TRUE(p->Start()) << p->start_error();

  constexpr int kLines = 24;
  std::vector<std::string> lines;
  for (int i = 0; i < kLines; ++i) {
    lines.push_back(
        ChatLine("q-" + std::to_string(i), "Question " + std::to_string(i), 300).dump());
  }
  const json batch = CreateBatch(first, lines);
  ASSERT_TRUE(batch.is_object());
  const std::string id = batch["id"];
  // Served by the other gateway too.
  ASSERT_EQ(second.Get("/v1/files/" + batch["input_file_id"].get<std::string>()).status, 200);
  ASSERT_TRUE(PollUntil(
      [&] {
        const json b = second.Get("/v1/batches/" + id).body_json;
        if (b.value("status", "") != "in_progress" ||
            b["request_counts"].value("completed", 0) < 2) {
          return false;
        }
        const json running = second.Get("/v1/jobs?state=running&limit=100").body_json;
        for (const json& job : running.value("data", json::array())) {
          if (job.value("worker", "") == "first-worker") return true;
        }
        return false;
      },
      seconds(120)))
      << second.Get("/v1/batches/" + id).body;
  w1.Kill(SIGKILL);
  first.Kill(SIGKILL);

  const json done = WaitForBatchEnd(second, id, seconds(240));
  ASSERT_EQ(done["status"], "completed") << done.dump() << second.LogTail();
  EXPECT_EQ(done["request_counts"],
            json({{"total", kLines}, {"completed", kLines}, {"failed", 0}}));
  std::multiset<std::string> ids;
  int retried = 0;
  for (const json& l : FileLines(second, done["output_file_id"])) {
    ids.insert(l["custom_id"].get<std::string>());
    const std::string job = l["response"].value("request_id", "");
    retried += second.Get("/v1/jobs/" + job).body_json.value("attempts", 0) > 1;
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) EXPECT_EQ(ids.count("q-" + std::to_string(i)), 1u) << i;
  EXPECT_GE(retried, 1);  // the killed worker's line ran again elsewhere
  EXPECT_TRUE(done["error_file_id"].is_null()) << done.dump();
}

// --batch-max-queued-tokens: a batch that would take its tenant past the limit fails with
// token_limit_exceeded before a line runs; one within it runs.
TEST(BatchesTest, ABatchPastTheTenantsQueuedTokenLimitFailsAndRunsNothing) {
  Server server({"--parallel", "2", "--batch-max-queued-tokens", "400"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  std::vector<std::string> big;
  for (int i = 0; i < 20; ++i) big.push_back(ChatLine("b" + std::to_string(i), "Hi?", 16).dump());
  const json refused = CreateBatch(server, big);
  ASSERT_TRUE(refused.is_object());
  const json failed = WaitForBatchEnd(server, refused["id"], seconds(60));
  ASSERT_EQ(failed["status"], "failed") << failed.dump();
  ASSERT_EQ(failed["errors"]["data"].size(), 1u) << failed.dump();
  EXPECT_EQ(failed["errors"]["data"][0]["code"], "token_limit_exceeded");
  EXPECT_NE(failed["errors"]["data"][0]["message"].get<std::string>().find("400"),
            std::string::npos);
  EXPECT_EQ(failed["request_counts"]["total"], 0);
  EXPECT_EQ(server.Get("/v1/queue").body_json["totals"].value("queued", 0) +
                server.Get("/v1/queue").body_json["totals"].value("succeeded", 0),
            0);

  const json small = CreateBatch(server, {ChatLine("s1", "Hi?", 4).dump()});
  ASSERT_TRUE(small.is_object());
  EXPECT_EQ(WaitForBatchEnd(server, small["id"], seconds(60))["status"], "completed");
}

// A keys file's batch_max_queued_tokens= is one tenant's limit: its batch over it fails,
// while the same batch of a tenant without one (and no --batch-max-queued-tokens) runs.
TEST(BatchesTest, ATenantsOwnBatchTokenLimitHoldsForItAlone) {
  constexpr char kSmall[] = "glmq_batches_key_small_0123456789";
  constexpr char kOther[] = "glmq_batches_key_other_0123456789";
  const std::string keys = ScratchDir("glmq-batches") + "/keys";
  std::ofstream(keys) << "small submit " << kSmall << "\nother submit " << kOther
                      << "\ntenant small batch_max_queued_tokens=400\n";
  Server server({"--parallel", "2", "--api-keys-file", keys});
  ASSERT_TRUE(server.Start()) << server.start_error();
  std::vector<std::string> big;
  for (int i = 0; i < 20; ++i) big.push_back(ChatLine("b" + std::to_string(i), "Hi?", 16).dump());

  const json refused = CreateBatch(server, big, "24h", kSmall);
  ASSERT_TRUE(refused.is_object());
  const json failed = WaitForBatchEnd(server, refused["id"], seconds(60), kSmall);
  ASSERT_EQ(failed["status"], "failed") << failed.dump();
  EXPECT_EQ(failed["errors"]["data"][0]["code"], "token_limit_exceeded") << failed.dump();
  EXPECT_NE(failed["errors"]["data"][0]["message"].get<std::string>().find("400"),
            std::string::npos);

  const json ran = CreateBatch(server, big, "24h", kOther);
  ASSERT_TRUE(ran.is_object());
  const json done = WaitForBatchEnd(server, ran["id"], seconds(120), kOther);
  EXPECT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"]["completed"], 20);
}

// A batch's end is announced once at its webhook_url, signed as a job's; a refused try is
// tried again, and the delivery names the batch.
TEST(BatchesTest, ABatchsEndIsPostedToItsWebhookOnce) {
  WebhookReceiver receiver;
  receiver.FailNext(1, 503);
  Server server({"--parallel", "2", "--webhook-allow-private", "--webhook-secret", "s3cret"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const json created =
      CreateBatch(server, {ChatLine("a", "One?", 4).dump(), ChatLine("b", "Two?", 4).dump()}, "24h",
                  "", {{"webhook_url", receiver.url()}});
  ASSERT_TRUE(created.is_object());
  EXPECT_EQ(created["webhook_url"], receiver.url());
  const std::string id = created["id"];
  const json done = WaitForBatchEnd(server, id, seconds(120));
  ASSERT_EQ(done["status"], "completed") << done.dump();
  const auto got = receiver.WaitFor(2, seconds(30));  // the refused try, then the delivery
  ASSERT_EQ(got.size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // time for a wrong repeat
  ASSERT_EQ(receiver.received().size(), 2u);
  for (const auto& r : got) {
    EXPECT_EQ(r.body.value("event", ""), "batch.completed") << r.raw_body;
    EXPECT_EQ(r.body["batch"].value("id", ""), id);
    EXPECT_EQ(r.headers.at("glmq-delivery"), id);
    EXPECT_EQ(r.headers.at("glmq-event"), "batch.completed");
    EXPECT_NE(r.headers.count("glmq-signature"), 0u);
  }
  EXPECT_EQ(got[0].answered, 503);
  EXPECT_EQ(got[1].answered, 200);
  EXPECT_EQ(got[1].body["batch"]["request_counts"],
            json({{"total", 2}, {"completed", 2}, {"failed", 0}}));
  EXPECT_TRUE(got[1].body["batch"]["output_file_id"].is_string());
}

// The batch's end cannot be recorded for a while (its webhook's delivery goes to the job
// store first, and the store refuses writes): each try of the end writes the output file
// again, and the tenant must still see one output file, the one the batch names.
TEST(BatchesTest, TriesOfABatchsEndThatFailedLeaveNoFilesBehind) {
  WebhookReceiver receiver;
  const std::string fault_file = ScratchDir("glmq-batches-fault") + "/refuse-writes";
  const ScopedEnv fault("GLMQ_FAULT_STORE_FILE", fault_file);
  Server server({"--parallel", "2", "--webhook-allow-private"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const json created =
      CreateBatch(server, {ChatLine("a", "One?", 4).dump(), ChatLine("b", "Two?", 4).dump()}, "24h",
                  "", {{"webhook_url", receiver.url()}});
  ASSERT_TRUE(created.is_object());
  const std::string id = created["id"];
  // Both lines answered: the store refuses writes from here, so the end's tries fail.
  PollUntil(
      [&] {
        const HttpResult r = server.Get("/v1/batches/" + id);
        return r.status == 200 && r.body_json["request_counts"].value("completed", 0) == 2;
      },
      seconds(120));
  { std::ofstream(fault_file) << "on"; }
  PollUntil(
      [&] {
        const HttpResult r = server.Get("/v1/files?purpose=batch_output");
        return r.status == 200 && !r.body_json["data"].empty();  // the first try's file
      },
      seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));  // a few more tries
  EXPECT_EQ(server.Get("/v1/batches/" + id).body_json.value("status", ""), "finalizing");
  std::filesystem::remove(fault_file);
  const json done = WaitForBatchEnd(server, id, seconds(60));
  ASSERT_EQ(done["status"], "completed") << done.dump();

  const HttpResult listed = server.Get("/v1/files?purpose=batch_output");
  ASSERT_EQ(listed.status, 200) << listed.Describe();
  ASSERT_EQ(listed.body_json["data"].size(), 1u) << listed.body;
  EXPECT_EQ(listed.body_json["data"][0]["id"], done["output_file_id"]);
  std::set<std::string> answered;
  for (const json& line : FileLines(server, done["output_file_id"])) {
    answered.insert(line.value("custom_id", ""));
  }
  EXPECT_EQ(answered, (std::set<std::string>{"a", "b"}));
}

// `glmq batch submit --wait`: uploads, follows (a plain line per change when not on a
// terminal) and saves both files; `glmq batch status` and `results` read it again.
TEST(BatchesTest, TheCommandLineSubmitsFollowsAndSavesABatch) {
  Server server({"--parallel", "2"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  json refused = ChatLine("refused", "hi", 4);
  refused["body"]["n"] = 3;
  std::vector<std::string> lines = {refused.dump()};
  for (int i = 0; i < 8; ++i) lines.push_back(ChatLine("q-" + std::to_string(i), "Hi.", 6).dump());
  const std::string dir = ScratchDir("glmq-batch-cli");
  const std::string input = WriteLines(lines);
  const std::string cli = GlmqBin() + " batch ";
  const std::string at = " --server " + server.base_url();
  const auto [code, out] = RunCommand(cli + "submit " + input + at + " --wait --out " + dir +
                                      "/out.jsonl --errors " + dir + "/errors.jsonl");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("completed: 8/9 answered, 1 failed"), std::string::npos) << out;
  auto read = [](const std::string& path) {
    std::vector<json> got;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) got.push_back(json::parse(line));
    return got;
  };
  const std::vector<json> answers = read(dir + "/out.jsonl");
  const std::vector<json> errors = read(dir + "/errors.jsonl");
  EXPECT_EQ(answers.size(), 8u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["custom_id"], "refused");

  const std::string id = server.Get("/v1/batches").body_json["data"][0]["id"];
  const auto [status_code, status_out] = RunCommand(cli + "status " + id + at);
  EXPECT_EQ(status_code, 0) << status_out;
  EXPECT_EQ(json::parse(status_out, nullptr, false)["status"], "completed") << status_out;
  // The output file on standard output; a line on standard error names the error file.
  const auto [results_code, results_out] = RunCommand(cli + "results " + id + at);
  EXPECT_EQ(results_code, 0);
  int answered = 0;
  std::istringstream lines_out(results_out);
  for (std::string line; std::getline(lines_out, line);) {
    answered += json::parse(line, nullptr, false).contains("custom_id") ? 1 : 0;
  }
  EXPECT_EQ(answered, 8) << results_out;
  EXPECT_NE(results_out.find("--errors FILE saves them"), std::string::npos) << results_out;
  const auto [missing_code, missing_out] = RunCommand(cli + "status batch_nothere" + at);
  EXPECT_EQ(missing_code, 1) << missing_out;
}

TEST(BatchesTest, AnotherTenantsBatchIsNotFound) {
  constexpr char kA[] = "glmq_batches_key_team_a_01234567";
  constexpr char kB[] = "glmq_batches_key_team_b_01234567";
  const std::string keys = ScratchDir("glmq-batches") + "/keys";
  std::ofstream(keys) << "team-a submit " << kA << "\nteam-b submit " << kB << "\n";
  Server server({"--parallel", "1", "--api-keys-file", keys});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const json batch = CreateBatch(server, {ChatLine("a", "hi", 2).dump()}, "24h", kA);
  ASSERT_TRUE(batch.is_object());
  const std::string id = batch["id"];
  HttpClient a = server.client(), b = server.client();
  a.SetHeader("Authorization", std::string("Bearer ") + kA);
  b.SetHeader("Authorization", std::string("Bearer ") + kB);
  EXPECT_EQ(a.Get("/v1/batches/" + id).status, 200);
  EXPECT_EQ(b.Get("/v1/batches/" + id).status, 404);
  EXPECT_EQ(b.Post("/v1/batches/" + id + "/cancel", std::string()).status, 404);
  EXPECT_EQ(b.Get("/v1/batches").body_json["data"].size(), 0u);
  EXPECT_EQ(a.Get("/v1/batches").body_json["data"].size(), 1u);
  // Nor can a batch be made of another tenant's file.
  const HttpResult theirs = b.Post("/v1/batches", json{{"input_file_id", batch["input_file_id"]},
                                                       {"endpoint", "/v1/chat/completions"},
                                                       {"completion_window", "24h"}});
  EXPECT_EQ(theirs.status, 400) << theirs.Describe();
  EXPECT_TRUE(IsErrorBody(theirs));
}

TEST(BatchesTest, ABadCreateRequestIsA400ThatSaysWhy) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string path = WriteLines({ChatLine("a", "hi", 2).dump()});
  const auto [status, file] = UploadForm(server, "", {"purpose=batch", "file=@" + path});
  ASSERT_EQ(status, 200);
  const json good = {{"input_file_id", file["id"]},
                     {"endpoint", "/v1/chat/completions"},
                     {"completion_window", "24h"}};
  struct Case {
    json body;
    std::string says;
  };
  std::vector<Case> cases;
  for (const char* field : {"input_file_id", "endpoint", "completion_window"}) {
    json b = good;
    b.erase(field);
    cases.push_back({b, field});
  }
  json b = good;
  b["endpoint"] = "/v1/embeddings";
  cases.push_back({b, "endpoint"});
  b = good;
  b["completion_window"] = "1y";
  cases.push_back({b, "completion_window"});
  b = good;
  b["input_file_id"] = "file-000000000000000000000000";
  cases.push_back({b, "names no file"});
  b = good;
  b["metadata"] = json::object();
  for (int i = 0; i < 17; ++i) b["metadata"]["k" + std::to_string(i)] = "v";
  cases.push_back({b, "16 pairs"});
  b = good;
  b["priority"] = 1;
  cases.push_back({b, "unknown field 'priority'"});
  b = good;
  b["webhook_url"] = "ftp://example.com/x";
  cases.push_back({b, "'webhook_url' must be an http:// or https:// URL"});
  b = good;
  b["webhook_url"] = "http://127.0.0.1:9/hook";  // private, without --webhook-allow-private
  cases.push_back({b, "not a public address"});
  for (const Case& c : cases) {
    const HttpResult r = server.Post("/v1/batches", c.body);
    EXPECT_EQ(r.status, 400) << c.body.dump();
    ASSERT_TRUE(IsErrorBody(r)) << r.Describe();
    EXPECT_NE(r.body_json["error"]["message"].get<std::string>().find(c.says), std::string::npos)
        << r.Describe();
  }
  EXPECT_EQ(server.Get("/v1/batches/batch_000000000000000000000000").status, 404);
  EXPECT_EQ(server.Get("/v1/batches").body_json["data"].size(), 0u);
}

}  // namespace
}  // namespace glmq::integration
