// GroupCommitWriter: the one thread that writes to a SQLite database, committing the writes
// of many callers in one transaction.
//
// A durable commit costs an fsync; one per write would cap the store at the disk's fsync
// rate. Callers queue their writes and block; the writer thread puts everything that queued
// up during the previous commit into the next transaction, so concurrent writers share an
// fsync, and each caller returns only once its own write is durable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "store/job_store.h"
#include "store/queue_index.h"
#include "store/sqlite_db.h"

namespace glmq::sqlite {

// What one write sees on the writer thread.
struct WriteContext {
  struct Event {
    std::string id;
    JobState state;
  };

  Connection& db;
  std::vector<Event> events;
  std::vector<QueueChange> queue_changes;

  // Reports a state change to the listener once the transaction commits, and never if the
  // write or the transaction fails.
  void Publish(std::string id, JobState state) { events.push_back({std::move(id), state}); }

  // Every write that moves a job into or out of the queued state must say so here, or the
  // queue index drifts from the database. Applied like Publish: after the commit, or never.
  void JoinedQueue(std::string id, const QueuedJob& job) {
    queue_changes.push_back({std::move(id), job, std::nullopt});
  }
  void LeftQueue(std::string id) {
    queue_changes.push_back({std::move(id), std::nullopt, std::nullopt});
  }
  // Fair share's counters move with the commit too.
  void Served(ServiceCharge charge) {
    queue_changes.push_back({.id = {}, .job = std::nullopt, .served = std::move(charge)});
  }

  // The jobs this transaction has queued so far (not in the queue index until it commits)
  // that sort before `key`, and their work.
  JobStore::WorkAhead QueuedBefore(const QueueKey& key) const;
};

class GroupCommitWriter {
 public:
  using WriteFn = std::function<Status(WriteContext&)>;
  // Whether a write may run twice in one transaction: once, undone, then again. Such a
  // write reads only its inputs and overwrites its outputs (its status, what it placed),
  // and gives the same result each time.
  enum class Rerun { kNo, kSafe };

  // Takes over `db` (open, not in a transaction) and starts the writer thread. `listener`
  // may be empty; it runs on the writer thread after each commit, before the callers whose
  // writes it reports are woken, so a caller can count on its events having been delivered.
  // The queue changes of each commit go to `queue_index` (may be null; must outlive the
  // writer) at the same point, before the listener: a caller that returns from an Insert
  // finds its job in the index.
  static Result<std::unique_ptr<GroupCommitWriter>> Start(std::unique_ptr<Connection> db,
                                                          JobListener listener,
                                                          QueueIndex* queue_index);
  // Finishes the writes already queued, then closes the connection.
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Runs `fn` inside the next group transaction and returns once that transaction is
  // durable, with fn's status (or the transaction's, when the commit failed). `fn` runs in
  // its own savepoint: when it fails, only its changes are undone. Blocks the caller.
  Status Write(WriteFn fn);
  // Runs each of `fns` in the next group transaction (or the next few, past the batch
  // bound), and returns once all are durable: one status per fn. As with Write, a failed fn
  // leaves no change behind. With Rerun::kSafe, consecutive fns share a savepoint (far
  // fewer pages copied to SQLite's statement journal); when one fails, they are undone and
  // run again, each in its own.
  std::vector<Status> WriteAll(std::vector<WriteFn> fns, Rerun rerun = Rerun::kNo);

  // How the commits have gone (each commit records its outcome).
  const WriteHealth& health() const { return health_; }
  // How many times writes sharing a savepoint were undone and run again, one by one.
  int64_t reruns() const { return reruns_.load(std::memory_order_relaxed); }
  // Fault injection for tests: while on, every commit fails as a store that refuses
  // writes does (kUnavailable), and nothing is written.
  void InjectFault(bool on) { fault_ = on; }

 private:
  struct Op;

  GroupCommitWriter(std::unique_ptr<Connection> db, JobListener listener, QueueIndex* queue_index);
  void Loop();
  void CommitBatch(const std::vector<Op*>& batch);
  // The ops [begin, end) of a group: each in its own savepoint, or sharing one. An error
  // means the transaction is lost; an op's own failure is in its status.
  Status RunEach(WriteContext& ctx, const std::vector<Op*>& batch, size_t begin, size_t end);
  Status RunShared(WriteContext& ctx, const std::vector<Op*>& batch, size_t begin, size_t end);
  void Notify(const std::vector<WriteContext::Event>& events);

  const JobListener listener_;
  QueueIndex* const queue_index_;   // may be null; only thread_ changes it
  std::unique_ptr<Connection> db_;  // used only by thread_ once it runs

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op*> queue_;  // guarded by mu_; each Op lives on its caller's stack
  bool stopping_ = false;  // guarded by mu_
  WriteHealth health_;
  std::atomic<bool> fault_{false};
  std::atomic<int64_t> reruns_{0};
  std::thread thread_;
};

}  // namespace glmq::sqlite
