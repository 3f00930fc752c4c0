// Distributed mode end to end: real redis-server processes, real `glmq gateway` and
// `glmq worker` binaries, the generated model. What a client sees when processes and Redis
// die under it, and what gateways share. About 520 lines: one test a promise of the
// deployment, all on the same few helpers (Gateway, Worker, DurableRedis).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "integration/harness.h"
#include "integration/webhook_receiver.h"
#include "store/redis_server.h"

namespace glmq::integration {
namespace {

using Process = std::unique_ptr<Server>;

Process Gateway(const RedisServer& redis, std::vector<std::string> flags = {}) {
  flags.insert(flags.begin(), {"--redis", redis.url()});
  return std::make_unique<Server>("gateway", flags);
}

Process Worker(const RedisServer& redis, std::vector<std::string> flags = {}) {
  flags.insert(flags.begin(), {"--redis", redis.url(), "--parallel", "4", "--lease-ms", "2000"});
  return std::make_unique<Server>("worker", flags);
}

std::unique_ptr<RedisServer> DurableRedis() {
  auto redis = std::make_unique<RedisServer>();
  EXPECT_TRUE(redis->Start({"--appendonly", "yes", "--appendfsync", "always"}));
  return redis;
}

json Job(const Server& gateway, const std::string& id) {
  return gateway.Get("/v1/jobs/" + id).body_json;
}

TEST(DistributedTest, TwoGatewaysTwoWorkersRunEveryJobExactlyOnce) {
  auto redis = DurableRedis();
  auto a = Gateway(*redis), b = Gateway(*redis);
  auto w1 = Worker(*redis), w2 = Worker(*redis);
  for (Server* p : {a.get(), b.get(), w1.get(), w2.get()}) {
    ASSERT_TRUE(p->Start()) << p->start_error() << p->LogTail();
  }
  constexpr int kJobs = 200;
  std::vector<std::string> ids(kJobs);
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t) {
    senders.emplace_back([&, t] {
      for (int i = t; i < kJobs; i += 8) {
        const Server& gw = i % 2 == 0 ? *a : *b;
        ids[i] = SubmitJob(gw, {{"text", "Job number " + std::to_string(i)}, {"max_tokens", 3}});
      }
    });
  }
  for (auto& s : senders) s.join();
  std::set<std::string> distinct(ids.begin(), ids.end());
  ASSERT_EQ(distinct.size(), static_cast<size_t>(kJobs));
  ASSERT_EQ(distinct.count(""), 0u);
  // Long-poll each through the other gateway: the finish on any worker wakes any gateway.
  for (int i = 0; i < kJobs; ++i) {
    const Server& other = i % 2 == 0 ? *b : *a;
    const json done = WaitForTerminal(other, ids[i], seconds(120));
    ASSERT_EQ(done.value("state", ""), "succeeded") << done;
    EXPECT_EQ(done.value("attempts", 0), 1) << done;  // run once, never redelivered
    EXPECT_EQ(done["usage"].value("completion_tokens", 0), 3) << done;
  }
  const json queue = a->Get("/v1/queue").body_json;
  EXPECT_EQ(queue["totals"].value("succeeded", 0), kJobs) << queue;
  EXPECT_EQ(queue.value("queued", -1), 0);
  // Summed over the processes, as a Prometheus query would, each job counts once: a submit
  // where it was accepted, an end where it was made.
  double submitted = 0, succeeded = 0;
  for (const Server* p : {a.get(), b.get(), w1.get(), w2.get()}) {
    submitted += MetricSample(*p, R"(glmq_jobs_submitted_total{class="short"})");
    succeeded += MetricSample(*p, R"(glmq_jobs_finished_total{state="succeeded",class="short"})");
  }
  EXPECT_EQ(submitted, kJobs);
  EXPECT_EQ(succeeded, kJobs);

  // A gateway runs no engine: its estimates add up the speeds both workers report with
  // their heartbeats (every 2 s), which it reads every second.
  json status;
  EXPECT_TRUE(PollUntil(
      [&] {
        status = b->Get("/api/v1/queue/status").body_json;
        return status.value("workers", 0) == 2;
      },
      seconds(10)))
      << status;
  const json throughput = b->Get("/v1/queue").body_json["throughput"];
  EXPECT_GT(throughput.value("prefill_tokens_per_second", 0.0), 0) << throughput;
  EXPECT_GT(throughput.value("decode_tokens_per_second", 0.0), 0) << throughput;
}

// Behind a load balancer a document's questions reach different gateways. Each tells the
// others what it accepted (Redis pub/sub), so the second question, on the other gateway, is
// priced as the engine will run it: its document read once, by the first.
TEST(DistributedTest, AGatewayCountsADocumentAnotherGatewayAcceptedOnce) {
  auto redis = DurableRedis();
  auto a = Gateway(*redis), b = Gateway(*redis);  // no workers: the jobs stay queued
  ASSERT_TRUE(a->Start()) << a->start_error() << a->LogTail();
  ASSERT_TRUE(b->Start()) << b->start_error() << b->LogTail();
  std::string document;
  for (int i = 0; i < 400; ++i)
    document += "The river report names village " + std::to_string(i) + ". ";
  HttpResult first;
  SubmitJob(*a, {{"text", document}, {"question", "What is it about?"}, {"max_tokens", 8}}, &first);
  ASSERT_EQ(first.status, 202) << first.body;
  const int64_t prompt_tokens = first.body_json.value("prompt_tokens", int64_t{0});
  ASSERT_GT(prompt_tokens, 1000);
  const std::string received = R"(glmq_gateway_notes_total{direction="received"})";
  ASSERT_TRUE(PollUntil([&] { return MetricSample(*b, received) >= 1; }, seconds(10)))
      << b->LogTail();
  HttpResult second;
  SubmitJob(*b, {{"text", document}, {"question", "Which villages?"}, {"max_tokens", 8}}, &second);
  ASSERT_EQ(second.status, 202) << second.body;
  const json queue = b->Get("/v1/queue").body_json;
  EXPECT_EQ(queue.value("queued", 0), 2) << queue;
  // The document once and two questions, not two readings of it.
  const int64_t queued_tokens = queue.value("queued_prompt_tokens", int64_t{0});
  EXPECT_GE(queued_tokens, prompt_tokens) << queue;
  EXPECT_LT(queued_tokens, prompt_tokens + 64) << queue;
  EXPECT_EQ(MetricSample(*a, R"(glmq_gateway_notes_total{direction="sent"})"), 1);
  EXPECT_EQ(MetricSample(*a, R"(glmq_gateway_notes_total{direction="dropped"})"), 0);
}

TEST(DistributedTest, AnEventStreamOnAnyGatewayFollowsAJobToItsEnd) {
  auto redis = DurableRedis();
  auto a = Gateway(*redis), b = Gateway(*redis);
  auto w = Worker(*redis);
  for (Server* p : {a.get(), b.get(), w.get()}) {
    ASSERT_TRUE(p->Start()) << p->start_error() << p->LogTail();
  }
  const std::string id = SubmitJob(*a, {{"text", "Streamed."}, {"max_tokens", 2000}});
  ASSERT_FALSE(id.empty());
  // Through the other gateway: its state changes arrive by the store's events.
  const HttpResult stream = b->client().Get("/v1/jobs/" + id + "/events", seconds(120));
  ASSERT_EQ(stream.status, 200) << stream.Describe();
  const size_t done = stream.body.rfind("event: done\ndata: ");
  ASSERT_NE(done, std::string::npos) << stream.body;
  const size_t data_at = done + std::string("event: done\ndata: ").size();
  const json job =
      json::parse(stream.body.substr(data_at, stream.body.find('\n', data_at) - data_at));
  EXPECT_EQ(job.value("id", ""), id);
  EXPECT_EQ(job.value("state", ""), "succeeded") << job;
  EXPECT_EQ(job["usage"].value("completion_tokens", 0), 2000) << job;
  EXPECT_EQ(stream.body.find("event: state\n"), stream.body.find("event: ")) << stream.body;
}

TEST(DistributedTest, AJobsWebhookIsSentOnceAmongManyGateways) {
  WebhookReceiver receiver;  // on 127.0.0.1
  auto redis = DurableRedis();
  auto a = Gateway(*redis, {"--webhook-allow-private"}),
       b = Gateway(*redis, {"--webhook-allow-private"});
  auto w = Worker(*redis);
  for (Server* p : {a.get(), b.get(), w.get()}) {
    ASSERT_TRUE(p->Start()) << p->start_error() << p->LogTail();
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    const Server& gw = i % 2 == 0 ? *a : *b;
    ids.push_back(SubmitJob(gw, {{"text", "Hooked " + std::to_string(i)},
                                 {"max_tokens", 3},
                                 {"webhook_url", receiver.url()}}));
    ASSERT_FALSE(ids.back().empty());
  }
  const auto got = receiver.WaitFor(ids.size(), seconds(60));
  ASSERT_EQ(got.size(), ids.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // time for a second send
  std::multiset<std::string> delivered;
  for (const auto& r : receiver.received()) delivered.insert(r.body["job"].value("id", ""));
  for (const std::string& id : ids) EXPECT_EQ(delivered.count(id), 1u) << id;
  EXPECT_EQ(delivered.size(), ids.size());
}

TEST(DistributedTest, AJobOfAKilledWorkerRunsElsewhereAndEndsOnce) {
  auto redis = DurableRedis();
  auto gw = Gateway(*redis);
  auto w1 = Worker(*redis, {"--name", "first-worker"});
  ASSERT_TRUE(gw->Start()) << gw->start_error();
  ASSERT_TRUE(w1->Start()) << w1->start_error();
  const std::string id = SubmitJob(*gw, {{"text", "A long answer."}, {"max_tokens", 400}});
  ASSERT_FALSE(id.empty());
  const json running = WaitForJob(
      *gw, id, [](const json& j) { return j["progress"].value("completion_tokens", 0) > 0; },
      seconds(60));
  EXPECT_EQ(running.value("worker", ""), "first-worker") << running;
  w1->Kill(SIGKILL);
  auto w2 = Worker(*redis);
  ASSERT_TRUE(w2->Start()) << w2->start_error();
  const json done = WaitForTerminal(*gw, id, seconds(120));
  EXPECT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(done.value("attempts", 0), 2) << done;
  EXPECT_EQ(done["usage"].value("completion_tokens", 0), 400) << done;
  EXPECT_FALSE(done.contains("worker")) << done;  // named only while running
}

TEST(DistributedTest, ALateResultFromAStoppedWorkerIsDiscarded) {
  auto redis = DurableRedis();
  auto gw = Gateway(*redis);
  auto w1 = Worker(*redis);
  ASSERT_TRUE(gw->Start());
  ASSERT_TRUE(w1->Start());
  const std::string id = SubmitJob(*gw, {{"text", "Stop me."}, {"max_tokens", 200}});
  WaitForJob(
      *gw, id, [](const json& j) { return j["progress"].value("completion_tokens", 0) > 0; },
      seconds(60));
  ASSERT_EQ(::kill(w1->pid(), SIGSTOP), 0);
  auto w2 = Worker(*redis);
  ASSERT_TRUE(w2->Start());
  const json done = WaitForTerminal(*gw, id, seconds(120));
  ASSERT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(done.value("attempts", 0), 2) << done;
  // The first worker wakes up with a result for a job it no longer holds.
  ASSERT_EQ(::kill(w1->pid(), SIGCONT), 0);
  ASSERT_TRUE(PollUntil([&] { return w1->LogTail(200).find("discarded") != std::string::npos; },
                        seconds(60)))
      << w1->LogTail();
  const json after = Job(*gw, id);
  EXPECT_EQ(after.value("finished_at", 0.0), done.value("finished_at", -1.0));
  EXPECT_EQ(after.value("text", ""), done.value("text", "?"));
  EXPECT_EQ(after.value("attempts", 0), 2);
}

TEST(DistributedTest, SigtermHandsRunningJobsBackWithoutADelivery) {
  auto redis = DurableRedis();
  auto gw = Gateway(*redis);
  auto w1 = Worker(*redis, {"--drain-seconds", "1"});
  ASSERT_TRUE(gw->Start());
  ASSERT_TRUE(w1->Start());
  const std::string id = SubmitJob(*gw, {{"text", "Long."}, {"max_tokens", 20000}});
  WaitForJob(
      *gw, id, [](const json& j) { return j["progress"].value("completion_tokens", 0) > 0; },
      seconds(60));
  // The worker stops claiming, waits a second for the job, then hands it back and exits.
  const int status = w1->Kill(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << w1->LogTail();
  EXPECT_NE(w1->LogTail().find("handing them back"), std::string::npos) << w1->LogTail();
  const json back = Job(*gw, id);
  EXPECT_EQ(back.value("state", ""), "queued") << back;
  EXPECT_EQ(back.value("attempts", -1), 0) << back;  // a hand-back is not a delivery
  // The gateway drains too: it answers what is in flight, then exits cleanly.
  const int gw_status = gw->Kill(SIGTERM);
  EXPECT_TRUE(WIFEXITED(gw_status) && WEXITSTATUS(gw_status) == 0) << gw->LogTail();
}

TEST(DistributedTest, EveryAcceptedJobSurvivesRedisKill9) {
  auto redis = DurableRedis();
  auto gw = Gateway(*redis);
  ASSERT_TRUE(gw->Start());
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    HttpResult r;
    ids.push_back(
        SubmitJob(*gw, {{"text", "Keep me " + std::to_string(i)}, {"max_tokens", 2}}, &r));
    ASSERT_EQ(r.status, 202) << r.Describe();
  }
  ASSERT_GE(redis->Kill(SIGKILL), 0);
  ASSERT_TRUE(redis->Restart());
  auto w = Worker(*redis);
  ASSERT_TRUE(w->Start()) << w->start_error();
  for (const std::string& id : ids) {
    const json done = WaitForTerminal(*gw, id, seconds(120));
    EXPECT_EQ(done.value("state", ""), "succeeded") << done;
  }
}

TEST(DistributedTest, AJobThatCrashesEveryWorkerIsDeadLetteredAndTheRestFlows) {
  auto redis = DurableRedis();
  auto gw = Gateway(*redis);
  ASSERT_TRUE(gw->Start());
  std::optional<ScopedEnv> crash_on;  // the workers started below crash on the poisoned job
  crash_on.emplace("GLMQ_FAULT_CRASH_ON_TEXT", "POISON");
  const std::string poison = SubmitJob(*gw, {{"text", "POISON pill"}, {"max_tokens", 2}});
  std::vector<std::string> good;
  for (int i = 0; i < 5; ++i) {
    good.push_back(SubmitJob(*gw, {{"text", "Fine " + std::to_string(i)}, {"max_tokens", 2}}));
  }
  // A supervisor, as systemd would be: a worker that dies is started again.
  int starts = 0;
  const auto deadline = std::chrono::steady_clock::now() + seconds(120);
  json dead;
  while (std::chrono::steady_clock::now() < deadline) {
    auto w = Worker(*redis, {"--max-deliveries", "3"});
    // It may die on the poisoned job before it ever answers /healthz.
    (void)w->Start();
    ++starts;
    PollUntil([&] { return !w->Alive() || IsTerminalState(Job(*gw, poison).value("state", "")); },
              seconds(30));
    dead = Job(*gw, poison);
    if (IsTerminalState(dead.value("state", ""))) {
      for (const std::string& id : good) {
        EXPECT_EQ(WaitForTerminal(*gw, id, seconds(60)).value("state", ""), "succeeded");
      }
      break;
    }
  }
  crash_on.reset();
  EXPECT_EQ(dead.value("state", ""), "failed") << dead;
  EXPECT_TRUE(dead.value("dead_letter", false)) << dead;
  EXPECT_EQ(dead["error"].value("code", ""), "dead_letter") << dead;
  EXPECT_EQ(dead.value("attempts", 0), 3) << dead;
  EXPECT_GE(starts, 3);
  EXPECT_EQ(gw->Get("/v1/queue").body_json.value("dead_letter", -1), 1);
}

TEST(DistributedTest, IdempotencyKeyGivesOneJobPerKey) {
  auto redis = DurableRedis();
  // Two tenants: an Idempotency-Key is scoped by the tenant of the caller's API key.
  const std::string keys = ScratchDir("glmq-idem") + "/keys";
  std::ofstream(keys) << "default submit first-key-0123456789\nacme submit acme-key-0123456789\n";
  auto gw = Gateway(*redis, {"--api-keys-file", keys});
  ASSERT_TRUE(gw->Start());
  HttpClient http = gw->client();
  http.SetHeader("Authorization", "Bearer first-key-0123456789");
  const std::string body = json({{"text", "Once only."}, {"max_tokens", 2}}).dump();
  // Ten concurrent tries with one key: one job; the others are told so (409) or get its 202.
  std::vector<HttpResult> results(10);
  std::vector<std::thread> tries;
  for (int i = 0; i < 10; ++i) {
    tries.emplace_back([&, i] {
      results[i] = http.Request("POST", "/v1/jobs", body, {{"Idempotency-Key", "order-42"}});
    });
  }
  for (auto& t : tries) t.join();
  std::set<std::string> jobs;
  for (const HttpResult& r : results) {
    ASSERT_TRUE(r.status == 202 || r.status == 409) << r.Describe();
    if (r.status == 202) jobs.insert(r.body_json.value("id", ""));
  }
  ASSERT_EQ(jobs.size(), 1u);
  const HttpResult again =
      http.Request("POST", "/v1/jobs", body, {{"Idempotency-Key", "order-42"}});
  EXPECT_EQ(again.status, 202);
  EXPECT_EQ(again.body_json.value("id", ""), *jobs.begin());
  EXPECT_EQ(again.Header("idempotent-replayed"), "true");
  // A header does not make a tenant: the same key with X-Tenant is the same job.
  const HttpResult spoofed = http.Request("POST", "/v1/jobs", body,
                                          {{"Idempotency-Key", "order-42"}, {"X-Tenant", "acme"}});
  EXPECT_EQ(spoofed.status, 202);
  EXPECT_EQ(spoofed.body_json.value("id", ""), *jobs.begin());
  // Another tenant's same key is another job.
  HttpClient acme = gw->client();
  acme.SetHeader("Authorization", "Bearer acme-key-0123456789");
  const HttpResult other =
      acme.Request("POST", "/v1/jobs", body, {{"Idempotency-Key", "order-42"}});
  EXPECT_EQ(other.status, 202);
  EXPECT_NE(other.body_json.value("id", ""), *jobs.begin());
  // Same key, other body: 422; a key too long: 400.
  EXPECT_EQ(http.Request("POST", "/v1/jobs", json({{"text", "Twice?"}}).dump(),
                         {{"Idempotency-Key", "order-42"}})
                .status,
            422);
  EXPECT_EQ(
      http.Request("POST", "/v1/jobs", body, {{"Idempotency-Key", std::string(256, 'k')}}).status,
      400);
}

// Two gateways, one evaluator (the "alerts" lease): when it dies, the other sends the next
// notice on time, and nothing is sent twice.
TEST(DistributedTest, AlertsMoveToAnotherGatewayWhenTheEvaluatorDies) {
  auto redis = DurableRedis();
  WebhookReceiver receiver;
  const std::string dir = ScratchDir("glmq-dist-alerts");
  {
    std::ofstream out(dir + "/glmq.toml");
    out << "[alerts]\ninterval = \"200ms\"\n"
           "[alerts.rules.queue_depth]\nwarning = 3\ncritical = false\nfor = \"200ms\"\n"
           "repeat-warning = \"4s\"\n";
    for (const char* rule : {"drain_time", "oldest_age", "running_duration", "error_rate",
                             "no_worker", "stalled", "store_errors", "disk_free"}) {
      out << "[alerts.rules." << rule << "]\nenabled = false\n";
    }
    out << "[[alerts.channels]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"" << receiver.url()
        << "\"\n";
  }
  const std::vector<std::string> flags = {"--config", dir + "/glmq.toml", "--alert-lease-ms",
                                          "1500"};
  auto a = Gateway(*redis, flags);
  ASSERT_TRUE(a->Start()) << a->start_error();
  ASSERT_TRUE(PollUntil(
      [&] {
        return a->LogTail().find("lease 'alerts': held by this process") != std::string::npos;
      },
      seconds(10)))
      << a->LogTail();
  auto b = Gateway(*redis, flags);
  ASSERT_TRUE(b->Start()) << b->start_error();
  for (int i = 0; i < 4; ++i) {
    ASSERT_FALSE(SubmitJob(*a, {{"text", "Waiting " + std::to_string(i)}}).empty());
  }
  auto got = receiver.WaitFor(1, seconds(20));
  ASSERT_EQ(got.size(), 1u);
  const auto first = got[0].at;
  a->Kill(SIGKILL);
  // The repeat is due 4 s after the first notice; b must take over and send it then.
  got = receiver.WaitFor(2, seconds(15));
  ASSERT_EQ(got.size(), 2u) << b->LogTail();
  EXPECT_GE(got[1].at - first, milliseconds(3800)) << "sent again before the repeat interval";
  EXPECT_EQ(got[1].body["alerts"][0]["fingerprint"], got[0].body["alerts"][0]["fingerprint"]);
  EXPECT_NE(b->LogTail().find("lease 'alerts': held by this process"), std::string::npos);
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(receiver.received().size(), 2u);
}

// A gateway does not tokenize: it accepts on the byte estimate, and the worker's count,
// made to run the job, replaces it; a prompt that turns out too long fails with the numbers.
TEST(DistributedTest, TheWorkersCountReplacesTheGatewaysEstimate) {
  auto redis = DurableRedis();
  auto gw = Gateway(*redis, {"--ctx-size", "8192"});
  auto w = Worker(*redis, {"--ctx-size", "8192"});
  ASSERT_TRUE(gw->Start());
  ASSERT_TRUE(w->Start());
  HttpResult reply;
  const std::string id =
      SubmitJob(*gw, {{"text", FillerText(3000)}, {"question", "Why?"}, {"max_tokens", 4}}, &reply);
  ASSERT_FALSE(id.empty()) << reply.Describe();
  EXPECT_TRUE(reply.body_json.value("prompt_tokens_estimated", false)) << reply.body;
  const json done = WaitForTerminal(*gw, id, seconds(60));
  ASSERT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(done.value("prompt_tokens", -1), done["usage"].value("prompt_tokens", -2)) << done;

  // ~10k tokens of filler: its lower bound fits 8192, its real count does not.
  const std::string too_long = SubmitJob(*gw, {{"text", FillerText(20000)}, {"max_tokens", 100}});
  ASSERT_FALSE(too_long.empty());
  const json failed = WaitForTerminal(*gw, too_long, seconds(60));
  EXPECT_EQ(failed.value("state", ""), "failed") << failed;
  EXPECT_EQ(failed["error"].value("code", ""), "prompt_too_long") << failed;
  EXPECT_NE(failed["error"].value("message", "").find("8192"), std::string::npos) << failed;
}

TEST(DistributedTest, GatewayRefusesARedisThatPersistsNothing) {
  RedisServer volatile_redis;
  ASSERT_TRUE(volatile_redis.Start({"--appendonly", "no", "--save", ""}));
  Server refused("gateway", {"--redis", volatile_redis.url()});
  EXPECT_FALSE(refused.Start());
  EXPECT_NE(refused.LogTail().find("--allow-volatile-redis"), std::string::npos)
      << refused.LogTail();
  Server allowed("gateway", {"--redis", volatile_redis.url(), "--allow-volatile-redis"});
  EXPECT_TRUE(allowed.Start()) << allowed.LogTail();
}

// A gateway checks prompts against the largest sequence its live workers hold, not its own
// default (min(model, 32768)): a worker with --ctx-size 65536 (on a GPU, --ctx-size 0 sizes
// it to the GPU) says so, and a document of more than 32768 tokens submitted through a
// gateway told nothing about it, counted there (--count-tokens true), stays queued for it.
TEST(DistributedTest, AGatewayFollowsItsWorkersContext) {
  auto redis = DurableRedis();
  auto gateway = Gateway(*redis, {"--count-tokens", "true"});
  auto worker = Worker(*redis, {"--ctx-size", "65536"});
  for (Server* p : {gateway.get(), worker.get()}) {
    ASSERT_TRUE(p->Start()) << p->start_error() << p->LogTail();
  }
  ASSERT_TRUE(PollUntil(
      [&] { return gateway->LogTail().find("sequences hold up to 65536") != std::string::npos; },
      seconds(30)))
      << gateway->LogTail();
  // The worker goes, so that the job waits at the gateway's count (what it learned stays).
  worker->Kill(SIGKILL);
  const std::string id =
      SubmitJob(*gateway, {{"text", FillerText(100'000)}, {"question", "Why?"}, {"max_tokens", 4}});
  ASSERT_FALSE(id.empty());
  json job;
  PollUntil(
      [&] {
        job = Job(*gateway, id);
        return job.value("state", "") != "queued";
      },
      seconds(3));
  EXPECT_EQ(job.value("state", ""), "queued") << job;  // not failed as prompt_too_long
  EXPECT_GT(job.value("prompt_tokens", 0), 32768) << job;
  EXPECT_LT(job.value("prompt_tokens", 0), 65536 - 4) << job;
}

// Workers whose contexts differ: a job too long for one worker is left to, or handed back
// for, one that holds it, instead of failing as prompt_too_long; the smaller worker goes on
// with the jobs behind it.
TEST(DistributedTest, AJobTooLongForOneWorkerRunsOnOneThatHoldsIt) {
  auto redis = DurableRedis();
  auto gateway = Gateway(*redis);
  auto large = Worker(*redis, {"--ctx-size", "32768", "--name", "large"});
  auto small = Worker(*redis, {"--ctx-size", "4096", "--name", "small"});
  for (Server* p : {gateway.get(), large.get(), small.get()}) {
    ASSERT_TRUE(p->Start()) << p->start_error() << p->LogTail();
  }
  // Both heartbeats seen (the gateway reads them as the workers do, once a second).
  ASSERT_TRUE(PollUntil(
      [&] {
        const HttpResult r = gateway->Get("/api/v1/queue/status");
        const json j = json::parse(r.body, nullptr, false);
        return j.is_object() && j.value("workers", 0) == 2;
      },
      seconds(30)));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // The large worker stops claiming but stays live (its heartbeat holds for 10 s): the
  // small one is the only one claiming while it is stopped.
  ASSERT_EQ(::kill(large->pid(), SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{large->pid()};
  const std::string id =
      SubmitJob(*gateway, {{"text", FillerText(30'000)}, {"question", "Why?"}, {"max_tokens", 4}});
  ASSERT_FALSE(id.empty());
  // A question behind it runs on the small worker meanwhile: the document is passed over
  // there (or handed back once counted), not failed, and does not hold the small one up.
  const std::string question = SubmitJob(*gateway, {{"text", "A short one."}, {"max_tokens", 4}});
  ASSERT_FALSE(question.empty());
  const json answered = WaitForTerminal(*gateway, question, seconds(60));
  EXPECT_EQ(answered.value("state", ""), "succeeded") << answered;
  const json waiting = Job(*gateway, id);
  EXPECT_EQ(waiting.value("state", ""), "queued") << waiting;  // not prompt_too_long
  ASSERT_EQ(::kill(large->pid(), SIGCONT), 0);
  const json done = WaitForTerminal(*gateway, id, seconds(120));
  EXPECT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(done.value("attempts", 0), 1) << done;  // going back is not a delivery
  EXPECT_GT(done["usage"].value("prompt_tokens", 0), 4096) << done;
}

}  // namespace
}  // namespace glmq::integration
