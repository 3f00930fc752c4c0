// SqliteJobStore: the JobStore operations as SQL on the writer thread (sqlite_writer.h),
// the queue index kept beside it. Over 500 lines: one method per JobStore operation; the
// schema, the statements and the coordination between processes have files of their own.
#include "store/sqlite_store.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/job_codec.h"
#include "store/queue_index.h"
#include "store/sqlite_db.h"
#include "store/sqlite_jobs_sql.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_writer.h"

namespace glmq {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr size_t kMaxIdleReaders = 16;
constexpr int32_t kDefaultListLimit = 50;
constexpr int32_t kMaxListLimit = 1000;

using namespace jobs_sql;  // NOLINT: the statements and row readers of this store

}  // namespace

// A read connection on loan from the pool; returns it when dropped.
SqliteJobStore::ReaderLease::ReaderLease(SqliteJobStore* store,
                                         std::unique_ptr<sqlite::Connection> db)
    : store_(store), db_(std::move(db)) {}
SqliteJobStore::ReaderLease::ReaderLease(ReaderLease&&) = default;
SqliteJobStore::ReaderLease::~ReaderLease() {
  if (db_) store_->ReleaseReader(std::move(db_));
}

Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const std::string& path,
                                                             JobListener listener) {
  GLMQ_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> db,
                        sqlite::Connection::Open(path, kBusyTimeoutMs));
  // Takes effect only on a new file, before WAL mode: 16 KiB pages write a 10 MB document
  // in half the time of 4 KiB ones, at little cost to the small updates.
  // auto_vacuum too: pages that retention frees go back to the file system.
  GLMQ_RETURN_IF_ERROR(db->Exec("PRAGMA page_size = 16384; PRAGMA auto_vacuum = INCREMENTAL;"));
  GLMQ_ASSIGN_OR_RETURN(std::string mode, db->Pragma("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return Internal("sqlite: " + path + " cannot use WAL (journal_mode is '" + mode + "')");
  }
  // FULL syncs the WAL at every commit: what a caller was told is stored survives power
  // loss, not only a crash of this process. Group commit pays for it.
  // temp_store MEMORY: the statement journal (the pages a savepoint or a statement with a
  // trigger changes, copied before the change) stays in memory and is emptied at each
  // savepoint's end; in a file it grew through the whole transaction, 16 KiB a page, and
  // was most of what cancelling a large batch wrote.
  GLMQ_RETURN_IF_ERROR(
      db->Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
               "PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -16384; "
               "PRAGMA temp_store = MEMORY;"));
  GLMQ_RETURN_IF_ERROR(sqlite::MigrateSchema(*db));
  // Read before the writer starts, so no commit can slip between the read and the index.
  auto queue_index = std::make_unique<QueueIndex>();
  {
    GLMQ_ASSIGN_OR_RETURN(auto queued, ReadQueuedJobs(*db));
    queue_index->Reset(queued);
  }
  GLMQ_ASSIGN_OR_RETURN(
      std::unique_ptr<sqlite::GroupCommitWriter> writer,
      sqlite::GroupCommitWriter::Start(std::move(db), std::move(listener), queue_index.get()));
  return std::unique_ptr<SqliteJobStore>(
      new SqliteJobStore(path, std::move(queue_index), std::move(writer)));
}

SqliteJobStore::SqliteJobStore(std::string path, std::unique_ptr<QueueIndex> queue_index,
                               std::unique_ptr<sqlite::GroupCommitWriter> writer)
    : path_(std::move(path)), queue_index_(std::move(queue_index)), writer_(std::move(writer)) {}

SqliteJobStore::~SqliteJobStore() = default;

Result<SqliteJobStore::ReaderLease> SqliteJobStore::AcquireReader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<sqlite::Connection> db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(db));
    }
  }
  GLMQ_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> db,
                        sqlite::Connection::Open(path_, kBusyTimeoutMs));
  GLMQ_RETURN_IF_ERROR(db->Exec("PRAGMA query_only = 1; PRAGMA cache_size = -8192;"));
  return ReaderLease(this, std::move(db));
}

void SqliteJobStore::ReleaseReader(std::unique_ptr<sqlite::Connection> reader) {
  std::lock_guard lock(readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(reader));
}

Result<SqliteJobStore::EncodedJob> SqliteJobStore::EncodeJob(const Job& job) {
  if (job.id.empty()) return InvalidArgument("job id is empty");
  if (job.state != JobState::kQueued) {
    return InvalidArgument(std::string("a new job must be queued, not ") + JobStateName(job.state));
  }
  if (job.shared_prompt_tokens < 0) return InvalidArgument("shared_prompt_tokens is negative");
  EncodedJob encoded;
  GLMQ_ASSIGN_OR_RETURN(encoded.params, EncodeRequestParams(job.request));
  GLMQ_ASSIGN_OR_RETURN(encoded.messages, EncodeMessages(job.request.messages));
  encoded.created_at = job.created_at > 0 ? job.created_at : NowMs();
  return encoded;
}

Status SqliteJobStore::InsertRows(sqlite::WriteContext& ctx, const Job& job,
                                  const EncodedJob& encoded) {
  int64_t seq = 0;
  {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement insert, ctx.db.Prepare(kInsertJob));
    insert.BindText(1, job.id);
    insert.BindText(2, LengthClassName(job.length_class));
    insert.BindInt(3, job.prompt_tokens);
    insert.BindInt(4, job.request.sampling.max_tokens);
    insert.BindInt(5, job.order_key);
    insert.BindInt(6, encoded.created_at);
    insert.BindInt(7, job.deadline_at);
    insert.BindDouble(8, job.estimated_wait_seconds);
    insert.BindText(9, encoded.params);
    insert.BindText(10, job.tenant);
    insert.BindInt(11, job.shared_prompt_tokens);
    GLMQ_RETURN_IF_ERROR(insert.Run());
    if (ctx.db.Changes() == 0) return Conflict("job " + job.id + " already exists");
    seq = ctx.db.LastInsertRowid();
  }
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement body, ctx.db.Prepare(kInsertBody));
  body.BindInt(1, seq);
  body.BindText(2, encoded.messages);
  body.BindText(3, job.request.text);
  GLMQ_RETURN_IF_ERROR(body.Run());
  ctx.Publish(job.id, JobState::kQueued);
  ctx.JoinedQueue(
      job.id, {.key = {.order_key = job.order_key, .created_at = encoded.created_at, .seq = seq},
               .prompt_tokens = job.prompt_tokens,
               .max_tokens = job.request.sampling.max_tokens,
               .tenant = job.tenant,
               .shared_prompt_tokens = job.shared_prompt_tokens});
  return Status::Ok();
}

Status SqliteJobStore::Insert(const Job& job) {
  GLMQ_ASSIGN_OR_RETURN(EncodedJob encoded, EncodeJob(job));
  return writer_->Write(
      [&](sqlite::WriteContext& ctx) -> Status { return InsertRows(ctx, job, encoded); });
}

std::vector<Result<JobStore::Placement>> SqliteJobStore::InsertBatch(std::vector<NewJob>& jobs) {
  std::vector<Result<Placement>> out(jobs.size(), Internal("not written"));
  std::vector<EncodedJob> encoded(jobs.size());
  std::vector<sqlite::GroupCommitWriter::WriteFn> writes;
  std::vector<size_t> written;  // index into `jobs` of each write
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto e = EncodeJob(jobs[i].job);
    if (!e.ok()) {
      out[i] = e.status();
      continue;
    }
    encoded[i] = std::move(*e);
    // The key as given: a write the writer runs again (after a failed group) starts over.
    const int64_t given_key = jobs[i].job.order_key;
    writes.push_back(
        [this, &jobs, &encoded, &out, i, given_key](sqlite::WriteContext& ctx) -> Status {
          Job& job = jobs[i].job;
          const auto work_before = [&](int64_t order_key) -> WorkAhead {
            if (!jobs[i].measure) return {};
            // A new job sorts after every queued job with its order key and created_at: its
            // seq is the largest.
            const QueueKey key{
                .order_key = order_key, .created_at = encoded[i].created_at, .seq = INT64_MAX};
            // The index holds what committed before this transaction; the transaction's own
            // inserts so far (this batch's earlier jobs among them) are added to it.
            WorkAhead ahead = queue_index_->WorkBefore(key);
            const WorkAhead pending = ctx.QueuedBefore(key);
            ahead.jobs += pending.jobs;
            ahead.prompt_tokens += pending.prompt_tokens;
            ahead.max_tokens += pending.max_tokens;
            return ahead;
          };
          // A job not measured keeps its key (as the Redis insert script does).
          const NewJobPlace place =
              PlaceNewJob(given_key, jobs[i].wait, jobs[i].slack_seconds, work_before,
                          jobs[i].measure ? jobs[i].kept_slack_seconds : std::nullopt);
          job.order_key = place.order_key;
          job.estimated_wait_seconds = place.estimated_wait_seconds;
          GLMQ_RETURN_IF_ERROR(InsertRows(ctx, job, encoded[i]));
          out[i] = Placement{.ahead = place.ahead, .position = place.ahead.jobs + 1};
          return Status::Ok();
        });
    written.push_back(i);
  }
  // Each write starts from the key it was given and overwrites what it placed: safe to run
  // again.
  std::vector<Status> statuses =
      writer_->WriteAll(std::move(writes), sqlite::GroupCommitWriter::Rerun::kSafe);
  for (size_t k = 0; k < written.size(); ++k) {
    if (!statuses[k].ok()) out[written[k]] = std::move(statuses[k]);
  }
  return out;
}

Result<Job> SqliteJobStore::Get(const std::string& id, bool with_request) {
  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select,
                        reader->Prepare(with_request ? kSelectJobWithBody : kSelectJob));
  select.BindText(1, id);
  GLMQ_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return NotFound("no job " + id);
  GLMQ_ASSIGN_OR_RETURN(Job job, ReadJob(select));
  if (with_request) GLMQ_RETURN_IF_ERROR(ReadBody(select, kJobColumnCount, &job.request));
  return job;
}

Result<std::vector<Job>> SqliteJobStore::List(const ListFilter& filter) {
  const int32_t limit =
      filter.limit <= 0 ? kDefaultListLimit : std::min(filter.limit, kMaxListLimit);
  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  // Keyset pagination: the cursor is a position (created_at, seq), so a page costs the
  // same however deep it is, and inserts between pages shift nothing.
  int64_t before_created_at = std::numeric_limits<int64_t>::max();
  int64_t before_seq = std::numeric_limits<int64_t>::max();
  if (!filter.after.empty()) {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement cursor, reader->Prepare(kSelectCursor));
    cursor.BindText(1, filter.after);
    GLMQ_ASSIGN_OR_RETURN(bool found, cursor.Step());
    if (!found) return InvalidArgument("unknown list cursor: " + filter.after);
    before_created_at = cursor.Int(0);
    before_seq = cursor.Int(1);
  }
  const char* sql = filter.tenant ? (filter.state ? kListTenantByState : kListTenant)
                                  : (filter.state ? kListByState : kListAll);
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, reader->Prepare(sql));
  select.BindInt(1, before_created_at);
  select.BindInt(2, before_seq);
  select.BindInt(3, limit);
  if (filter.state) select.BindText(4, JobStateName(*filter.state));
  if (filter.tenant) select.BindText(5, *filter.tenant);
  std::vector<Job> jobs;
  while (true) {
    GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    GLMQ_ASSIGN_OR_RETURN(Job job, ReadJob(select));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Result<std::optional<Job>> SqliteJobStore::ClaimNext(const std::string& worker, int64_t lease_ms,
                                                     ClaimLimit limit) {
  std::optional<Job> claimed;
  int64_t seq = 0;
  GLMQ_RETURN_IF_ERROR(writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    const TimeMs now = NowMs();
    // Claims with `sql`, whose ?4 (kClaimSeq's) is `pick`; false when it matched no job.
    const auto claim_with = [&](const char* sql, int64_t pick) -> Result<bool> {
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement claim, ctx.db.Prepare(sql));
      claim.BindText(1, worker);
      claim.BindInt(2, now + lease_ms);
      claim.BindInt(3, now);
      if (sql == kClaimSeq) claim.BindInt(4, pick);
      GLMQ_ASSIGN_OR_RETURN(bool found, claim.Step());
      if (!found) return false;
      GLMQ_ASSIGN_OR_RETURN(Job job, ReadJob(claim));
      seq = claim.Int(kJobColumnCount);
      const int64_t max_tokens = claim.Int(kJobColumnCount + 1);
      GLMQ_RETURN_IF_ERROR(claim.Run());
      ctx.Publish(job.id, JobState::kRunning);
      ctx.LeftQueue(job.id);
      ctx.Served(
          {.tenant = job.tenant, .prompt_tokens = job.prompt_tokens, .output_tokens = max_tokens});
      claimed = std::move(job);
      return true;
    };
    // The index's head (fair share's pick), unless an earlier write of this transaction took
    // it: then the global order's first, which SQL finds (not for a limited claim: that one
    // waits for the next turn).
    const std::optional<QueuedJob> head =
        queue_index_->Head(limit.prompt_tokens_below, limit.pass_over_from);
    bool found = false;
    if (head) {
      GLMQ_ASSIGN_OR_RETURN(found, claim_with(kClaimSeq, head->key.seq));
    }
    if (!found && limit.prompt_tokens_below <= 0 && limit.pass_over_from <= 0) {
      GLMQ_RETURN_IF_ERROR(claim_with(kClaimNext, 0).status());
    }
    return Status::Ok();
  }));
  if (!claimed) return std::optional<Job>();

  // The body never changes after Insert, so reading it after the commit, on a read
  // connection, sees what the claim saw and keeps a 10 MB copy off the writer thread. If
  // this read fails the claim stands, and the lease running out puts the job back.
  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement body, reader->Prepare(kSelectBodyMessages));
  body.BindInt(1, seq);
  GLMQ_ASSIGN_OR_RETURN(bool found, body.Step());
  if (!found) return Internal("job " + claimed->id + " has no stored request");
  GLMQ_RETURN_IF_ERROR(DecodeMessages(body.Text(0), &claimed->request.messages));
  GLMQ_RETURN_IF_ERROR(body.Run());
  // The text into the job's string alone, not through a copy of SQLite's.
  GLMQ_RETURN_IF_ERROR(reader->ReadBlob("job_bodies", "text", seq, &claimed->request.text));
  return claimed;
}

Status SqliteJobStore::RenewLeases(const std::string& worker, const std::vector<std::string>& ids,
                                   int64_t lease_ms) {
  if (ids.empty()) return Status::Ok();
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    const TimeMs expires = NowMs() + lease_ms;
    for (const std::string& id : ids) {
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kRenewLease));
      update.BindInt(1, expires);
      update.BindText(2, worker);
      update.BindText(3, id);
      GLMQ_RETURN_IF_ERROR(update.Run());
    }
    return Status::Ok();
  });
}

Status SqliteJobStore::UpdateProgress(const std::string& id, const std::string& worker,
                                      const JobProgress& progress) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    {
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kUpdateProgress));
      update.BindInt(1, progress.prompt_tokens_read);
      update.BindInt(2, progress.completion_tokens);
      update.BindText(3, id);
      update.BindInt(4, progress.prompt_tokens);
      update.BindText(5, worker);
      update.BindText(6, progress.text);
      GLMQ_RETURN_IF_ERROR(update.Run());
    }
    if (ctx.db.Changes() > 0) return Status::Ok();
    return NotRunning(ctx.db, id, "record progress of");
  });
}

Status SqliteJobStore::Complete(const std::string& id, const std::string& worker,
                                const Completion& completion) {
  if (!IsTerminal(completion.state)) {
    return InvalidArgument(std::string("a completion must be terminal, not ") +
                           JobStateName(completion.state));
  }
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kComplete));
    update.BindText(1, JobStateName(completion.state));
    update.BindText(2, completion.output);
    update.BindText(3, completion.finish_reason);
    update.BindInt(4, completion.usage.prompt_tokens);
    update.BindInt(5, completion.usage.completion_tokens);
    update.BindText(6, completion.error_code);
    update.BindText(7, completion.error_message);
    update.BindInt(8, NowMs());
    update.BindText(9, id);
    update.BindText(10, worker);
    update.BindInt(11, completion.usage.cached_tokens);
    // The guard on state and worker makes the result write-once: a late or second result
    // matches no row.
    GLMQ_ASSIGN_OR_RETURN(bool completed, update.Step());
    if (!completed) return NotRunning(ctx.db, id, "complete");
    // The claim charged all of max_tokens; what the job did not generate goes back.
    const int64_t unused = update.Int(1) - completion.usage.completion_tokens;
    if (unused > 0) ctx.Served({.tenant = update.Text(0), .output_tokens = -unused});
    GLMQ_RETURN_IF_ERROR(update.Run());
    ctx.Publish(id, completion.state);
    return Status::Ok();
  });
}

namespace {

// Cancels one job inside a write (see JobStore::Cancel).
Status CancelIn(sqlite::WriteContext& ctx, const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(std::optional<JobState> state, ReadState(ctx.db, id));
  if (!state) return NotFound("no job " + id);
  if (*state == JobState::kQueued) {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kCancelQueued));
    update.BindInt(1, NowMs());
    update.BindText(2, id);
    GLMQ_RETURN_IF_ERROR(update.Run());
    ctx.Publish(id, JobState::kCancelled);
    ctx.LeftQueue(id);
  } else if (*state == JobState::kRunning) {
    // Not a state change: the engine sees the flag, stops, and completes as cancelled.
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kRequestCancel));
    update.BindText(1, id);
    GLMQ_RETURN_IF_ERROR(update.Run());
  }
  return Status::Ok();
}

}  // namespace

Result<Job> SqliteJobStore::Cancel(const std::string& id) {
  std::optional<Job> result;
  GLMQ_RETURN_IF_ERROR(writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_RETURN_IF_ERROR(CancelIn(ctx, id));
    GLMQ_ASSIGN_OR_RETURN(Job job, ReadJobById(ctx.db, id));
    result = std::move(job);
    return Status::Ok();
  }));
  return std::move(*result);
}

std::vector<Status> SqliteJobStore::CancelMany(const std::vector<std::string>& ids) {
  std::vector<sqlite::GroupCommitWriter::WriteFn> writes;
  writes.reserve(ids.size());
  for (const std::string& id : ids) {
    writes.push_back([&id](sqlite::WriteContext& ctx) { return CancelIn(ctx, id); });
  }
  // A cancel reads the job's state and writes from it: safe to run again.
  return writer_->WriteAll(std::move(writes), sqlite::GroupCommitWriter::Rerun::kSafe);
}

Status SqliteJobStore::SetQueuedCost(const std::string& id, int64_t prompt_tokens,
                                     LengthClass length_class, int64_t order_key) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kSetQueuedCost));
    update.BindText(1, id);
    update.BindInt(2, prompt_tokens);
    update.BindText(3, LengthClassName(length_class));
    update.BindInt(4, order_key);
    GLMQ_ASSIGN_OR_RETURN(bool row, update.Step());
    if (!row) return Conflict("job " + id + " is not queued");
    // Its place in the queue moves with its order key (entering again replaces its entry,
    // and keeps its tenant's turn in fair share).
    ctx.JoinedQueue(id, ReadQueuedJob(update, 0));
    return Status::Ok();
  });
}

Status SqliteJobStore::FailQueued(const std::string& id, const std::string& error_code,
                                  const std::string& error_message) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kFailQueued));
    update.BindText(1, id);
    update.BindInt(2, NowMs());
    update.BindText(3, error_code);
    update.BindText(4, error_message);
    GLMQ_ASSIGN_OR_RETURN(bool row, update.Step());
    if (!row) return Conflict("job " + id + " is not queued");
    ctx.Publish(id, JobState::kFailed);
    ctx.LeftQueue(id);
    return Status::Ok();
  });
}

Result<int64_t> SqliteJobStore::ExpireOverdue(TimeMs now) {
  int64_t expired = 0;
  GLMQ_RETURN_IF_ERROR(writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    expired = 0;
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kExpireOverdue));
    update.BindInt(1, now);
    while (true) {
      GLMQ_ASSIGN_OR_RETURN(bool row, update.Step());
      if (!row) break;
      std::string id = update.Text(0);
      ctx.Publish(id, JobState::kExpired);
      ctx.LeftQueue(std::move(id));
      ++expired;
    }
    return Status::Ok();
  }));
  return expired;
}

Result<int64_t> SqliteJobStore::DeleteEnded(TimeMs ended_before, int32_t limit) {
  std::map<std::string, int64_t> own_retention;
  {
    std::lock_guard lock(tenant_retention_mu_);
    own_retention = tenant_retention_ms_;
  }
  nlohmann::json own_tenants = nlohmann::json::array();
  for (const auto& [tenant, ms] : own_retention) own_tenants.push_back(tenant);
  const TimeMs now = NowMs();
  int64_t deleted = 0;
  GLMQ_RETURN_IF_ERROR(writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    deleted = 0;
    std::vector<std::pair<int64_t, std::string>> ended;
    // Up to `limit` in all: the default's first, then each tenant's by its own retention.
    const auto select_ended = [&](const char* sql, TimeMs before, const std::string& tenants) {
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, ctx.db.Prepare(sql));
      select.BindInt(1, before);
      select.BindInt(2, limit - static_cast<int64_t>(ended.size()));
      select.BindText(3, tenants);
      while (true) {
        GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
        if (!row) break;
        ended.emplace_back(select.Int(0), select.Text(1));
      }
      return Status::Ok();
    };
    GLMQ_RETURN_IF_ERROR(select_ended(kSelectEnded, ended_before, own_tenants.dump()));
    for (const auto& [tenant, ms] : own_retention) {
      if (ms <= 0 || static_cast<int64_t>(ended.size()) >= limit) continue;  // 0 keeps them
      GLMQ_RETURN_IF_ERROR(select_ended(kSelectEndedOf, now - ms, tenant));
    }
    for (const auto& [seq, id] : ended) {
      for (const char* sql : {kDeleteEndedWebhook, kDeleteEndedIdempotency}) {
        GLMQ_ASSIGN_OR_RETURN(sqlite::Statement del, ctx.db.Prepare(sql));
        del.BindText(1, id);
        GLMQ_RETURN_IF_ERROR(del.Run());
      }
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement del, ctx.db.Prepare(kDeleteEndedJob));
      del.BindInt(1, seq);
      GLMQ_RETURN_IF_ERROR(del.Run());
      ++deleted;
    }
    // Gives the freed pages back to the file system, a few at a time (a no-op on files
    // made before auto_vacuum was set).
    if (deleted > 0) GLMQ_RETURN_IF_ERROR(ctx.db.Exec("PRAGMA incremental_vacuum(256)"));
    return Status::Ok();
  }));
  return deleted;
}

Result<int64_t> SqliteJobStore::ReapExpiredLeases(TimeMs now, int32_t max_deliveries) {
  int64_t moved = 0;
  GLMQ_RETURN_IF_ERROR(writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    moved = 0;
    // Order matters: each statement takes the leases the ones before it left. Only the last
    // one puts jobs back in the queue; the others end running jobs, which it never held.
    const std::pair<const char*, JobState> steps[] = {
        {kReapCancelled, JobState::kCancelled},
        {kReapDeadLetter, JobState::kFailed},
        {kReapRequeue, JobState::kQueued},
    };
    for (const auto& [sql, new_state] : steps) {
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(sql));
      update.BindInt(1, now);
      if (new_state == JobState::kFailed) update.BindInt(2, max_deliveries);
      while (true) {
        GLMQ_ASSIGN_OR_RETURN(bool row, update.Step());
        if (!row) break;
        std::string id = update.Text(0);
        ctx.Publish(id, new_state);
        if (new_state == JobState::kQueued) {
          ctx.JoinedQueue(std::move(id), ReadQueuedJob(update, 1));
        }
        ++moved;
      }
    }
    return Status::Ok();
  }));
  return moved;
}

Status SqliteJobStore::Release(const std::string& id, const std::string& worker) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kRelease));
    update.BindText(1, id);
    update.BindText(2, worker);
    GLMQ_ASSIGN_OR_RETURN(bool row, update.Step());
    if (!row) return NotRunning(ctx.db, id, "release");
    QueuedJob queued = ReadQueuedJob(update, 0);
    GLMQ_RETURN_IF_ERROR(update.Run());
    ctx.Publish(id, JobState::kQueued);
    ctx.JoinedQueue(id, queued);
    return Status::Ok();
  });
}

Result<int64_t> SqliteJobStore::QueuePosition(const std::string& id) {
  if (std::optional<int64_t> position = queue_index_->Position(id)) return *position;
  // Not in the index: an unknown id, a job that left the queue, or one whose commit the
  // index has not caught up with yet (the writer applies it just after the commit).
  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, reader->Prepare(kSelectQueueKey));
  select.BindText(1, id);
  GLMQ_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return NotFound("no job " + id);
  if (select.Text(0) != JobStateName(JobState::kQueued)) return 0;
  const QueueKey key{.order_key = select.Int(1), .created_at = select.Int(2), .seq = select.Int(3)};
  return queue_index_->JobsBefore(key) + 1;
}

Result<JobStore::WorkAhead> SqliteJobStore::WorkBefore(int64_t order_key) {
  return queue_index_->WorkBefore(order_key);
}

Result<std::optional<JobStore::QueueHead>> SqliteJobStore::Head(ClaimLimit limit) {
  const std::optional<QueuedJob> head =
      queue_index_->Head(limit.prompt_tokens_below, limit.pass_over_from);
  if (!head) return std::optional<QueueHead>();
  return std::optional<QueueHead>(QueueHead{.order_key = head->key.order_key,
                                            .prompt_tokens = head->prompt_tokens,
                                            .max_tokens = head->max_tokens});
}

Result<QueueSnapshot> SqliteJobStore::Snapshot() {
  QueueSnapshot snapshot;
  for (LengthClass c : kAllLengthClasses) snapshot.classes[c] = ClassStats{};
  for (JobState s : kAllJobStates) snapshot.totals[s] = 0;

  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  ReadTransaction transaction(*reader);
  GLMQ_RETURN_IF_ERROR(transaction.Begin());
  {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, reader->Prepare(kQueuedByClass));
    while (true) {
      GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      std::optional<LengthClass> length_class = ParseLengthClass(select.Text(0));
      if (!length_class) return Internal("unknown length class '" + select.Text(0) + "'");
      ClassStats& stats = snapshot.classes[*length_class];
      stats.queued = select.Int(1);
      stats.queued_prompt_tokens = select.Int(2);
      stats.queued_max_tokens = select.Int(3);
      stats.oldest_created_at = select.Int(4);
    }
  }
  {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, reader->Prepare(kCountByState));
    while (true) {
      GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      std::optional<JobState> state = ParseJobState(select.Text(0));
      if (!state) return Internal("unknown job state '" + select.Text(0) + "'");
      snapshot.totals[*state] = select.Int(1);
    }
  }
  {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, reader->Prepare(kCountDeadLetters));
    GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
    if (row) snapshot.dead_letter = select.Int(0);
  }
  snapshot.running = snapshot.totals[JobState::kRunning];
  return snapshot;
}

void SqliteJobStore::SetFairShare(bool on) { queue_index_->SetFairShare(on); }

// The counters and the retention live in this process (the one writer): no write.
Status SqliteJobStore::SetTenantSettings(const TenantSettings& settings) {
  queue_index_->SetWeights(settings.weights);
  std::lock_guard lock(tenant_retention_mu_);
  tenant_retention_ms_ = settings.retention_ms;
  return Status::Ok();
}

Status SqliteJobStore::CheckQueueIndex() {
  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  GLMQ_ASSIGN_OR_RETURN(auto queued, ReadQueuedJobs(*reader));
  return queue_index_->CheckAgainst(std::move(queued));
}

const WriteHealth& SqliteJobStore::write_health() const { return writer_->health(); }

StorageUsage SqliteJobStore::Storage() const {
  StorageUsage usage;
  std::error_code ec;
  usage.store_bytes = 0;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const auto bytes = std::filesystem::file_size(path_ + suffix, ec);
    if (!ec) usage.store_bytes += static_cast<int64_t>(bytes);
  }
  const auto space = std::filesystem::space(std::filesystem::path(path_).parent_path(), ec);
  if (!ec) usage.free_bytes = static_cast<int64_t>(space.available);
  return usage;
}

void SqliteJobStore::InjectWriteFault(bool on) { writer_->InjectFault(on); }

Status SqliteJobStore::CheckWritable() {
  return writer_->Write([](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(kTouchMeta));
    update.BindInt(1, NowMs());
    return update.Run();
  });
}

}  // namespace glmq
