// What only the Redis store has: surviving a kill -9 of Redis, the persistence check,
// retention, authentication, scripts forgotten by Redis, and the URL parser. The contract
// both stores share is in store_contract_test.cc.
#include "store/redis_store.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/redis_client.h"
#include "store/redis_server.h"

namespace glmq {
namespace {

using std::chrono::milliseconds;

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RedisServer::FindBinary().empty()) {
      GTEST_SKIP() << "redis-server is not installed: Redis cases skipped";
    }
  }

  RedisStoreOptions Options(const RedisServer& server, const std::string& prefix = "t:") {
    RedisStoreOptions options;
    options.url = server.url();
    options.prefix = prefix;
    return options;
  }

  std::unique_ptr<RedisJobStore> MustOpen(const RedisStoreOptions& options,
                                          JobListener listener = nullptr) {
    auto opened = RedisJobStore::Open(options, std::move(listener));
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  static Job MakeJob(int64_t order_key) {
    Job job;
    job.id = NewJobId();
    job.order_key = order_key;
    job.prompt_tokens = 10;
    job.request.text = "document " + job.id;
    return job;
  }
};

// Collects the ids the listener hears about.
struct Heard {
  std::mutex mu;
  std::set<std::string> ids;
  JobListener Listener() {
    return [this](const std::string& id, JobState, ChangeOrigin) {
      std::lock_guard lock(mu);
      ids.insert(id);
    };
  }
  bool Has(const std::string& id) {
    std::lock_guard lock(mu);
    return ids.count(id) > 0;
  }
};

TEST_F(RedisStoreTest, EveryAcknowledgedJobSurvivesKill9WithAppendfsyncAlways) {
  RedisServer server;
  ASSERT_TRUE(server.Start({"--appendonly", "yes", "--appendfsync", "always"}))
      << server.last_error();
  Heard other_heard;
  auto store = MustOpen(Options(server));
  auto other = MustOpen(Options(server), other_heard.Listener());
  ASSERT_TRUE(store && other);

  constexpr int kJobs = 200;
  std::vector<std::string> ids(kJobs);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kJobs; i += 4) {
        Job job = MakeJob(i);
        ids[i] = job.id;
        if (!store->Insert(job).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  for (int i = 0; i < 10; ++i) {
    auto claimed = store->ClaimNext("w1", 60000);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    if (i % 2 == 0) {
      Completion done;
      done.output = "answer";
      ASSERT_TRUE(store->Complete((*claimed)->id, "w1", done).ok());
    }
  }
  auto before = store->Snapshot();
  ASSERT_TRUE(before.ok());

  ASSERT_GE(server.Kill(SIGKILL), 0);
  ASSERT_TRUE(server.Restart()) << server.last_error();

  // The pooled connections died with the server; reads retry on a fresh one.
  for (const std::string& id : ids) {
    auto job = store->Get(id);
    ASSERT_TRUE(job.ok()) << id << ": " << job.status().ToString();
    EXPECT_EQ(job->request.text, "document " + id);
  }
  auto after = store->Snapshot();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->totals, before->totals);
  EXPECT_EQ(after->totals.at(JobState::kSucceeded), 5);
  EXPECT_EQ(after->totals.at(JobState::kRunning), 5);
  int claimed = 0;
  while (true) {
    auto job = store->ClaimNext("w2", 60000);
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    if (!job->has_value()) break;
    ++claimed;
  }
  EXPECT_EQ(claimed, kJobs - 10);

  // The other store's subscriber reconnects by itself and hears new changes again.
  bool heard = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!heard && std::chrono::steady_clock::now() < deadline) {
    Job probe = MakeJob(0);
    ASSERT_TRUE(store->Insert(probe).ok());
    for (int i = 0; i < 20 && !heard; ++i) {
      std::this_thread::sleep_for(milliseconds(20));
      heard = other_heard.Has(probe.id);
    }
  }
  EXPECT_TRUE(heard) << "no event reached the other store after the restart";
}

TEST_F(RedisStoreTest, RefusesARedisThatPersistsNothingUnlessAllowed) {
  RedisServer server;
  ASSERT_TRUE(server.Start({"--appendonly", "no", "--save", ""})) << server.last_error();
  RedisStoreOptions options = Options(server);
  auto refused = RedisJobStore::Open(options, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("appendonly"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--allow-volatile-redis"), std::string::npos);

  options.require_persistence = false;
  EXPECT_TRUE(MustOpen(options) != nullptr);

  // RDB snapshots count as persistence (with their loss window).
  EXPECT_EQ(server.Command("CONFIG SET save \"3600 1\""), "+OK");
  options.require_persistence = true;
  EXPECT_TRUE(MustOpen(options) != nullptr);
}

TEST_F(RedisStoreTest, TerminalJobsExpireAfterRetentionAndLeaveTheListings) {
  RedisServer server;
  ASSERT_TRUE(server.Start()) << server.last_error();
  RedisStoreOptions options = Options(server, "ret:");
  options.retention_ms = 300;
  auto store = MustOpen(options);
  ASSERT_TRUE(store);
  Job done = MakeJob(1), cancelled = MakeJob(2), queued = MakeJob(3);
  for (const Job& j : {done, cancelled, queued}) ASSERT_TRUE(store->Insert(j).ok());
  auto claimed = store->ClaimNext("w1", 60000);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  ASSERT_TRUE(store->Complete(done.id, "w1", Completion{}).ok());
  ASSERT_TRUE(store->Cancel(cancelled.id).ok());
  auto snapshot = store->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->totals.at(JobState::kSucceeded), 1);
  EXPECT_EQ(snapshot->totals.at(JobState::kCancelled), 1);

  std::this_thread::sleep_for(milliseconds(450));
  EXPECT_EQ(store->Get(done.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Get(cancelled.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Get(queued.id).ok()) << "a queued job never expires";
  snapshot = store->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->totals.at(JobState::kSucceeded), 0);
  EXPECT_EQ(snapshot->totals.at(JobState::kCancelled), 0);
  EXPECT_EQ(snapshot->totals.at(JobState::kQueued), 1);
  auto listed = store->List({});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, queued.id);
  // The sweep removed them from every index, not only from the page.
  EXPECT_EQ(server.Command("ZCARD ret:state:queued"), ":1");
  EXPECT_EQ(server.Command("ZCARD ret:state:succeeded"), ":0");
  EXPECT_EQ(server.Command("ZCARD ret:state:cancelled"), ":0");
  EXPECT_EQ(server.Command("ZCARD ret:ended:succeeded"), ":0");
  EXPECT_EQ(server.Command("EXISTS ret:body:" + done.id), ":0");
}

TEST_F(RedisStoreTest, ScriptsForgottenByRedisAreSentAgain) {
  RedisServer server;
  ASSERT_TRUE(server.Start()) << server.last_error();
  auto store = MustOpen(Options(server));
  ASSERT_TRUE(store);
  ASSERT_EQ(server.Command("SCRIPT FLUSH"), "+OK");
  Job job = MakeJob(1);
  ASSERT_TRUE(store->Insert(job).ok());
  auto claimed = store->ClaimNext("w1", 1000);
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status().ToString();
  EXPECT_EQ((*claimed)->id, job.id);
}

// CancelMany pipelines the cancel script by its SHA; a Redis that forgot it (restarted, or
// SCRIPT FLUSH) still cancels each job.
TEST_F(RedisStoreTest, CancelManyWorksAfterRedisForgetsItsScripts) {
  RedisServer server;
  ASSERT_TRUE(server.Start()) << server.last_error();
  auto store = MustOpen(Options(server));
  ASSERT_TRUE(store);
  Job a = MakeJob(1), b = MakeJob(2);
  ASSERT_TRUE(store->Insert(a).ok());
  ASSERT_TRUE(store->Insert(b).ok());
  ASSERT_EQ(server.Command("SCRIPT FLUSH"), "+OK");
  const std::vector<Status> statuses = store->CancelMany({a.id, b.id});
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_TRUE(statuses[0].ok()) << statuses[0].ToString();
  EXPECT_TRUE(statuses[1].ok()) << statuses[1].ToString();
  EXPECT_EQ(store->Get(a.id)->state, JobState::kCancelled);
  EXPECT_EQ(store->Get(b.id)->state, JobState::kCancelled);
}

TEST_F(RedisStoreTest, BlobsReadEmptyUntilWrittenAndAreSharedByStores) {
  RedisServer server;
  ASSERT_TRUE(server.Start()) << server.last_error();
  auto a = MustOpen(Options(server));
  auto b = MustOpen(Options(server));
  ASSERT_TRUE(a && b);
  auto empty = a->GetBlob("silences");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
  ASSERT_TRUE(a->PutBlob("silences", R"([{"id":"s1"}])").ok());
  auto read = b->GetBlob("silences");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, R"([{"id":"s1"}])");
}

TEST_F(RedisStoreTest, AuthenticatesWithThePasswordInTheUrl) {
  RedisServer server;
  ASSERT_TRUE(server.Start({"--requirepass", "s3cret@x"})) << server.last_error();
  RedisStoreOptions options = Options(server);
  options.url = "redis://:s3cret%40x@127.0.0.1:" + std::to_string(server.port()) + "/2";
  auto store = MustOpen(options);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Insert(MakeJob(1)).ok());
  options.url = "redis://:hunter2@127.0.0.1:" + std::to_string(server.port());
  auto refused = RedisJobStore::Open(options, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  // The message names the server, never the password.
  EXPECT_EQ(refused.status().message().find("hunter2"), std::string::npos);
}

TEST_F(RedisStoreTest, UnreachableRedisIsUnavailable) {
  RedisStoreOptions options;
  options.url = "redis://127.0.0.1:1";
  options.timeout_seconds = 1;
  auto opened = RedisJobStore::Open(options, nullptr);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
}

TEST(RedisEndpointTest, ParsesTheUrlForms) {
  auto e = redis::Endpoint::Parse("redis://10.0.0.5:6380/3");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "10.0.0.5");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 3);
  EXPECT_EQ(e->password, "");

  e = redis::Endpoint::Parse("redis://:p%40ss@cache");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "cache");
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->password, "p@ss");
  EXPECT_EQ(e->username, "");

  e = redis::Endpoint::Parse("redis://app:pw@[::1]:7000/0");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 7000);
  EXPECT_EQ(e->username, "app");
  EXPECT_EQ(e->password, "pw");
  EXPECT_EQ(e->Describe().find("pw"), std::string::npos);

  for (const char* bad : {"http://h:1", "redis://", "redis://h:0", "redis://h:99999",
                          "redis://h:1/x", "redis://h:abc", "redis://:%zz@h"}) {
    EXPECT_EQ(redis::Endpoint::Parse(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace glmq
