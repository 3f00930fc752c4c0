// SqliteJobStore's part in coordinating requests and processes: Idempotency-Key records and
// webhook deliveries (in the database) and the worker registry and named leases (in memory;
// see sqlite_store.h).
#include <algorithm>
#include <limits>
#include <mutex>
#include <string>

#include "store/sqlite_db.h"
#include "store/sqlite_store.h"
#include "store/sqlite_writer.h"

namespace glmq {
namespace {

// Lapsed records deleted by one Begin: keeps each Begin's cost bounded.
constexpr int kPurgeBatch = 64;

constexpr char kSelectIdempotency[] =
    "SELECT body_sha256, state, status, response, job_id FROM idempotency "
    "WHERE key = ?1 AND expires_at > ?2";
constexpr char kPurgeIdempotency[] =
    "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency INDEXED BY "
    "idempotency_expiry WHERE expires_at <= ?1 LIMIT ?2)";
constexpr char kReserveIdempotency[] =
    "INSERT INTO idempotency (key, body_sha256, state, expires_at) VALUES (?1, ?2, 'in_flight', "
    "?3) "
    "ON CONFLICT (key) DO UPDATE SET body_sha256 = excluded.body_sha256, state = 'in_flight', "
    "status = 0, response = '', job_id = '', expires_at = excluded.expires_at";
constexpr char kRecordAnswer[] =
    "INSERT INTO idempotency (key, body_sha256, state, status, response, job_id, expires_at) "
    "VALUES (?1, ?2, 'done', ?3, ?4, ?5, ?6) "
    "ON CONFLICT (key) DO UPDATE SET body_sha256 = excluded.body_sha256, state = 'done', "
    "status = excluded.status, response = excluded.response, job_id = excluded.job_id, "
    "expires_at = excluded.expires_at";
constexpr char kAbandonIdempotency[] =
    "DELETE FROM idempotency WHERE key = ?1 AND body_sha256 = ?2 AND state = 'in_flight'";

// Webhook deliveries; the schema's trigger adds them (sqlite_schema.cc, version 3).
constexpr char kClaimWebhooks[] =
    "UPDATE webhooks SET due_at = ?2, attempts = attempts + 1 WHERE job_id IN (SELECT job_id "
    "FROM webhooks INDEXED BY webhooks_due WHERE due_at <= ?1 ORDER BY due_at LIMIT ?3) "
    "RETURNING job_id, attempts";
constexpr char kEndWebhook[] = "DELETE FROM webhooks WHERE job_id = ?1";
constexpr char kRetryWebhook[] = "UPDATE webhooks SET due_at = ?2 WHERE job_id = ?1";
constexpr char kDeferWebhook[] =
    "UPDATE webhooks SET due_at = ?2, attempts = MAX(attempts - 1, 0) WHERE job_id = ?1";
constexpr char kQueueWebhook[] = "INSERT OR IGNORE INTO webhooks (job_id, due_at) VALUES (?1, ?2)";

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return out;
}

Status RecordAnswer(sqlite::Connection& db, const JobStore::IdempotencyClaim& claim, int status,
                    const std::string& response, const std::string& job_id, int64_t ttl_ms) {
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement upsert, db.Prepare(kRecordAnswer));
  upsert.BindText(1, claim.key);
  upsert.BindText(2, claim.body_sha256);
  upsert.BindInt(3, status);
  upsert.BindText(4, response);
  upsert.BindText(5, job_id);
  upsert.BindInt(6, SaturatingAdd(NowMs(), ttl_ms));
  return upsert.Run();
}

}  // namespace

Result<JobStore::IdempotencyState> SqliteJobStore::BeginIdempotent(const IdempotencyClaim& claim,
                                                                   TimeMs now,
                                                                   int64_t in_flight_ms) {
  if (in_flight_ms <= 0) return InvalidArgument("in_flight_ms must be positive");
  IdempotencyState result;
  GLMQ_RETURN_IF_ERROR(writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    {
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement purge, ctx.db.Prepare(kPurgeIdempotency));
      purge.BindInt(1, now);
      purge.BindInt(2, kPurgeBatch);
      GLMQ_RETURN_IF_ERROR(purge.Run());
    }
    {
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, ctx.db.Prepare(kSelectIdempotency));
      select.BindText(1, claim.key);
      select.BindInt(2, now);
      GLMQ_ASSIGN_OR_RETURN(bool found, select.Step());
      if (found) {
        result = IdempotencyState{};
        if (select.Text(0) != claim.body_sha256) {
          result.kind = IdempotencyState::Kind::kMismatch;
        } else if (select.Text(1) == "done") {
          result.kind = IdempotencyState::Kind::kDone;
          result.status = static_cast<int>(select.Int(2));
          result.response = select.Text(3);
          result.job_id = select.Text(4);
        } else {
          result.kind = IdempotencyState::Kind::kInFlight;
        }
        return Status::Ok();
      }
    }
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement reserve, ctx.db.Prepare(kReserveIdempotency));
    reserve.BindText(1, claim.key);
    reserve.BindText(2, claim.body_sha256);
    reserve.BindInt(3, SaturatingAdd(now, in_flight_ms));
    GLMQ_RETURN_IF_ERROR(reserve.Run());
    result = IdempotencyState{};
    result.kind = IdempotencyState::Kind::kReserved;
    return Status::Ok();
  }));
  return result;
}

Status SqliteJobStore::InsertIdempotent(const Job& job, const IdempotencyClaim& claim, int status,
                                        const std::string& response, int64_t ttl_ms) {
  if (ttl_ms <= 0) return InvalidArgument("ttl_ms must be positive");
  GLMQ_ASSIGN_OR_RETURN(EncodedJob encoded, EncodeJob(job));
  // One savepoint: the job and its key's answer commit together or not at all.
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_RETURN_IF_ERROR(InsertRows(ctx, job, encoded));
    return RecordAnswer(ctx.db, claim, status, response, job.id, ttl_ms);
  });
}

Status SqliteJobStore::FinishIdempotent(const IdempotencyClaim& claim, int status,
                                        const std::string& response, int64_t ttl_ms) {
  if (ttl_ms <= 0) return InvalidArgument("ttl_ms must be positive");
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    return RecordAnswer(ctx.db, claim, status, response, "", ttl_ms);
  });
}

Status SqliteJobStore::AbandonIdempotent(const IdempotencyClaim& claim) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement drop, ctx.db.Prepare(kAbandonIdempotency));
    drop.BindText(1, claim.key);
    drop.BindText(2, claim.body_sha256);
    return drop.Run();
  });
}

Status SqliteJobStore::WorkerHeartbeat(const std::string& worker, TimeMs now, int64_t ttl_ms,
                                       const WorkerReport& report) {
  std::lock_guard lock(registry_mu_);
  LiveWorker& w = workers_[worker];
  w.alive_until = SaturatingAdd(now, ttl_ms);
  w.report = report;
  w.report.worker = worker;
  return Status::Ok();
}

Result<int64_t> SqliteJobStore::LiveWorkers(TimeMs now) {
  std::lock_guard lock(registry_mu_);
  return static_cast<int64_t>(
      std::count_if(workers_.begin(), workers_.end(),
                    [now](const auto& entry) { return entry.second.alive_until > now; }));
}

Result<std::vector<WorkerReport>> SqliteJobStore::LiveWorkerReports(TimeMs now) {
  std::lock_guard lock(registry_mu_);
  std::vector<WorkerReport> out;
  for (const auto& [name, w] : workers_) {
    if (w.alive_until > now) out.push_back(w.report);
  }
  return out;
}

Result<bool> SqliteJobStore::AcquireLease(const std::string& name, const std::string& holder,
                                          TimeMs now, int64_t lease_ms) {
  if (lease_ms <= 0) return InvalidArgument("lease_ms must be positive");
  std::lock_guard lock(registry_mu_);
  NamedLease& lease = leases_[name];
  if (!lease.holder.empty() && lease.holder != holder && lease.expires_at > now) return false;
  lease.holder = holder;
  lease.expires_at = SaturatingAdd(now, lease_ms);
  return true;
}

Result<std::vector<JobStore::WebhookDue>> SqliteJobStore::ClaimWebhooks(TimeMs now,
                                                                        int64_t lease_ms,
                                                                        int32_t limit) {
  if (lease_ms <= 0 || limit <= 0) return InvalidArgument("lease_ms and limit must be positive");
  std::vector<WebhookDue> out;
  GLMQ_RETURN_IF_ERROR(writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    out.clear();  // a retried transaction starts over
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement claim, ctx.db.Prepare(kClaimWebhooks));
    claim.BindInt(1, now);
    claim.BindInt(2, SaturatingAdd(now, lease_ms));
    claim.BindInt(3, limit);
    for (;;) {
      GLMQ_ASSIGN_OR_RETURN(bool row, claim.Step());
      if (!row) break;
      out.push_back({.job_id = claim.Text(0), .attempts = static_cast<int32_t>(claim.Int(1))});
    }
    return Status::Ok();
  }));
  return out;
}

Status SqliteJobStore::EndWebhook(const std::string& job_id) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement end, ctx.db.Prepare(kEndWebhook));
    end.BindText(1, job_id);
    return end.Run();
  });
}

Status SqliteJobStore::QueueWebhook(const std::string& id, TimeMs due_at) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement queue, ctx.db.Prepare(kQueueWebhook));
    queue.BindText(1, id);
    queue.BindInt(2, due_at);
    return queue.Run();
  });
}

Status SqliteJobStore::RetryWebhook(const std::string& job_id, TimeMs due_at) {
  return RescheduleWebhook(kRetryWebhook, job_id, due_at);
}

Status SqliteJobStore::DeferWebhook(const std::string& id, TimeMs due_at) {
  return RescheduleWebhook(kDeferWebhook, id, due_at);
}

Status SqliteJobStore::RescheduleWebhook(const char* sql, const std::string& id, TimeMs due_at) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement update, ctx.db.Prepare(sql));
    update.BindText(1, id);
    update.BindInt(2, due_at);
    return update.Run();
  });
}

namespace {
constexpr char kInsertApiKey[] =
    "INSERT INTO api_keys (id, sha256, tenant, role, name, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING";
constexpr char kSelectApiKeys[] =
    "SELECT id, sha256, tenant, role, name, created_at FROM api_keys ORDER BY created_at, id";
constexpr char kDeleteApiKey[] = "DELETE FROM api_keys WHERE id = ?1";
constexpr char kQueuedOfTenant[] =
    "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(max_tokens), 0) "
    "FROM jobs INDEXED BY jobs_tenant_state_created WHERE tenant = ?1 AND state = 'queued'";
}  // namespace

namespace {
constexpr char kSelectUsage[] =
    "SELECT tenant, day, succeeded, failed, cancelled, expired, prompt_tokens, cached_tokens, "
    "completion_tokens FROM usage WHERE day BETWEEN ?1 AND ?2 ORDER BY day, tenant";
constexpr char kSelectTenantUsage[] =
    "SELECT tenant, day, succeeded, failed, cancelled, expired, prompt_tokens, cached_tokens, "
    "completion_tokens FROM usage WHERE tenant = ?3 AND day BETWEEN ?1 AND ?2 ORDER BY day";
}  // namespace

Result<std::vector<JobStore::UsageRow>> SqliteJobStore::Usage(
    const std::optional<std::string>& tenant, int64_t from_day, int64_t to_day) {
  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select,
                        reader->Prepare(tenant ? kSelectTenantUsage : kSelectUsage));
  select.BindInt(1, from_day);
  select.BindInt(2, to_day);
  if (tenant) select.BindText(3, *tenant);
  std::vector<UsageRow> out;
  while (true) {
    GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    out.push_back({.tenant = select.Text(0),
                   .day = select.Int(1),
                   .succeeded = select.Int(2),
                   .failed = select.Int(3),
                   .cancelled = select.Int(4),
                   .expired = select.Int(5),
                   .prompt_tokens = select.Int(6),
                   .cached_tokens = select.Int(7),
                   .completion_tokens = select.Int(8)});
  }
  return out;
}

Result<JobStore::WorkAhead> SqliteJobStore::QueuedOf(const std::string& tenant) {
  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, reader->Prepare(kQueuedOfTenant));
  select.BindText(1, tenant);
  GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return WorkAhead{};
  return WorkAhead{
      .jobs = select.Int(0), .prompt_tokens = select.Int(1), .max_tokens = select.Int(2)};
}

Status SqliteJobStore::AddApiKey(const ApiKeyRecord& key) {
  return writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement insert, ctx.db.Prepare(kInsertApiKey));
    insert.BindText(1, key.id);
    insert.BindText(2, key.sha256);
    insert.BindText(3, key.tenant);
    insert.BindText(4, key.role);
    insert.BindText(5, key.name);
    insert.BindInt(6, key.created_at);
    GLMQ_RETURN_IF_ERROR(insert.Run());
    if (ctx.db.Changes() == 0)
      return Conflict("an API key with id " + key.id + " or its hash exists");
    return Status::Ok();
  });
}

Result<std::vector<JobStore::ApiKeyRecord>> SqliteJobStore::ApiKeys() {
  GLMQ_ASSIGN_OR_RETURN(ReaderLease reader, AcquireReader());
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement select, reader->Prepare(kSelectApiKeys));
  std::vector<ApiKeyRecord> out;
  while (true) {
    GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    out.push_back({.id = select.Text(0),
                   .sha256 = select.Text(1),
                   .tenant = select.Text(2),
                   .role = select.Text(3),
                   .name = select.Text(4),
                   .created_at = select.Int(5)});
  }
  return out;
}

Result<bool> SqliteJobStore::RemoveApiKey(const std::string& id) {
  bool removed = false;
  GLMQ_RETURN_IF_ERROR(writer_->Write([&](sqlite::WriteContext& ctx) -> Status {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement drop, ctx.db.Prepare(kDeleteApiKey));
    drop.BindText(1, id);
    GLMQ_RETURN_IF_ERROR(drop.Run());
    removed = ctx.db.Changes() > 0;
    return Status::Ok();
  }));
  return removed;
}

}  // namespace glmq
