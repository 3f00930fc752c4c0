#include "store/sqlite_writer.h"

#include <pthread.h>

#include <algorithm>
#include <exception>
#include <semaphore>
#include <unordered_set>
#include <utility>

namespace glmq::sqlite {
namespace {

// Bounds one group transaction, so a flood of writers cannot make one commit arbitrarily
// large (each write may carry a 10 MB document).
constexpr size_t kMaxBatchOps = 256;

constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kSavepoint[] = "SAVEPOINT op";
constexpr char kRelease[] = "RELEASE op";
constexpr char kRollbackTo[] = "ROLLBACK TO op";

constexpr char kRunSavepoint[] = "SAVEPOINT run";
constexpr char kRunRelease[] = "RELEASE run";
constexpr char kRunRollbackTo[] = "ROLLBACK TO run";

// Runs one write, its exceptions turned into its status.
Status RunGuarded(WriteContext& ctx, const GroupCommitWriter::WriteFn& fn) {
  try {
    return fn(ctx);
  } catch (const std::exception& e) {
    return Internal(std::string("job store write: ") + e.what());
  } catch (...) {
    return Internal("job store write: unknown exception");
  }
}

// Runs one write inside a savepoint, so its failure undoes its own changes and no one else's.
Status RunInSavepoint(WriteContext& ctx, const GroupCommitWriter::WriteFn& fn) {
  GLMQ_RETURN_IF_ERROR(ctx.db.Run(kSavepoint));
  Status status = RunGuarded(ctx, fn);
  if (status.ok()) {
    status = ctx.db.Run(kRelease);
    if (status.ok()) return status;
  }
  if (ctx.db.InTransaction()) {
    (void)ctx.db.Run(kRollbackTo);
    (void)ctx.db.Run(kRelease);
  }
  return status;
}

}  // namespace

JobStore::WorkAhead WriteContext::QueuedBefore(const QueueKey& key) const {
  // From the last change back: a job's latest change (it joined, left or moved) is the one
  // that counts. O(changes) a call, so a group of n inserts costs O(n^2), not O(n^3).
  JobStore::WorkAhead ahead;
  std::unordered_set<std::string_view> seen;
  for (auto it = queue_changes.rbegin(); it != queue_changes.rend(); ++it) {
    if (it->id.empty() || !seen.insert(it->id).second) continue;
    if (!it->job || !(it->job->key < key)) continue;
    ahead.jobs += 1;
    ahead.prompt_tokens += it->job->prompt_tokens;
    ahead.max_tokens += it->job->max_tokens;
  }
  return ahead;
}

// One caller's write, waiting on the caller's stack while the writer thread runs it.
struct GroupCommitWriter::Op {
  Op(WriteFn f, bool runs_again) : fn(std::move(f)), rerunnable(runs_again) {}

  WriteFn fn;
  bool rerunnable;
  Status status;
  std::binary_semaphore done{0};
};

Result<std::unique_ptr<GroupCommitWriter>> GroupCommitWriter::Start(std::unique_ptr<Connection> db,
                                                                    JobListener listener,
                                                                    QueueIndex* queue_index) {
  std::unique_ptr<GroupCommitWriter> writer(
      new GroupCommitWriter(std::move(db), std::move(listener), queue_index));
  try {
    writer->thread_ = std::thread([raw = writer.get()] {
      pthread_setname_np(pthread_self(), "glmq-store");  // in top -H, perf, gdb
      raw->Loop();
    });
  } catch (const std::exception& e) {
    return Internal(std::string("cannot start the store's writer thread: ") + e.what());
  }
  return writer;
}

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<Connection> db, JobListener listener,
                                     QueueIndex* queue_index)
    : listener_(std::move(listener)), queue_index_(queue_index), db_(std::move(db)) {}

GroupCommitWriter::~GroupCommitWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

Status GroupCommitWriter::Write(WriteFn fn) {
  Op op(std::move(fn), /*runs_again=*/false);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Unavailable("the job store is closing");
    queue_.push_back(&op);
  }
  cv_.notify_one();
  op.done.acquire();
  return std::move(op.status);
}

std::vector<Status> GroupCommitWriter::WriteAll(std::vector<WriteFn> fns, Rerun rerun) {
  std::deque<Op> ops;  // never moved: the writer thread holds pointers to them
  for (WriteFn& fn : fns) ops.emplace_back(std::move(fn), rerun == Rerun::kSafe);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return std::vector<Status>(ops.size(), Unavailable("the job store is closing"));
    for (Op& op : ops) queue_.push_back(&op);
  }
  cv_.notify_one();
  std::vector<Status> statuses;
  statuses.reserve(ops.size());
  for (Op& op : ops) {
    op.done.acquire();
    statuses.push_back(std::move(op.status));
  }
  return statuses;
}

void GroupCommitWriter::Loop() {
  std::vector<Op*> batch;
  batch.reserve(kMaxBatchOps);
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and every accepted write is done
      // Everything that queued up during the previous commit's fsync goes into this one.
      while (!queue_.empty() && batch.size() < kMaxBatchOps) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    CommitBatch(batch);
    batch.clear();
  }
}

void GroupCommitWriter::CommitBatch(const std::vector<Op*>& batch) {
  WriteContext ctx{*db_, {}, {}};
  Status batch_failure =
      fault_ ? Unavailable("the job store refuses writes (injected fault)") : db_->Run(kBegin);
  for (size_t i = 0; batch_failure.ok() && i < batch.size();) {
    // Consecutive writes that may run again share one savepoint: SQLite copies each page a
    // savepoint changes to its statement journal, and ten pages of 16 KiB for every insert
    // (its row and its index entries) made the journal, not the data, most of what a
    // 50,000-line batch wrote. When one of them fails, the run is undone and run again, the
    // failed write alone, so that only its changes are lost.
    size_t end = i + 1;
    while (batch[i]->rerunnable && end < batch.size() && batch[end]->rerunnable) ++end;
    batch_failure =
        batch[i]->rerunnable ? RunShared(ctx, batch, i, end) : RunEach(ctx, batch, i, end);
    i = end;
  }
  if (batch_failure.ok()) {
    batch_failure = db_->Run(kCommit);
    if (!batch_failure.ok() && db_->InTransaction()) (void)db_->Exec("ROLLBACK");
  }
  if (!batch_failure.ok()) {
    ctx.events.clear();
    ctx.queue_changes.clear();
    // Writes that failed on their own keep their reason; the rest, done or never run,
    // share the batch's.
    for (Op* op : batch) {
      if (op->status.ok()) op->status = batch_failure;
    }
  }
  health_.Record(batch_failure);
  // A write SQLite refused on its own (a full disk can fail one statement and keep the
  // transaction) counts as much as a refused commit.
  for (Op* op : batch) {
    if (batch_failure.ok() && WriteHealth::IsStoreFailure(op->status)) health_.Record(op->status);
  }
  // Readers of the index see each commit whole, and never a change the database lacks.
  if (queue_index_ != nullptr) queue_index_->Apply(ctx.queue_changes);
  Notify(ctx.events);
  for (Op* op : batch) op->done.release();
}

namespace {

// The status of a group whose transaction SQLite gave up (disk full, I/O error): nothing in
// it counts.
Status TransactionLost(const Status& cause) {
  return Status(cause.ok() ? StatusCode::kInternal : cause.code(),
                "transaction rolled back: " + cause.message());
}

}  // namespace

Status GroupCommitWriter::RunEach(WriteContext& ctx, const std::vector<Op*>& batch, size_t begin,
                                  size_t end) {
  for (size_t i = begin; i < end; ++i) {
    Op* op = batch[i];
    const size_t events_before = ctx.events.size();
    const size_t queue_changes_before = ctx.queue_changes.size();
    op->status = RunInSavepoint(ctx, op->fn);
    if (!db_->InTransaction()) return TransactionLost(op->status);
    if (!op->status.ok()) {
      ctx.events.resize(events_before);
      ctx.queue_changes.resize(queue_changes_before);
    }
  }
  return Status::Ok();
}

Status GroupCommitWriter::RunShared(WriteContext& ctx, const std::vector<Op*>& batch, size_t begin,
                                    size_t end) {
  while (end - begin > 1) {
    const size_t events_before = ctx.events.size();
    const size_t queue_changes_before = ctx.queue_changes.size();
    GLMQ_RETURN_IF_ERROR(db_->Run(kRunSavepoint));
    size_t failed = end;
    for (size_t i = begin; i < end && failed == end; ++i) {
      batch[i]->status = RunGuarded(ctx, batch[i]->fn);
      if (!batch[i]->status.ok()) failed = i;
    }
    if (!db_->InTransaction()) return TransactionLost(batch[std::min(failed, end - 1)]->status);
    if (failed == end) return db_->Run(kRunRelease);
    GLMQ_RETURN_IF_ERROR(db_->Run(kRunRollbackTo));
    GLMQ_RETURN_IF_ERROR(db_->Run(kRunRelease));
    ctx.events.resize(events_before);
    ctx.queue_changes.resize(queue_changes_before);
    reruns_.fetch_add(1, std::memory_order_relaxed);
    // Those before it succeeded: together again. The failed one alone, so that its status
    // is its own and its changes go. Then the rest, together.
    if (failed > begin) GLMQ_RETURN_IF_ERROR(RunShared(ctx, batch, begin, failed));
    GLMQ_RETURN_IF_ERROR(RunEach(ctx, batch, failed, failed + 1));
    begin = failed + 1;
  }
  return RunEach(ctx, batch, begin, end);
}

void GroupCommitWriter::Notify(const std::vector<WriteContext::Event>& events) {
  for (const WriteContext::Event& event : events) {
    TellListener(listener_, event.id, event.state, ChangeOrigin::kHere);
  }
}

}  // namespace glmq::sqlite
