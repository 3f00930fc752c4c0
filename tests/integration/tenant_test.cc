// Tenants on the real binary, tried as a hostile tenant would: on `glmq serve` and on a
// gateway + worker sharing Redis, another tenant's key gets nothing of a job on any route of
// the OpenAPI document with any method, a read key cannot write, a tenant cannot learn
// another's document through the prefix cache, and keys made or revoked with `glmq keys`
// count within a second or two on a running server.
#include <gtest/gtest.h>

#include <fstream>

#include "integration/harness.h"
#include "store/redis_server.h"

namespace glmq::integration {
namespace {

constexpr char kFinance[] = "finance-submit-key-0123456789";
constexpr char kLegal[] = "legal-submit-key-0123456789";
constexpr char kLegalRead[] = "legal-read-key-0123456789";
constexpr char kAdmin[] = "ops-admin-key-0123456789";
constexpr char kSecret[] = "FINANCE-SECRET-7f3a9c";

enum class Mode { kServe, kRedis };

// The service under test, with one client per key.
class Deployment {
 public:
  explicit Deployment(Mode mode) : mode_(mode), keys_file_(ScratchDir("glmq-tenants") + "/keys") {
    const std::string& keys = keys_file_;
    std::ofstream(keys) << "# tenant role key\n"
                        << "finance submit " << kFinance << " name=reports\n"
                        << "legal submit " << kLegal << "\n"
                        << "legal read " << kLegalRead << "\n"
                        << "ops admin " << kAdmin << "\n";
    const std::vector<std::string> flags = {"--api-keys-file", keys, "--parallel", "2"};
    if (mode == Mode::kServe) {
      front_ = std::make_unique<Server>(flags);
      return;
    }
    redis_ = std::make_unique<RedisServer>();
    redis_ok_ = redis_->Start({"--appendonly", "yes", "--appendfsync", "always"});
    front_ = std::make_unique<Server>(
        "gateway", std::vector<std::string>{"--redis", redis_->url(), "--api-keys-file", keys});
    worker_ = std::make_unique<Server>(
        "worker", std::vector<std::string>{"--redis", redis_->url(), "--parallel", "2"});
  }

  bool Start(std::string& why) {
    if (redis_ && !redis_ok_) {
      why = "redis: " + redis_->last_error();
      return false;
    }
    for (Server* s : {front_.get(), worker_.get()}) {
      if (s != nullptr && !s->Start()) {
        why = s->start_error() + "\n" + s->LogTail();
        return false;
      }
    }
    return true;
  }

  HttpClient As(const std::string& key) const {
    HttpClient c = front_->client();
    c.SetHeader("Authorization", "Bearer " + key);
    return c;
  }
  const Server& front() const { return *front_; }
  const std::string& keys_file() const { return keys_file_; }
  // The flags that name the store to `glmq keys`.
  std::string StoreFlags() const {
    return mode_ == Mode::kServe ? "--data-dir " + front_->data_dir() : "--redis " + redis_->url();
  }

 private:
  Mode mode_;
  std::string keys_file_;
  std::unique_ptr<RedisServer> redis_;
  bool redis_ok_ = true;
  std::unique_ptr<Server> front_;
  std::unique_ptr<Server> worker_;
};

class TenantTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    if (GetParam() == Mode::kRedis && RedisServer::FindBinary().empty()) {
      GTEST_SKIP() << "redis-server is not installed";
    }
    d_ = std::make_unique<Deployment>(GetParam());
    std::string why;
    ASSERT_TRUE(d_->Start(why)) << why;
  }
  std::unique_ptr<Deployment> d_;
};

std::string Submit(const HttpClient& c, const json& body) {
  const HttpResult r = c.Post("/v1/jobs", body);
  EXPECT_EQ(r.status, 202) << r.Describe();
  return r.body_json.value("id", "");
}

json Finished(const HttpClient& c, const std::string& id) {
  return c.Get("/v1/jobs/" + id + "?wait=60", seconds(90)).body_json;
}

// Every route in the OpenAPI document, with every method it names plus the others, asked
// by another tenant's submit key and read key about finance's jobs: no answer carries
// their ids, text or output; an id route answers as for an unknown id; a read key cannot
// write (403).
TEST_P(TenantTest, AnotherTenantGetsNothingOfAJobOnAnyRoute) {
  const HttpClient finance = d_->As(kFinance), legal = d_->As(kLegal), reader = d_->As(kLegalRead),
                   admin = d_->As(kAdmin);
  const std::string document = std::string("Quarterly figures. ") + kSecret + " Revenue rose.";
  const std::string done_id = Submit(finance, {{"text", document}, {"max_tokens", 8}});
  ASSERT_FALSE(done_id.empty());
  const json done = Finished(finance, done_id);
  ASSERT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(done.value("tenant", ""), "finance");
  const std::string output = done.value("output", "");
  // One job of finance's keeps running meanwhile, so the queue has it to show.
  const std::string running_id = Submit(
      finance, {{"text", std::string("Tell a long story. ") + kSecret}, {"max_tokens", 20000}});
  ASSERT_TRUE(PollUntil(
      [&] {
        return finance.Get("/v1/jobs/" + running_id).body_json.value("state", "") == "running";
      },
      seconds(30)));
  const std::string legal_id = Submit(legal, {{"text", "Contract terms."}, {"max_tokens", 4}});
  // The queue: finance sees its running job; legal the totals, not the job.
  const HttpResult q = finance.Get("/v1/queue");
  EXPECT_NE(q.body.find(running_id), std::string::npos) << q.body;
  const HttpResult legal_q = legal.Get("/v1/queue");
  EXPECT_GE(legal_q.body_json["totals"].value("running", -1), 1) << legal_q.body;
  EXPECT_EQ(legal_q.body.find(running_id), std::string::npos) << legal_q.body;

  const HttpResult doc = legal.Get("/openapi.json");
  ASSERT_EQ(doc.status, 200);
  const std::string unknown = "job_000000000000000000000000";
  // What the answer says beyond echoing the id asked about (an unknown id is echoed too).
  auto leaks = [&](const HttpResult& r, const std::string& asked) {
    for (const std::string& s : {done_id, running_id, std::string(kSecret)}) {
      if (s != asked && r.body.find(s) != std::string::npos) return true;
    }
    if (!asked.empty() && r.body.find("\"" + asked + "\"") != std::string::npos) return true;
    return output.size() > 8 && r.body.find(output) != std::string::npos;
  };
  int asked = 0;
  for (const auto& [pattern, item] : doc.body_json["paths"].items()) {
    if (pattern.find("/events") != std::string::npos) continue;  // below: it streams
    for (const std::string method : {"get", "post", "delete", "put", "patch"}) {
      const bool documented = item.contains(method);
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(c));
      const bool has_id = pattern.find('{') != std::string::npos;
      for (const std::string& id :
           has_id ? std::vector<std::string>{done_id, running_id} : std::vector<std::string>{""}) {
        std::string path = pattern;
        if (has_id) path.replace(path.find('{'), path.find('}') + 1 - path.find('{'), id);
        const std::string body =
            pattern.find("chat") != std::string::npos
                ? json({{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 2}})
                      .dump()
                : json({{"text", "Hello."}, {"max_tokens", 2}}).dump();
        const std::string sent = method == "get" || method == "delete" ? "" : body;
        const HttpResult as_legal = legal.Request(upper, path, sent, {}, seconds(60));
        const HttpResult as_reader = reader.Request(upper, path, sent, {}, seconds(60));
        ++asked;
        EXPECT_FALSE(leaks(as_legal, id)) << upper << " " << path << ": " << as_legal.body;
        EXPECT_FALSE(leaks(as_reader, id)) << upper << " " << path << ": " << as_reader.body;
        if (!documented) continue;
        if (has_id && pattern.find("silences") == std::string::npos) {
          // Exactly what an unknown id gets.
          std::string unknown_path = pattern;
          unknown_path.replace(pattern.find('{'), pattern.find('}') + 1 - pattern.find('{'),
                               unknown);
          const HttpResult none = legal.Request(upper, unknown_path, sent, {}, seconds(60));
          EXPECT_EQ(as_legal.status, 404) << upper << " " << path;
          EXPECT_EQ(as_legal.status, none.status) << upper << " " << path;
          std::string expected = none.body;
          expected.replace(expected.find(unknown), unknown.size(), id);
          EXPECT_EQ(as_legal.body, expected) << upper << " " << path;
        }
        if (method != "get") {
          EXPECT_EQ(as_reader.status, 403) << upper << " " << path << ": " << as_reader.body;
        }
      }
    }
  }
  EXPECT_GE(asked, 40);
  // The events of another's job: 404 at once, never a stream.
  const HttpResult events = legal.Get("/v1/jobs/" + running_id + "/events", seconds(10));
  EXPECT_EQ(events.status, 404);
  // finance's running job was not cancelled by legal's DELETE.
  EXPECT_NE(finance.Get("/v1/jobs/" + running_id).body_json.value("state", ""), "cancelled");

  // Lists: each tenant its own; the admin all, or one tenant's.
  auto ids = [](const HttpResult& r) {
    std::set<std::string> out;
    for (const json& j : r.body_json["data"]) out.insert(j.value("id", ""));
    return out;
  };
  const std::set<std::string> legal_sees = ids(legal.Get("/v1/jobs?limit=100"));
  EXPECT_TRUE(legal_sees.count(legal_id));
  EXPECT_FALSE(legal_sees.count(done_id) || legal_sees.count(running_id));
  const std::set<std::string> finance_sees = ids(finance.Get("/v1/jobs?limit=100"));
  EXPECT_TRUE(finance_sees.count(done_id) && finance_sees.count(running_id));
  EXPECT_FALSE(finance_sees.count(legal_id));
  const std::set<std::string> all = ids(admin.Get("/v1/jobs?limit=100"));
  EXPECT_TRUE(all.count(done_id) && all.count(running_id) && all.count(legal_id));
  EXPECT_EQ(ids(admin.Get("/v1/jobs?tenant=legal&limit=100")).count(done_id), 0u);
  // Admin routes.
  EXPECT_EQ(legal.Get("/v1/alerts").status, 403);
  EXPECT_EQ(admin.Get("/v1/alerts").status, 200);
  finance.Delete("/v1/jobs/" + running_id);
}

// The cache oracle: a prefix of another tenant's finished document is read in full, with
// cached_tokens 0; the same tenant's is reused.
TEST_P(TenantTest, APrefixOfAnotherTenantsDocumentIsNotServedFromTheCache) {
  const HttpClient finance = d_->As(kFinance), legal = d_->As(kLegal);
  std::string document;
  for (int i = 0; document.size() < 4800; ++i) {
    document += "Clause " + std::to_string(i) + ": the supplier delivers " +
                std::to_string(i * 13) + " units by the end of month " +
                std::to_string(i % 12 + 1) + ". ";
  }
  const std::string first = Submit(finance, {{"text", document}, {"max_tokens", 2}});
  ASSERT_EQ(Finished(finance, first).value("state", ""), "succeeded");
  const std::string probe_text = document.substr(0, 2000);
  const json probe = Finished(legal, Submit(legal, {{"text", probe_text}, {"max_tokens", 2}}));
  ASSERT_EQ(probe.value("state", ""), "succeeded") << probe;
  auto cached = [](const json& job) {
    return job["usage"]["prompt_tokens_details"].value("cached_tokens", -1);
  };
  EXPECT_EQ(cached(probe), 0) << probe;
  EXPECT_GT(probe["usage"].value("prompt_tokens", 0), 400) << probe;  // all of it read
  EXPECT_EQ(probe["progress"].value("prompt_tokens_read", 0),
            probe["usage"].value("prompt_tokens", -1));
  const json own = Finished(finance, Submit(finance, {{"text", probe_text}, {"max_tokens", 2}}));
  EXPECT_GT(cached(own), probe["usage"].value("prompt_tokens", 0) - 20) << own;
}

// `glmq keys create` on the running service's store: the key works within a second or two
// and acts for its tenant; `glmq keys revoke` stops it as fast; so do lines added to and
// taken out of the keys file.
TEST_P(TenantTest, AKeyMadeOrRevokedWithGlmqKeysCountsAtOnce) {
  const auto [code, out] = RunCommand(GlmqBin() + " keys create --tenant finance --role read " +
                                      "--name dashboard " + d_->StoreFlags());
  ASSERT_EQ(code, 0) << out;
  const size_t start = out.find("glmq_");
  ASSERT_NE(start, std::string::npos) << out;
  const std::string key = out.substr(start, out.find('\n', start) - start);
  ASSERT_EQ(key.size(), 53u) << out;
  const HttpClient made = d_->As(key);
  ASSERT_TRUE(PollUntil([&] { return made.Get("/v1/jobs").status == 200; }, seconds(5)));
  EXPECT_EQ(made.Post("/v1/jobs", json{{"text", "x"}}).status, 403);  // a read key

  const auto [list_code, listed] = RunCommand(GlmqBin() + " keys list " + d_->StoreFlags());
  ASSERT_EQ(list_code, 0) << listed;
  EXPECT_EQ(listed.find(key), std::string::npos) << "the key itself is never shown again";
  const size_t at = listed.find("key_");
  ASSERT_NE(at, std::string::npos) << listed;
  const std::string id = listed.substr(at, listed.find(' ', at) - at);
  EXPECT_NE(listed.find("dashboard"), std::string::npos) << listed;

  // The keys file, edited while the service runs: a key added works, a key taken out stops.
  constexpr char kNew[] = "finance-second-key-0123456789";
  std::ofstream(d_->keys_file(), std::ios::app) << "finance submit " << kNew << "\n";
  EXPECT_TRUE(PollUntil([&] { return d_->As(kNew).Get("/v1/jobs").status == 200; }, seconds(5)));
  std::ofstream(d_->keys_file(), std::ios::trunc)
      << "legal submit " << kLegal << "\nfinance submit " << kNew << "\n";
  EXPECT_TRUE(
      PollUntil([&] { return d_->As(kFinance).Get("/v1/jobs").status == 401; }, seconds(5)));
  EXPECT_EQ(d_->As(kNew).Get("/v1/jobs").status, 200);

  const auto [revoke_code, revoked] =
      RunCommand(GlmqBin() + " keys revoke " + id + " " + d_->StoreFlags() + " 2>&1");
  ASSERT_EQ(revoke_code, 0) << revoked;
  EXPECT_TRUE(PollUntil([&] { return made.Get("/v1/jobs").status == 401; }, seconds(5)));
  // The keys file's keys still work.
  EXPECT_EQ(d_->As(kLegal).Get("/v1/jobs").status, 200);
}

// Usage for chargeback: each tenant its own days, an admin every tenant's.
TEST_P(TenantTest, UsageIsReportedPerTenantAndDay) {
  const HttpClient finance = d_->As(kFinance), legal = d_->As(kLegal), admin = d_->As(kAdmin);
  for (int i = 0; i < 2; ++i) {
    const json done =
        Finished(finance, Submit(finance, {{"text", "Sum it up."}, {"max_tokens", 3}}));
    ASSERT_EQ(done.value("state", ""), "succeeded") << done;
  }
  const std::string legal_job = Submit(legal, {{"text", "Read it."}, {"max_tokens", 3}});
  ASSERT_EQ(Finished(legal, legal_job).value("state", ""), "succeeded");
  const HttpResult mine = finance.Get("/v1/usage");
  ASSERT_EQ(mine.status, 200) << mine.Describe();
  ASSERT_EQ(mine.body_json["data"].size(), 1u) << mine.body;
  const json& row = mine.body_json["data"][0];
  EXPECT_EQ(row.value("tenant", ""), "finance");
  EXPECT_EQ(row["jobs"].value("succeeded", 0), 2);
  EXPECT_GT(row.value("prompt_tokens", 0), 0);
  EXPECT_EQ(row.value("completion_tokens", 0), 6);
  EXPECT_EQ(row.value("date", ""), mine.body_json.value("to", "x"));
  const HttpResult all = admin.Get("/v1/usage");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.body_json["data"].size(), 2u) << all.body;
  EXPECT_EQ(admin.Get("/v1/usage?tenant=legal").body_json["data"].size(), 1u);
  EXPECT_EQ(legal.Get("/v1/usage?tenant=finance").body_json["data"][0].value("tenant", ""),
            "legal");  // a non-admin's filter is its own tenant
  EXPECT_EQ(finance.Get("/v1/usage?from=2026-13-01").status, 400);
  EXPECT_EQ(finance.Get("/v1/usage?from=2020-01-01&to=2026-01-01").status, 400);
  EXPECT_TRUE(finance.Get("/v1/usage?from=2001-01-01&to=2001-01-02").body_json["data"].empty());
}

// Per-tenant series for the tenants the keys file names, and nothing a client could add.
TEST_P(TenantTest, MetricsCarryEachConfiguredTenantsQueueAndNoJobs) {
  const HttpClient finance = d_->As(kFinance);
  const std::string id = Submit(finance, {{"text", kSecret}, {"max_tokens", 3}});
  ASSERT_EQ(Finished(finance, id).value("state", ""), "succeeded");
  const HttpResult metrics = d_->front().client().Get("/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.Describe();
  for (const char* tenant : {"finance", "legal", "ops"}) {
    for (const char* series : {"glmq_tenant_queued_jobs", "glmq_tenant_queued_prompt_tokens"}) {
      const std::string line = std::string(series) + "{tenant=\"" + tenant + "\"} 0";
      EXPECT_NE(metrics.body.find(line), std::string::npos) << line << "\n" << metrics.body;
    }
  }
  EXPECT_EQ(metrics.body.find("tenant=\"default\""), std::string::npos);
  EXPECT_EQ(metrics.body.find(id), std::string::npos);
  EXPECT_EQ(metrics.body.find(kSecret), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Deployments, TenantTest, ::testing::Values(Mode::kServe, Mode::kRedis),
                         [](const auto& info) {
                           return info.param == Mode::kServe ? "Serve" : "GatewayAndWorker";
                         });

}  // namespace
}  // namespace glmq::integration
