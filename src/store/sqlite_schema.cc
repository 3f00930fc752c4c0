#include "store/sqlite_schema.h"

#include <charconv>
#include <string>

namespace glmq::sqlite {
namespace {

// Version 1. The document and the chat messages sit in their own table: every state change
// rewrites a whole jobs row, and a 10 MB column there would be rewritten with it.
// The partial indexes keep each hot query an index range scan over only the rows it can
// match (queued jobs for the queue, running jobs for leases). SqliteJobStore names them with
// INDEXED BY: without statistics SQLite prefers jobs_state_created's equality on state and
// would then sort every queued job on each claim; INDEXED BY also turns a lost index into
// an error at prepare time instead of a silent full scan. jobs_queue repeats `state` so
// that the queue's sums and ranks read the index alone (SQLite 3.40 does not count a
// partial index's own WHERE as covered).
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  length_class TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  max_tokens INTEGER NOT NULL,
  order_key INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL DEFAULT 0,
  finished_at INTEGER NOT NULL DEFAULT 0,
  deadline_at INTEGER NOT NULL DEFAULT 0,
  estimated_wait_seconds REAL NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  dead_letter INTEGER NOT NULL DEFAULT 0,
  worker TEXT,
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  progress_prompt_tokens_read INTEGER NOT NULL DEFAULT 0,
  progress_completion_tokens INTEGER NOT NULL DEFAULT 0,
  finish_reason TEXT NOT NULL DEFAULT '',
  usage_prompt_tokens INTEGER NOT NULL DEFAULT 0,
  usage_completion_tokens INTEGER NOT NULL DEFAULT 0,
  error_code TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '',
  params TEXT NOT NULL,
  output TEXT NOT NULL DEFAULT ''
);
CREATE TABLE job_bodies (
  seq INTEGER PRIMARY KEY REFERENCES jobs(seq) ON DELETE CASCADE,
  messages TEXT NOT NULL,
  text TEXT NOT NULL
);
CREATE TABLE store_meta (
  key TEXT PRIMARY KEY,
  value
);
CREATE INDEX jobs_queue ON jobs(order_key, created_at, seq, length_class, prompt_tokens,
                                max_tokens, state) WHERE state = 'queued';
CREATE INDEX jobs_deadline ON jobs(deadline_at) WHERE state = 'queued' AND deadline_at > 0;
CREATE INDEX jobs_lease ON jobs(lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_worker ON jobs(worker) WHERE state = 'running';
CREATE INDEX jobs_created ON jobs(created_at, seq);
CREATE INDEX jobs_state_created ON jobs(state, created_at, seq);
CREATE INDEX jobs_dead_letter ON jobs(dead_letter) WHERE dead_letter = 1;
)sql";

// Version 2: Idempotency-Key records. A record counts until expires_at (in flight: the
// reservation's lapse; done: the answer's ttl); Begin deletes lapsed ones as it goes, through
// the expiry index.
constexpr char kSchemaV2[] = R"sql(
CREATE TABLE idempotency (
  key TEXT PRIMARY KEY,
  body_sha256 TEXT NOT NULL,
  state TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  response TEXT NOT NULL DEFAULT '',
  job_id TEXT NOT NULL DEFAULT '',
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_expiry ON idempotency(expires_at);
)sql";

// Version 3: webhook deliveries (api/webhooks.h). The trigger queues one, due at once, in the
// same transaction that ends a job whose request names a webhook_url, whichever statement
// ends it; a claim leases it by moving due_at forward.
constexpr char kSchemaV3[] = R"sql(
CREATE TABLE webhooks (
  job_id TEXT PRIMARY KEY,
  due_at INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX webhooks_due ON webhooks(due_at);
CREATE TRIGGER webhook_on_end AFTER UPDATE OF state ON jobs
WHEN NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired')
  AND OLD.state NOT IN ('succeeded', 'failed', 'cancelled', 'expired')
  AND json_extract(NEW.params, '$.webhook_url') IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO webhooks (job_id) VALUES (NEW.id);
END;
)sql";

// Version 4: prompt tokens a job took from reused KV (engine prefix cache).
constexpr char kSchemaV4[] = R"sql(
ALTER TABLE jobs ADD COLUMN usage_cached_tokens INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 5: finished jobs in the order they ended, and idempotency records by job, for
// the retention of ended jobs (DeleteEnded).
constexpr char kSchemaV5[] = R"sql(
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at > 0;
CREATE INDEX idempotency_job ON idempotency(job_id);
)sql";

// Version 6: the tenant a job belongs to ('' = the implicit tenant of a service without
// keys), and each tenant's listing in the order of arrival; each tenant's usage per day (kept
// beyond the jobs' retention, for chargeback); API keys made by `glmq keys`.
constexpr char kSchemaV6[] = R"sql(
ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_tenant_created ON jobs(tenant, created_at, seq);
CREATE INDEX jobs_tenant_state_created ON jobs(tenant, state, created_at, seq);
CREATE TABLE usage (
  tenant            TEXT NOT NULL,
  day               INTEGER NOT NULL,
  succeeded         INTEGER NOT NULL DEFAULT 0,
  failed            INTEGER NOT NULL DEFAULT 0,
  cancelled         INTEGER NOT NULL DEFAULT 0,
  expired           INTEGER NOT NULL DEFAULT 0,
  prompt_tokens     INTEGER NOT NULL DEFAULT 0,
  cached_tokens     INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, day)
) WITHOUT ROWID;
CREATE TRIGGER usage_on_end AFTER UPDATE OF state ON jobs
  WHEN NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired')
   AND OLD.state IN ('queued', 'running')
BEGIN
  INSERT INTO usage (tenant, day, succeeded, failed, cancelled, expired, prompt_tokens,
                     cached_tokens, completion_tokens)
  VALUES (NEW.tenant, NEW.finished_at / 86400000, NEW.state = 'succeeded',
          NEW.state = 'failed', NEW.state = 'cancelled', NEW.state = 'expired',
          NEW.usage_prompt_tokens, NEW.usage_cached_tokens, NEW.usage_completion_tokens)
  ON CONFLICT (tenant, day) DO UPDATE SET
    succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed,
    cancelled = cancelled + excluded.cancelled, expired = expired + excluded.expired,
    prompt_tokens = prompt_tokens + excluded.prompt_tokens,
    cached_tokens = cached_tokens + excluded.cached_tokens,
    completion_tokens = completion_tokens + excluded.completion_tokens;
END;
CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY,
  sha256     TEXT NOT NULL UNIQUE,
  tenant     TEXT NOT NULL,
  role       TEXT NOT NULL,
  name       TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
)sql";

// Version 7: the prompt tokens a queued job is expected to take from a document read for
// another job (Job::shared_prompt_tokens), which the queue's sums of work leave out.
constexpr char kSchemaV7[] = R"sql(
ALTER TABLE jobs ADD COLUMN shared_prompt_tokens INTEGER NOT NULL DEFAULT 0;
)sql";

Status Migrate(Connection& db) {
  GLMQ_ASSIGN_OR_RETURN(std::string text, db.Pragma("PRAGMA user_version"));
  int version = 0;
  std::from_chars(text.data(), text.data() + text.size(), version);
  if (version > kSchemaVersion) {
    return Internal("database schema version " + std::to_string(version) +
                    " is newer than this glmq supports (" + std::to_string(kSchemaVersion) +
                    "); upgrade glmq");
  }
  if (version == kSchemaVersion) return Status::Ok();
  if (version < 1) GLMQ_RETURN_IF_ERROR(db.Exec(kSchemaV1));
  if (version < 2) GLMQ_RETURN_IF_ERROR(db.Exec(kSchemaV2));
  if (version < 3) GLMQ_RETURN_IF_ERROR(db.Exec(kSchemaV3));
  if (version < 4) GLMQ_RETURN_IF_ERROR(db.Exec(kSchemaV4));
  if (version < 5) GLMQ_RETURN_IF_ERROR(db.Exec(kSchemaV5));
  if (version < 6) GLMQ_RETURN_IF_ERROR(db.Exec(kSchemaV6));
  if (version < 7) GLMQ_RETURN_IF_ERROR(db.Exec(kSchemaV7));
  // Later versions add `if (version < N)` steps here, each moving the data forward.
  return db.Exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
}

}  // namespace

Status MigrateSchema(Connection& db) {
  GLMQ_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  Status status = Migrate(db);
  if (!status.ok()) {
    (void)db.Exec("ROLLBACK");
    return status;
  }
  return db.Exec("COMMIT");
}

}  // namespace glmq::sqlite
