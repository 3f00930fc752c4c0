// InsertBatcher: many concurrent submits, one store write.
//
// A submit's cost is mostly the store's: a round trip to Redis and its AOF fsync, or a
// SQLite commit. Submits handed to the batcher queue up while the previous batch is being
// written, and the next JobStore::InsertBatch takes all of them at once (group commit):
// under load a batch carries tens of jobs for the price of one; alone, a submit waits for
// no one. The waiting coroutine is resumed on its own executor, so io threads never block.
//
// Threads: Options::in_flight threads of its own write; Insert may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on

#include "core/status.h"
#include "store/job_store.h"

namespace glmq {

namespace asio = boost::asio;

class InsertBatcher {
 public:
  struct Options {
    size_t max_jobs = 256;         // per batch
    size_t max_bytes = 16u << 20;  // request text per batch; a larger job goes alone
    // Batches written at once, each by a thread of its own. While one is written the next
    // waits for `min_overlap_jobs` before it starts, so that overlapping does not shrink
    // batches: a second batch in flight lets the store take both in one go (Redis reads
    // both before its fsync), worth ~18% of submit throughput on a 16-core machine and a
    // ~7% loss on 2 cores, where the threads compete for the CPU.
    int in_flight = 1;
    size_t min_overlap_jobs = 8;
  };
  // A job as stored (estimated_wait_seconds filled in) and where it landed.
  struct Inserted {
    Job job;
    JobStore::Placement placement;
  };

  explicit InsertBatcher(JobStore& store, Options options);
  explicit InsertBatcher(JobStore& store) : InsertBatcher(store, Options{}) {}
  // Writes what is queued, then stops.
  ~InsertBatcher();
  InsertBatcher(const InsertBatcher&) = delete;
  InsertBatcher& operator=(const InsertBatcher&) = delete;

  // Inserts `job` in the next batch. The refusal of this job alone (kConflict, ...) or the
  // failure of its batch comes back as a Status.
  asio::awaitable<Result<Inserted>> Insert(JobStore::NewJob job) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(Result<Inserted>)>(
        [this](auto handler, JobStore::NewJob job) {
          Enqueue(std::move(job),
                  std::make_unique<HandlerWaiter<decltype(handler)>>(std::move(handler)));
        },
        asio::use_awaitable, std::move(job));
  }

  // One JobStore::InsertBatch on the calling thread, each job handed back with its outcome:
  // what the batcher does with each batch, for callers that may block.
  static std::vector<Result<Inserted>> InsertNow(JobStore& store,
                                                 std::vector<JobStore::NewJob> jobs);

  // Batches written so far and the jobs in them (for tests).
  struct Counts {
    int64_t batches = 0;
    int64_t jobs = 0;
  };
  Counts counts() const;

 private:
  // Someone waiting for one job's outcome.
  class Waiter {
   public:
    virtual ~Waiter() = default;
    virtual void Done(Result<Inserted> result) = 0;
  };
  // Hands the outcome to an Asio completion handler on the handler's own executor.
  template <class Handler>
  class HandlerWaiter final : public Waiter {
   public:
    explicit HandlerWaiter(Handler handler) : handler_(std::move(handler)) {}
    void Done(Result<Inserted> result) override {
      auto executor = asio::get_associated_executor(handler_);
      asio::post(executor, [handler = std::move(handler_), result = std::move(result)]() mutable {
        std::move(handler)(std::move(result));
      });
    }

   private:
    Handler handler_;
  };
  struct Pending {
    JobStore::NewJob job;
    std::unique_ptr<Waiter> waiter;
  };

  void Enqueue(JobStore::NewJob job, std::unique_ptr<Waiter> waiter);
  void Loop();

  JobStore& store_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  Counts counts_;              // guarded by mu_
  int writing_ = 0;            // batches being written; guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace glmq
