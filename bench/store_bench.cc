// store_bench: what the queue questions of every submit cost as the queue grows.
//
// Fills a SqliteJobStore with queued jobs (0, 1k, 10k, 50k) and, at each size, times
// WorkBefore with a key behind every queued job (a new short job's key is near "now", so
// nearly the whole queue is ahead of it), WorkBefore with random keys within the queue,
// and QueuePosition of random queued jobs. Also times reopening the full store, which
// reads the queue back from disk.
//
//   store_bench [dir]   (default: a fresh folder under the system temp folder)
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/job.h"
#include "store/sqlite_store.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int64_t kSizes[] = {0, 1'000, 10'000, 50'000};
constexpr int kCalls = 2'000;
// Enough concurrent writers that group commit fills its batches: one fsync per batch.
constexpr int kInsertThreads = 64;
constexpr int64_t kBaseKey = 1'700'000'000'000;
constexpr int64_t kKeySpread = 10'000'000;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::unique_ptr<glmq::SqliteJobStore> OpenOrDie(const std::string& path) {
  auto opened = glmq::SqliteJobStore::Open(path, nullptr);
  if (!opened.ok()) {
    std::fprintf(stderr, "open %s: %s\n", path.c_str(), opened.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(opened).value();
}

// Inserts `count` queued jobs from many threads; their ids are appended to `ids`.
void InsertJobs(glmq::SqliteJobStore& store, int64_t count, std::vector<std::string>* ids) {
  std::vector<std::vector<std::string>> per_thread(kInsertThreads);
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kInsertThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + ids->size());
      for (int64_t i = next++; i < count; i = next++) {
        glmq::Job job;
        job.id = glmq::NewJobId();
        job.order_key = kBaseKey + static_cast<int64_t>(rng() % kKeySpread);
        job.created_at = kBaseKey + i;
        job.prompt_tokens = 100 + static_cast<int64_t>(rng() % 100'000);
        job.request.text = "bench document";
        job.request.sampling.max_tokens = 16 + static_cast<int32_t>(rng() % 1'000);
        glmq::Status status = store.Insert(job);
        if (!status.ok()) {
          std::fprintf(stderr, "insert: %s\n", status.ToString().c_str());
          failed = true;
          return;
        }
        per_thread[t].push_back(std::move(job.id));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  if (failed) std::exit(1);
  for (auto& some : per_thread) ids->insert(ids->end(), some.begin(), some.end());
}

// With `behind_all`, every key sorts after the whole queue; otherwise keys are random
// within it.
double MicrosPerWorkBefore(glmq::SqliteJobStore& store, bool behind_all) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> keys;
  for (int i = 0; i < kCalls; ++i) {
    keys.push_back(kBaseKey +
                   (behind_all ? kKeySpread + i : static_cast<int64_t>(rng() % kKeySpread)));
  }
  const auto start = Clock::now();
  int64_t checksum = 0;
  for (int64_t key : keys) {
    auto ahead = store.WorkBefore(key);
    if (!ahead.ok()) {
      std::fprintf(stderr, "WorkBefore: %s\n", ahead.status().ToString().c_str());
      std::exit(1);
    }
    checksum += ahead->jobs;
  }
  const double micros = Seconds(start) * 1e6 / kCalls;
  if (checksum < 0) std::printf("impossible\n");  // keeps the calls observable
  return micros;
}

double MicrosPerQueuePosition(glmq::SqliteJobStore& store, const std::vector<std::string>& ids) {
  std::mt19937_64 rng(42);
  std::vector<const std::string*> picks;
  for (int i = 0; i < kCalls; ++i) picks.push_back(&ids[rng() % ids.size()]);
  const auto start = Clock::now();
  for (const std::string* id : picks) {
    auto position = store.QueuePosition(*id);
    if (!position.ok() || *position <= 0) {
      std::fprintf(stderr, "QueuePosition(%s) failed or not queued\n", id->c_str());
      std::exit(1);
    }
  }
  return Seconds(start) * 1e6 / kCalls;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  bool remove_dir = false;
  if (argc > 1) {
    dir = argv[1];
    fs::create_directories(dir);
  } else {
    std::string pattern = (fs::temp_directory_path() / "glmq_store_bench_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = pattern;
    remove_dir = true;
  }
  const std::string path = (dir / "jobs.db").string();
  std::unique_ptr<glmq::SqliteJobStore> store = OpenOrDie(path);

  std::printf("%12s %14s %18s %22s %18s\n", "queued_jobs", "inserts_per_s", "work_before_us",
              "work_before_random_us", "queue_position_us");
  std::vector<std::string> ids;
  for (int64_t size : kSizes) {
    const int64_t missing = size - static_cast<int64_t>(ids.size());
    const auto insert_start = Clock::now();
    InsertJobs(*store, missing, &ids);
    const double insert_seconds = Seconds(insert_start);
    const double work_before_us = MicrosPerWorkBefore(*store, /*behind_all=*/true);
    const double work_before_random_us = MicrosPerWorkBefore(*store, /*behind_all=*/false);
    if (ids.empty()) {
      std::printf("%12lld %14s %18.2f %22.2f %18s\n", static_cast<long long>(size), "-",
                  work_before_us, work_before_random_us, "-");
      continue;
    }
    const double position_us = MicrosPerQueuePosition(*store, ids);
    std::printf("%12lld %14.0f %18.2f %22.2f %18.2f\n", static_cast<long long>(size),
                missing / insert_seconds, work_before_us, work_before_random_us, position_us);
    std::fflush(stdout);
  }

  store.reset();
  const auto reopen_start = Clock::now();
  store = OpenOrDie(path);
  std::printf("reopen with %zu queued jobs: %.1f ms\n", ids.size(), Seconds(reopen_start) * 1e3);
  store.reset();

  if (remove_dir) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  return 0;
}
