// The JobStore contract suite's fixture, shared by its files: the same tests run against
// both stores, SqliteJobStore on a temp file and RedisJobStore on a real redis-server (one
// per suite, a fresh key prefix per test). Redis cases are skipped when redis-server is not
// installed. store_contract_test.cc instantiates the suite for every file.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/job_store.h"
#include "store/redis_server.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"
#include "store/store_test_support.h"

namespace glmq::contract {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

enum class Backend { kSqlite, kRedis };

// Collects the listener's events; waits for them when they come from another process.
class EventLog {
 public:
  JobListener Listener() {
    return [this](const std::string& id, JobState state, ChangeOrigin origin) {
      {
        std::lock_guard lock(mu_);
        events_.push_back({id, state, origin});
      }
      cv_.notify_all();
    };
  }
  std::vector<JobState> For(const std::string& id) { return Of(id, &Event::state); }
  // Where each of `id`'s events came from, in order.
  std::vector<ChangeOrigin> OriginsOf(const std::string& id) { return Of(id, &Event::origin); }
  // Waits until `id` has had `count` events.
  std::vector<JobState> WaitFor(const std::string& id, size_t count,
                                milliseconds timeout = milliseconds(5000)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] {
      return std::count_if(events_.begin(), events_.end(),
                           [&](const Event& e) { return e.id == id; }) >= static_cast<long>(count);
    });
    lock.unlock();
    return For(id);
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  // One field of each of `id`'s events, in order.
  template <class T, class Field>
  std::vector<T> Of(const std::string& id, T Field::*field) {
    std::lock_guard lock(mu_);
    std::vector<T> out;
    for (const Event& e : events_) {
      if (e.id == id) out.push_back(e.*field);
    }
    return out;
  }
  struct Event {
    std::string id;
    JobState state;
    ChangeOrigin origin;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
};

inline Completion Done(JobState state, std::string output) {
  Completion c;
  c.state = state;
  c.output = std::move(output);
  c.finish_reason = state == JobState::kSucceeded ? "stop" : "error";
  return c;
}

class StoreContractTest : public ::testing::TestWithParam<Backend>, protected StoreTestHelpers {
 public:
  static void TearDownTestSuite() { shared_redis_.Stop(); }

 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRedis) {
      if (RedisServer::FindBinary().empty()) {
        GTEST_SKIP() << "redis-server is not installed: Redis cases skipped";
      }
      std::string why;
      redis_ = shared_redis_.Get(&why);
      ASSERT_NE(redis_, nullptr) << why;
      prefix_ = shared_redis_.NextPrefix("contract");
    } else {
      std::string pattern = (fs::temp_directory_path() / "glmq_contract_XXXXXX").string();
      ASSERT_NE(mkdtemp(pattern.data()), nullptr);
      dir_ = pattern;
    }
    auto opened = Open(events_.Listener());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
    }
  }

  bool redis() const { return GetParam() == Backend::kRedis; }

  RedisStoreOptions RedisOptions() const {
    RedisStoreOptions options;
    options.url = redis_->url();
    options.prefix = prefix_;
    return options;
  }

  // Another store on the same data: for Redis a second "process" on the same server.
  Result<std::unique_ptr<JobStore>> Open(JobListener listener) {
    if (redis()) {
      auto opened = RedisJobStore::Open(RedisOptions(), std::move(listener));
      if (!opened.ok()) return opened.status();
      return std::unique_ptr<JobStore>(std::move(opened).value());
    }
    auto opened = SqliteJobStore::Open((dir_ / "jobs.db").string(), std::move(listener));
    if (!opened.ok()) return opened.status();
    return std::unique_ptr<JobStore>(std::move(opened).value());
  }

  JobStore& store() override { return *store_; }

  int64_t Position(const std::string& id) {
    auto p = store_->QueuePosition(id);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : -1;
  }

  // A job of `tenant` whose order key is its arrival, `created_at`.
  Job InsertFor(const std::string& tenant, TimeMs created_at) {
    Job job = MakeJob(/*order_key=*/created_at, created_at);
    job.tenant = tenant;
    EXPECT_TRUE(store_->Insert(job).ok());
    return job;
  }

  std::vector<std::string> ListIds(std::optional<JobState> state, int32_t limit,
                                   const std::string& after = "") {
    auto page =
        store_->List({.state = state, .limit = limit, .after = after, .tenant = std::nullopt});
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const Job& j : *page) ids.push_back(j.id);
    }
    return ids;
  }

  static inline SuiteRedisServer shared_redis_;
  RedisServer* redis_ = nullptr;  // shared_redis_'s server, for the Redis cases
  std::string prefix_;
  fs::path dir_;
  EventLog events_;
  std::unique_ptr<JobStore> store_;
};

}  // namespace glmq::contract
