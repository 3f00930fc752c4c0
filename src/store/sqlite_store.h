// SqliteJobStore: the embedded JobStore of `glmq serve`, one SQLite file in WAL mode.
//
// Durability: synchronous=FULL, so a write acknowledged to a caller survives kill -9 and
// power loss. Throughput: every write goes through one writer thread that commits all
// writes waiting at that moment in one transaction (group commit), so N concurrent Inserts
// cost one fsync, not N. Reads run on pooled read connections and never wait for the writer
// (WAL lets readers see the last commit while a write is in progress).
//
// Queue questions: QueuePosition and WorkBefore, asked on every submit, read an in-memory
// QueueIndex instead of counting every queued job ahead in SQL. It is exact because this
// store is the only writer of its file (`glmq serve` locks the data dir) and every write
// that moves a job into or out of the queue reports it to the writer, which applies it
// after the commit. Open builds the index from the file.
//
// Threads: any thread may call any method. The writer thread owns the write connection,
// calls the listener and updates the queue index; a read connection is used by one caller
// at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "store/job_store.h"

namespace glmq {

class QueueIndex;

namespace sqlite {
class Connection;
class GroupCommitWriter;
struct WriteContext;
}  // namespace sqlite

class SqliteJobStore final : public JobStore {
 public:
  // Opens or creates the database file at `path` (its folder must exist) and migrates its
  // schema. `listener` may be empty; it runs on the store's writer thread after each commit
  // and before the callers whose writes it reports are woken, so it must be quick.
  static Result<std::unique_ptr<SqliteJobStore>> Open(const std::string& path,
                                                      JobListener listener);

  // Finishes the writes already queued, then closes. No call may be in flight.
  ~SqliteJobStore() override;

  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  // Stores the job as queued. Runtime fields (attempts, progress, result) start empty; a
  // created_at of 0 becomes now. kConflict when the id exists, kInvalidArgument when the
  // id is empty or a request string is not valid UTF-8.
  Status Insert(const Job& job) override;
  // The work ahead comes from the queue index (committed jobs) plus the batch's earlier jobs.
  std::vector<Result<Placement>> InsertBatch(std::vector<NewJob>& jobs) override;
  // Without the request, `text` and `messages` stay empty; the other request fields are
  // filled (they are small).
  Result<Job> Get(const std::string& id, bool with_request = true) override;
  // Newest first; `filter.after` is the id of the last job of the previous page, and the
  // page holds jobs created before it. kInvalidArgument for an unknown cursor. Limit is
  // clamped to 1..1000 (<= 0 means 50).
  Result<std::vector<Job>> List(const ListFilter& filter) override;
  using JobStore::ClaimNext;
  Result<std::optional<Job>> ClaimNext(const std::string& worker, int64_t lease_ms,
                                       ClaimLimit limit) override;
  Status RenewLeases(const std::string& worker, const std::vector<std::string>& ids,
                     int64_t lease_ms) override;
  // kConflict unless the job is running; progress is not a state change, so no event.
  Status UpdateProgress(const std::string& id, const std::string& worker,
                        const JobProgress& progress) override;
  // kInvalidArgument unless completion.state is terminal; kNotFound for an unknown id.
  Status Complete(const std::string& id, const std::string& worker,
                  const Completion& completion) override;
  // Returns the job without its request.
  Result<Job> Cancel(const std::string& id) override;
  // One group commit for all.
  std::vector<Status> CancelMany(const std::vector<std::string>& ids) override;
  Status SetQueuedCost(const std::string& id, int64_t prompt_tokens, LengthClass length_class,
                       int64_t order_key) override;
  Status FailQueued(const std::string& id, const std::string& error_code,
                    const std::string& error_message) override;
  Result<int64_t> ExpireOverdue(TimeMs now) override;
  // A reaped job that had cancel_requested becomes cancelled rather than queued again.
  // `max_deliveries` <= 0 means no limit.
  Result<int64_t> ReapExpiredLeases(TimeMs now, int32_t max_deliveries) override;
  // kNotFound for an unknown id. O(log n) in the number of queued jobs.
  Result<int64_t> QueuePosition(const std::string& id) override;
  // O(log n) in the number of queued jobs; never touches the database.
  Result<WorkAhead> WorkBefore(int64_t order_key) override;
  Result<WorkAhead> QueuedOf(const std::string& tenant) override;
  using JobStore::Head;
  Result<std::optional<QueueHead>> Head(ClaimLimit limit) override;
  void SetFairShare(bool on) override;
  Status SetTenantSettings(const TenantSettings& settings) override;
  // Every length class and every state appears, with zeros where nothing is.
  Result<QueueSnapshot> Snapshot() override;
  Status CheckWritable() override;
  // In one short transaction; the pages freed go back to the file system
  // (incremental vacuum) on files created with it.
  Result<int64_t> DeleteEnded(TimeMs ended_before, int32_t limit) override;
  const WriteHealth& write_health() const override;
  // The database and its WAL, and the free space of their file system.
  StorageUsage Storage() const override;
  // Fault injection for tests: while on, every write fails (GroupCommitWriter::InjectFault).
  void InjectWriteFault(bool on);

  // Idempotency records live in the database, so an answer outlives a restart.
  Result<IdempotencyState> BeginIdempotent(const IdempotencyClaim& claim, TimeMs now,
                                           int64_t in_flight_ms) override;
  Status InsertIdempotent(const Job& job, const IdempotencyClaim& claim, int status,
                          const std::string& response, int64_t ttl_ms) override;
  Status FinishIdempotent(const IdempotencyClaim& claim, int status, const std::string& response,
                          int64_t ttl_ms) override;
  Status AbandonIdempotent(const IdempotencyClaim& claim) override;
  // The worker registry and named leases are kept in memory: one process owns the file
  // (`glmq serve` locks the data dir), and after a restart every holder asks again.
  Status WorkerHeartbeat(const std::string& worker, TimeMs now, int64_t ttl_ms,
                         const WorkerReport& report) override;
  Result<int64_t> LiveWorkers(TimeMs now) override;
  Result<std::vector<WorkerReport>> LiveWorkerReports(TimeMs now) override;
  Result<bool> AcquireLease(const std::string& name, const std::string& holder, TimeMs now,
                            int64_t lease_ms) override;
  Result<std::vector<WebhookDue>> ClaimWebhooks(TimeMs now, int64_t lease_ms,
                                                int32_t limit) override;
  Status EndWebhook(const std::string& job_id) override;
  Status RetryWebhook(const std::string& job_id, TimeMs due_at) override;
  Status DeferWebhook(const std::string& id, TimeMs due_at) override;
  Status QueueWebhook(const std::string& id, TimeMs due_at) override;
  Result<std::vector<UsageRow>> Usage(const std::optional<std::string>& tenant, int64_t from_day,
                                      int64_t to_day) override;
  Status AddApiKey(const ApiKeyRecord& key) override;
  Result<std::vector<ApiKeyRecord>> ApiKeys() override;
  Result<bool> RemoveApiKey(const std::string& id) override;
  Status Release(const std::string& id, const std::string& worker) override;

  // For tests and debugging: kInternal unless the queue index holds exactly the database's
  // queued jobs and answers QueuePosition and WorkBefore for them as SQL counts would.
  // Reads every queued job; meaningful only while no write is in flight, since the index
  // catches up with a commit just after it.
  Status CheckQueueIndex();

 private:
  // A reading connection from the pool, given back when the lease ends.
  class ReaderLease {
   public:
    ReaderLease(SqliteJobStore* store, std::unique_ptr<sqlite::Connection> db);
    ReaderLease(ReaderLease&&);
    ReaderLease& operator=(ReaderLease&&) = delete;
    ~ReaderLease();

    sqlite::Connection* operator->() { return db_.get(); }
    sqlite::Connection& operator*() { return *db_; }

   private:
    SqliteJobStore* store_;
    std::unique_ptr<sqlite::Connection> db_;
  };

  SqliteJobStore(std::string path, std::unique_ptr<QueueIndex> queue_index,
                 std::unique_ptr<sqlite::GroupCommitWriter> writer);

  // RetryWebhook and DeferWebhook: one UPDATE of a delivery by id and due time.
  Status RescheduleWebhook(const char* sql, const std::string& id, TimeMs due_at);

  // What Insert encodes on the caller's thread, to keep the writer thread's work to SQL.
  struct EncodedJob {
    std::string params;
    std::string messages;
    TimeMs created_at = 0;
  };
  static Result<EncodedJob> EncodeJob(const Job& job);
  // Inserts the rows of a new job inside a write; reports it to the listener and the index.
  static Status InsertRows(sqlite::WriteContext& ctx, const Job& job, const EncodedJob& encoded);

  Result<ReaderLease> AcquireReader();
  void ReleaseReader(std::unique_ptr<sqlite::Connection> reader);

  const std::string path_;
  // Declared before writer_, so it outlives the writer thread that updates it.
  std::unique_ptr<QueueIndex> queue_index_;
  std::mutex tenant_retention_mu_;
  std::map<std::string, int64_t> tenant_retention_ms_;  // guarded by tenant_retention_mu_
  // Every write goes through here; it owns the write connection and its thread.
  std::unique_ptr<sqlite::GroupCommitWriter> writer_;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite::Connection>> idle_readers_;  // guarded by readers_mu_

  struct NamedLease {
    std::string holder;
    TimeMs expires_at = 0;
  };
  struct LiveWorker {
    TimeMs alive_until = 0;
    WorkerReport report;
  };
  std::mutex registry_mu_;
  std::unordered_map<std::string, LiveWorker> workers_;  // guarded by registry_mu_
  std::unordered_map<std::string, NamedLease> leases_;   // guarded by registry_mu_
};

}  // namespace glmq
