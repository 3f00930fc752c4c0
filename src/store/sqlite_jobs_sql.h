// The SQL of SqliteJobStore's jobs tables and the decoding of their rows, kept apart from
// how the store runs them (sqlite_store.cc). Queries on the queue and on leases name their
// partial index with INDEXED BY; the schema (sqlite_schema.cc) says why.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "store/queue_index.h"
#include "store/sqlite_db.h"

namespace glmq::jobs_sql {

// The columns ReadJob decodes, in its order.
#define GLMQ_JOB_COLUMNS                                                                      \
  "id, state, length_class, prompt_tokens, order_key, created_at, started_at, finished_at, "  \
  "deadline_at, estimated_wait_seconds, attempts, cancel_requested, dead_letter, "            \
  "progress_prompt_tokens_read, progress_completion_tokens, finish_reason, "                  \
  "usage_prompt_tokens, usage_completion_tokens, error_code, error_message, params, output, " \
  "worker, usage_cached_tokens, tenant, shared_prompt_tokens"
inline constexpr int kJobColumnCount = 26;

// The columns ReadQueuedJob decodes, in its order.
#define GLMQ_QUEUED_COLUMNS \
  "order_key, created_at, seq, prompt_tokens, max_tokens, tenant, shared_prompt_tokens"

inline constexpr char kBeginRead[] = "BEGIN";
inline constexpr char kEndRead[] = "COMMIT";

// No RETURNING: SQLite runs a RETURNING clause as a trigger, and a statement with a trigger
// copies every page it changes to the statement journal (ten pages of 16 KiB an insert).
// The row's seq is the connection's last inserted rowid; no change means the id was taken.
inline constexpr char kInsertJob[] =
    "INSERT INTO jobs (id, state, length_class, prompt_tokens, max_tokens, order_key, "
    "created_at, deadline_at, estimated_wait_seconds, params, tenant, shared_prompt_tokens) "
    "VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
    "ON CONFLICT (id) DO NOTHING";
inline constexpr char kInsertBody[] =
    "INSERT INTO job_bodies (seq, messages, text) VALUES (?1, ?2, ?3)";
inline constexpr char kSelectJob[] = "SELECT " GLMQ_JOB_COLUMNS " FROM jobs WHERE id = ?1";
inline constexpr char kSelectJobWithBody[] =
    "SELECT " GLMQ_JOB_COLUMNS
    ", messages, text FROM jobs JOIN job_bodies USING (seq) "
    "WHERE id = ?1";
inline constexpr char kSelectBodyMessages[] = "SELECT messages FROM job_bodies WHERE seq = ?1";
inline constexpr char kSelectState[] = "SELECT state FROM jobs WHERE id = ?1";
inline constexpr char kSelectCursor[] = "SELECT created_at, seq FROM jobs WHERE id = ?1";
inline constexpr char kListAll[] = "SELECT " GLMQ_JOB_COLUMNS
                                   " FROM jobs WHERE (created_at, seq) < (?1, ?2) "
                                   "ORDER BY created_at DESC, seq DESC LIMIT ?3";
inline constexpr char kListByState[] =
    "SELECT " GLMQ_JOB_COLUMNS
    " FROM jobs WHERE state = ?4 AND (created_at, seq) < (?1, ?2) "
    "ORDER BY created_at DESC, seq DESC LIMIT ?3";
// One tenant's jobs (?5), all or in one state (?4).
inline constexpr char kListTenant[] =
    "SELECT " GLMQ_JOB_COLUMNS
    " FROM jobs WHERE tenant = ?5 AND (created_at, seq) < (?1, ?2) "
    "ORDER BY created_at DESC, seq DESC LIMIT ?3";
inline constexpr char kListTenantByState[] =
    "SELECT " GLMQ_JOB_COLUMNS
    " FROM jobs WHERE tenant = ?5 AND state = ?4 AND (created_at, seq) < (?1, ?2) "
    "ORDER BY created_at DESC, seq DESC LIMIT ?3";
#define GLMQ_CLAIM                                                          \
  "UPDATE jobs SET state = 'running', worker = ?1, lease_expires_at = ?2, " \
  "attempts = attempts + 1, started_at = CASE WHEN started_at = 0 THEN ?3 ELSE started_at END "
// The first queued job in the global order.
inline constexpr char kClaimNext[] = GLMQ_CLAIM
    "WHERE seq = (SELECT seq FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' "
    "ORDER BY order_key, created_at, seq LIMIT 1) "
    "RETURNING " GLMQ_JOB_COLUMNS ", seq, max_tokens";
// The queued job ?4 (the queue index's pick).
inline constexpr char kClaimSeq[] = GLMQ_CLAIM
    "WHERE seq = ?4 AND state = 'queued' "
    "RETURNING " GLMQ_JOB_COLUMNS ", seq, max_tokens";
// Retention: the oldest ended jobs first, a batch at a time. Their bodies go with them
// (ON DELETE CASCADE); webhook and idempotency records are deleted by job id first.
// Tenants with a retention of their own (?3, a JSON array) are left to kSelectEndedOf.
inline constexpr char kSelectEnded[] =
    "SELECT seq, id FROM jobs INDEXED BY jobs_finished "
    "WHERE finished_at > 0 AND finished_at < ?1 "
    "AND tenant NOT IN (SELECT value FROM json_each(?3)) ORDER BY finished_at LIMIT ?2";
inline constexpr char kSelectEndedOf[] =
    "SELECT seq, id FROM jobs INDEXED BY jobs_finished "
    "WHERE finished_at > 0 AND finished_at < ?1 AND tenant = ?3 ORDER BY finished_at LIMIT ?2";
inline constexpr char kDeleteEndedWebhook[] = "DELETE FROM webhooks WHERE job_id = ?1";
inline constexpr char kDeleteEndedIdempotency[] = "DELETE FROM idempotency WHERE job_id = ?1";
inline constexpr char kDeleteEndedJob[] = "DELETE FROM jobs WHERE seq = ?1";
inline constexpr char kRenewLease[] =
    "UPDATE jobs SET lease_expires_at = ?1 WHERE id = ?3 AND state = 'running' AND worker = ?2";
inline constexpr char kUpdateProgress[] =
    "UPDATE jobs SET progress_prompt_tokens_read = ?1, progress_completion_tokens = ?2, "
    "prompt_tokens = CASE WHEN ?4 > 0 THEN ?4 ELSE prompt_tokens END, output = ?6 "
    "WHERE id = ?3 AND state = 'running' AND worker = ?5";
inline constexpr char kComplete[] =
    "UPDATE jobs SET state = ?1, output = ?2, finish_reason = ?3, usage_prompt_tokens = ?4, "
    "usage_completion_tokens = ?5, error_code = ?6, error_message = ?7, finished_at = ?8, "
    "prompt_tokens = CASE WHEN ?1 = 'succeeded' AND ?4 > 0 THEN ?4 ELSE prompt_tokens END, "
    "usage_cached_tokens = ?11, lease_expires_at = 0 "
    "WHERE id = ?9 AND state = 'running' AND worker = ?10 RETURNING tenant, max_tokens";
inline constexpr char kCancelQueued[] =
    "UPDATE jobs SET state = 'cancelled', finished_at = ?1, finish_reason = 'cancelled' "
    "WHERE id = ?2 AND state = 'queued'";
inline constexpr char kRequestCancel[] =
    "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND state = 'running'";
inline constexpr char kExpireOverdue[] =
    "UPDATE jobs INDEXED BY jobs_deadline SET state = 'expired', finished_at = ?1, "
    "finish_reason = 'timeout', error_code = 'timeout', "
    "error_message = 'deadline passed while queued' "
    "WHERE state = 'queued' AND deadline_at > 0 AND deadline_at <= ?1 RETURNING id";
// The shared part scales with the count (JobStore::SetQueuedCost); SET reads the old values.
inline constexpr char kSetQueuedCost[] =
    "UPDATE jobs SET prompt_tokens = ?2, length_class = ?3, order_key = ?4, "
    "shared_prompt_tokens = CASE WHEN shared_prompt_tokens > 0 AND prompt_tokens > 0 "
    "THEN max(0, min(?2 - 1, shared_prompt_tokens * ?2 / prompt_tokens)) ELSE 0 END "
    "WHERE id = ?1 AND state = 'queued' RETURNING " GLMQ_QUEUED_COLUMNS;
inline constexpr char kFailQueued[] =
    "UPDATE jobs SET state = 'failed', finished_at = ?2, finish_reason = 'error', "
    "error_code = ?3, error_message = ?4 WHERE id = ?1 AND state = 'queued' RETURNING id";
// A job whose cancel was requested is not worth running again.
inline constexpr char kReapCancelled[] =
    "UPDATE jobs INDEXED BY jobs_lease SET state = 'cancelled', finished_at = ?1, "
    "finish_reason = 'cancelled', lease_expires_at = 0 "
    "WHERE state = 'running' AND lease_expires_at <= ?1 AND cancel_requested = 1 RETURNING id";
inline constexpr char kReapDeadLetter[] =
    "UPDATE jobs INDEXED BY jobs_lease SET state = 'failed', dead_letter = 1, finished_at = ?1, "
    "finish_reason = 'error', error_code = 'dead_letter', "
    "error_message = 'lease lost ' || attempts || ' times; delivery limit reached', "
    "lease_expires_at = 0 "
    "WHERE state = 'running' AND lease_expires_at <= ?1 AND ?2 > 0 AND attempts >= ?2 "
    "RETURNING id";
// The order key is kept, so a redelivered job takes back its place in the queue.
inline constexpr char kReapRequeue[] =
    "UPDATE jobs INDEXED BY jobs_lease SET state = 'queued', worker = NULL, lease_expires_at = 0, "
    "progress_prompt_tokens_read = 0, progress_completion_tokens = 0, output = '' "
    "WHERE state = 'running' AND lease_expires_at <= ?1 RETURNING id, " GLMQ_QUEUED_COLUMNS;
// A graceful hand-back: back in its old place, and this run is not counted as a delivery.
inline constexpr char kRelease[] =
    "UPDATE jobs SET state = 'queued', worker = NULL, lease_expires_at = 0, "
    "attempts = max(attempts - 1, 0), progress_prompt_tokens_read = 0, "
    "progress_completion_tokens = 0, output = '' WHERE id = ?1 AND state = 'running' AND worker = "
    "?2 "
    "RETURNING " GLMQ_QUEUED_COLUMNS;
// What the queue index holds of each queued job, read at Open and by CheckQueueIndex.
inline constexpr char kSelectQueued[] =
    "SELECT id, " GLMQ_QUEUED_COLUMNS " FROM jobs INDEXED BY jobs_queue WHERE state = 'queued'";
inline constexpr char kSelectQueueKey[] =
    "SELECT state, order_key, created_at, seq FROM jobs WHERE id = ?1";
inline constexpr char kQueuedByClass[] =
    "SELECT length_class, count(*), coalesce(sum(max(prompt_tokens - shared_prompt_tokens, 0)), "
    "0), "
    "coalesce(sum(max_tokens), 0), coalesce(min(created_at), 0) "
    "FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' GROUP BY length_class";
inline constexpr char kCountByState[] = "SELECT state, count(*) FROM jobs GROUP BY state";
inline constexpr char kCountDeadLetters[] = "SELECT count(*) FROM jobs WHERE dead_letter = 1";
inline constexpr char kTouchMeta[] =
    "INSERT INTO store_meta (key, value) VALUES ('writable_check_at', ?1) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";

// Decodes the GLMQ_JOB_COLUMNS of the current row.
Result<Job> ReadJob(const sqlite::Statement& row);
// Decodes the GLMQ_QUEUED_COLUMNS starting at `first_column`.
QueuedJob ReadQueuedJob(const sqlite::Statement& row, int first_column);
// Every queued job as (id, what the queue index holds of it).
Result<std::vector<std::pair<std::string, QueuedJob>>> ReadQueuedJobs(sqlite::Connection& db);
// Decodes (messages, text) starting at `first_column`.
Status ReadBody(const sqlite::Statement& row, int first_column, JobRequest* request);
Result<std::optional<JobState>> ReadState(sqlite::Connection& db, const std::string& id);
Result<Job> ReadJobById(sqlite::Connection& db, const std::string& id);
// Explains why a write guarded by `state = 'running'` changed nothing.
Status NotRunning(sqlite::Connection& db, const std::string& id, const char* action);

// Keeps a multi-statement read on one snapshot of the database.
class ReadTransaction {
 public:
  explicit ReadTransaction(sqlite::Connection& db) : db_(db) {}
  ~ReadTransaction() {
    if (open_) (void)db_.Run(kEndRead);
  }
  Status Begin() {
    GLMQ_RETURN_IF_ERROR(db_.Run(kBeginRead));
    open_ = true;
    return Status::Ok();
  }

 private:
  sqlite::Connection& db_;
  bool open_ = false;
};

}  // namespace glmq::jobs_sql
