#include "batch/local_batch_store.h"

#include "store/sqlite_db.h"

namespace glmq {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS batches (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  status TEXT NOT NULL,
  record TEXT NOT NULL,
  ended_at INTEGER NOT NULL DEFAULT 0  -- when it reached a terminal status; 0 before
);
CREATE INDEX IF NOT EXISTS batches_by_end ON batches (ended_at) WHERE ended_at > 0;
CREATE INDEX IF NOT EXISTS batches_by_tenant ON batches (tenant, seq);
CREATE TABLE IF NOT EXISTS batch_lines (
  batch_id TEXT NOT NULL,
  line INTEGER NOT NULL,
  custom_id TEXT NOT NULL,
  job_id TEXT NOT NULL,
  result TEXT NOT NULL DEFAULT '',
  ok INTEGER NOT NULL DEFAULT 0,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  cached_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (batch_id, line)
) WITHOUT ROWID;
)";

constexpr const char* kInsertBatch =
    "INSERT INTO batches (id, tenant, status, record) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kSelectBatch = "SELECT record FROM batches WHERE id = ?1 AND tenant = ?2";
constexpr const char* kFindBatch = "SELECT record FROM batches WHERE id = ?1";
constexpr const char* kSeqOf = "SELECT seq FROM batches WHERE id = ?1 AND tenant = ?2";
constexpr const char* kListBatches =
    "SELECT record FROM batches WHERE tenant = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3";
constexpr const char* kActive =
    "SELECT record FROM batches WHERE status IN ('validating', 'in_progress', 'finalizing', "
    "'cancelling') ORDER BY seq";
constexpr const char* kCountByStatus = "SELECT status, count(*) FROM batches GROUP BY status";
constexpr const char* kUpdate =
    "UPDATE batches SET status = ?2, record = ?3, ended_at = ?5 WHERE id = ?1 AND status = ?4";
constexpr const char* kDeleteEndedLines =
    "DELETE FROM batch_lines WHERE batch_id IN (SELECT id FROM batches WHERE ended_at > 0 AND "
    "ended_at <= ?1)";
constexpr const char* kDeleteEnded = "DELETE FROM batches WHERE ended_at > 0 AND ended_at <= ?1";
constexpr const char* kCounts =
    "SELECT count(*), coalesce(sum(result != '' AND ok), 0), "
    "coalesce(sum(result != '' AND NOT ok), 0), coalesce(sum(input_tokens), 0), "
    "coalesce(sum(cached_tokens), 0), coalesce(sum(output_tokens), 0) "
    "FROM batch_lines WHERE batch_id = ?1";
constexpr const char* kInsertLine =
    "INSERT OR IGNORE INTO batch_lines (batch_id, line, custom_id, job_id, result, ok, "
    "input_tokens, cached_tokens, output_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr const char* kSetResult =
    "UPDATE batch_lines SET result = ?3, ok = ?4, input_tokens = ?5, cached_tokens = ?6, "
    "output_tokens = ?7 WHERE batch_id = ?1 AND line = ?2 AND result = ''";
// A batch's lines in order after a line, all or only those without a result (?4 = 1).
constexpr const char* kLines =
    "SELECT line, custom_id, job_id, result, ok, input_tokens, cached_tokens, output_tokens "
    "FROM batch_lines WHERE batch_id = ?1 AND line > ?2 AND (?4 = 0 OR result = '') "
    "ORDER BY line LIMIT ?3";

}  // namespace

Result<std::unique_ptr<LocalBatchStore>> LocalBatchStore::Open(const std::string& path) {
  GLMQ_ASSIGN_OR_RETURN(auto db, sqlite::Connection::OpenDurable(path, 5000));
  GLMQ_RETURN_IF_ERROR(db->Exec(kSchema));
  return std::unique_ptr<LocalBatchStore>(new LocalBatchStore(std::move(db)));
}

LocalBatchStore::LocalBatchStore(std::unique_ptr<sqlite::Connection> db) : db_(std::move(db)) {}
LocalBatchStore::~LocalBatchStore() = default;

Status LocalBatchStore::Create(const Batch& batch) {
  std::lock_guard lock(mu_);
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kInsertBatch));
  const std::string record = EncodeBatch(batch);
  st.BindText(1, batch.id);
  st.BindText(2, batch.tenant);
  st.BindText(3, BatchStatusName(batch.status));
  st.BindText(4, record);
  return st.Run();
}

Status LocalBatchStore::AddCounts(Batch& batch) {
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kCounts));
  st.BindText(1, batch.id);
  GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::Ok();
  batch.total = st.Int(0);
  batch.completed = st.Int(1);
  batch.failed = st.Int(2);
  batch.usage = {.input_tokens = st.Int(3), .cached_tokens = st.Int(4), .output_tokens = st.Int(5)};
  return Status::Ok();
}

Result<Batch> LocalBatchStore::Get(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kSelectBatch));
  st.BindText(1, id);
  st.BindText(2, tenant);
  GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no batch " + id);
  GLMQ_ASSIGN_OR_RETURN(Batch batch, DecodeBatch(st.Text(0)));
  GLMQ_RETURN_IF_ERROR(AddCounts(batch));
  return batch;
}

Result<Batch> LocalBatchStore::Find(const std::string& id) {
  std::lock_guard lock(mu_);
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kFindBatch));
  st.BindText(1, id);
  GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no batch " + id);
  GLMQ_ASSIGN_OR_RETURN(Batch batch, DecodeBatch(st.Text(0)));
  GLMQ_RETURN_IF_ERROR(AddCounts(batch));
  return batch;
}

Result<BatchPage> LocalBatchStore::List(const std::string& tenant, const std::string& after,
                                        int32_t limit) {
  std::lock_guard lock(mu_);
  int64_t from = INT64_MAX;
  if (!after.empty()) {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kSeqOf));
    st.BindText(1, after);
    st.BindText(2, tenant);
    GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("no batch " + after + " to list after");
    from = st.Int(0);
  }
  BatchPage page;
  {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kListBatches));
    st.BindText(1, tenant);
    st.BindInt(2, from);
    st.BindInt(3, static_cast<int64_t>(limit) + 1);
    for (;;) {
      GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (static_cast<int32_t>(page.batches.size()) == limit) {
        page.has_more = true;
        break;
      }
      GLMQ_ASSIGN_OR_RETURN(Batch batch, DecodeBatch(st.Text(0)));
      page.batches.push_back(std::move(batch));
    }
  }
  for (Batch& batch : page.batches) GLMQ_RETURN_IF_ERROR(AddCounts(batch));
  return page;
}

Result<std::vector<Batch>> LocalBatchStore::Active() {
  std::lock_guard lock(mu_);
  std::vector<Batch> out;
  {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kActive));
    for (;;) {
      GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      GLMQ_ASSIGN_OR_RETURN(Batch batch, DecodeBatch(st.Text(0)));
      out.push_back(std::move(batch));
    }
  }
  for (Batch& batch : out) GLMQ_RETURN_IF_ERROR(AddCounts(batch));
  return out;
}

Result<std::map<BatchStatus, int64_t>> LocalBatchStore::CountByStatus() {
  std::lock_guard lock(mu_);
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kCountByStatus));
  std::map<BatchStatus, int64_t> out;
  for (;;) {
    GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (const std::optional<BatchStatus> status = ParseBatchStatus(st.Text(0))) {
      out[*status] = st.Int(1);
    }
  }
  return out;
}

Status LocalBatchStore::Update(const Batch& batch, BatchStatus from) {
  std::lock_guard lock(mu_);
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kUpdate));
  const std::string record = EncodeBatch(batch);
  st.BindText(1, batch.id);
  st.BindText(2, BatchStatusName(batch.status));
  st.BindText(3, record);
  st.BindText(4, BatchStatusName(from));
  st.BindInt(5, IsTerminal(batch.status) ? NowMs() : 0);
  GLMQ_RETURN_IF_ERROR(st.Run());
  if (db_->Changes() == 0) {
    return Conflict(std::string("batch ") + batch.id + " is no longer " + BatchStatusName(from));
  }
  return Status::Ok();
}

Result<int64_t> LocalBatchStore::DeleteEnded(TimeMs before) {
  std::lock_guard lock(mu_);
  GLMQ_RETURN_IF_ERROR(db_->Run("BEGIN IMMEDIATE"));
  Status s;
  int64_t deleted = 0;
  for (const char* sql : {kDeleteEndedLines, kDeleteEnded}) {
    Result<sqlite::Statement> st = db_->Prepare(sql);
    s = st.status();
    if (s.ok()) {
      st->BindInt(1, before);
      s = st->Run();
    }
    if (!s.ok()) break;
    deleted = db_->Changes();
  }
  if (!s.ok()) {
    if (db_->InTransaction()) (void)db_->Run("ROLLBACK");
    return s;
  }
  GLMQ_RETURN_IF_ERROR(db_->Run("COMMIT"));
  return deleted;
}

Result<std::vector<bool>> LocalBatchStore::AddLines(const std::string& batch_id,
                                                    const std::vector<BatchLine>& lines) {
  std::lock_guard lock(mu_);
  GLMQ_RETURN_IF_ERROR(db_->Run("BEGIN IMMEDIATE"));
  std::vector<bool> added;
  added.reserve(lines.size());
  for (const BatchLine& l : lines) {
    Result<sqlite::Statement> st = db_->Prepare(kInsertLine);
    Status s = st.status();
    if (s.ok()) {
      st->BindText(1, batch_id);
      st->BindInt(2, l.line);
      st->BindText(3, l.custom_id);
      st->BindText(4, l.job_id);
      st->BindText(5, l.result);
      st->BindInt(6, l.ok ? 1 : 0);
      st->BindInt(7, l.usage.input_tokens);
      st->BindInt(8, l.usage.cached_tokens);
      st->BindInt(9, l.usage.output_tokens);
      s = st->Run();
    }
    if (!s.ok()) {
      if (db_->InTransaction()) (void)db_->Run("ROLLBACK");
      return s;
    }
    added.push_back(db_->Changes() > 0);
  }
  GLMQ_RETURN_IF_ERROR(db_->Run("COMMIT"));
  return added;
}

Result<std::vector<BatchLine>> LocalBatchStore::Pending(const std::string& batch_id,
                                                        int64_t after_line, int32_t limit) {
  std::lock_guard lock(mu_);
  return SelectLines(batch_id, after_line, limit, /*pending_only=*/true);
}

Result<std::vector<bool>> LocalBatchStore::SetResults(const std::string& batch_id,
                                                      const std::vector<BatchLine>& lines) {
  std::lock_guard lock(mu_);
  GLMQ_RETURN_IF_ERROR(db_->Run("BEGIN IMMEDIATE"));
  std::vector<bool> written;
  for (const BatchLine& line : lines) {
    Result<sqlite::Statement> st = db_->Prepare(kSetResult);
    Status s = st.status();
    if (s.ok()) {
      st->BindText(1, batch_id);
      st->BindInt(2, line.line);
      st->BindText(3, line.result);
      st->BindInt(4, line.ok ? 1 : 0);
      st->BindInt(5, line.usage.input_tokens);
      st->BindInt(6, line.usage.cached_tokens);
      st->BindInt(7, line.usage.output_tokens);
      s = st->Run();
    }
    if (!s.ok()) {
      if (db_->InTransaction()) (void)db_->Run("ROLLBACK");
      return s;
    }
    written.push_back(db_->Changes() > 0);
  }
  GLMQ_RETURN_IF_ERROR(db_->Run("COMMIT"));
  return written;
}

Result<std::vector<BatchLine>> LocalBatchStore::Lines(const std::string& batch_id,
                                                      int64_t after_line, int32_t limit) {
  std::lock_guard lock(mu_);
  return SelectLines(batch_id, after_line, limit, /*pending_only=*/false);
}

Result<std::vector<BatchLine>> LocalBatchStore::SelectLines(const std::string& batch_id,
                                                            int64_t after_line, int32_t limit,
                                                            bool pending_only) {
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kLines));
  st.BindText(1, batch_id);
  st.BindInt(2, after_line);
  st.BindInt(3, limit);
  st.BindInt(4, pending_only ? 1 : 0);
  std::vector<BatchLine> out;
  for (;;) {
    GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    BatchLine& line = out.emplace_back();
    line.line = st.Int(0);
    line.custom_id = st.Text(1);
    line.job_id = st.Text(2);
    line.result = st.Text(3);
    line.ok = st.Int(4) != 0;
    line.usage = {
        .input_tokens = st.Int(5), .cached_tokens = st.Int(6), .output_tokens = st.Int(7)};
  }
  return out;
}

}  // namespace glmq
