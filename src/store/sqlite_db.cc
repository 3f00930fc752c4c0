#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

namespace glmq::sqlite {

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_status_(std::move(other.bind_status_)) {}

namespace {

// What a failed call means to the caller: a full disk (507: nothing was written, try
// again later), a store that cannot write or read now (503), or a bug (500).
Status Failure(int rc, std::string message) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return StorageFull(std::move(message));
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
      return Unavailable(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

Status BindResult(int rc, int index) {
  if (rc == SQLITE_OK) return Status::Ok();
  return Internal("sqlite: bind ?" + std::to_string(index) + ": " + sqlite3_errstr(rc));
}

}  // namespace

void Statement::BindInt(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_status_.ok()) bind_status_ = BindResult(rc, index);
}

void Statement::BindDouble(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (bind_status_.ok()) bind_status_ = BindResult(rc, index);
}

void Statement::BindText(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (bind_status_.ok()) bind_status_ = BindResult(rc, index);
}

void Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (bind_status_.ok()) bind_status_ = BindResult(rc, index);
}

Result<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Failure(
      rc, std::string("sqlite: ") + sqlite3_errmsg(db_) + " (in: " + sqlite3_sql(stmt_) + ")");
}

Status Statement::Run() {
  while (true) {
    GLMQ_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::Text(int column) const {
  const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  if (bytes == nullptr) return {};
  return std::string(bytes, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, int busy_timeout_ms) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Internal("sqlite: open " + path + ": " + message);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<Connection>(new Connection(db));
}

Result<std::unique_ptr<Connection>> Connection::OpenDurable(const std::string& path,
                                                            int busy_timeout_ms) {
  GLMQ_ASSIGN_OR_RETURN(std::unique_ptr<Connection> db, Open(path, busy_timeout_ms));
  GLMQ_ASSIGN_OR_RETURN(std::string mode, db->Pragma("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return Internal("sqlite: " + path + " cannot use WAL (journal_mode is '" + mode + "')");
  }
  GLMQ_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL;"));
  return db;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Connection::Exec(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  return Failure(rc, "sqlite: " + message + " (in: " + sql + ")");
}

Result<std::string> Connection::Pragma(const char* sql) {
  // Not cached: each pragma runs once per connection.
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) return Error(sql);
  std::string value;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    if (const auto* text = sqlite3_column_text(stmt, 0))
      value = reinterpret_cast<const char*>(text);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
  }
  Status status = rc == SQLITE_DONE ? Status::Ok() : Error(sql);
  sqlite3_finalize(stmt);
  if (!status.ok()) return status;
  return value;
}

Result<Statement> Connection::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return Statement(db_, it->second);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(sql);
  statements_.emplace(sql, stmt);
  return Statement(db_, stmt);
}

Status Connection::Run(const char* sql) {
  GLMQ_ASSIGN_OR_RETURN(Statement statement, Prepare(sql));
  return statement.Run();
}

int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

int64_t Connection::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

bool Connection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status Connection::ReadBlob(const char* table, const char* column, int64_t rowid,
                            std::string* out) {
  sqlite3_blob* blob = nullptr;
  const int rc = sqlite3_blob_open(db_, "main", table, column, rowid, /*flags=*/0, &blob);
  if (rc != SQLITE_OK) {
    const Status error = Error(std::string("reading ") + table + "." + column);
    sqlite3_blob_close(blob);  // frees a handle left by a failed open; a null one is a no-op
    if (rc == SQLITE_ERROR) return NotFound(std::string(error.message()));
    return error;
  }
  const int bytes = sqlite3_blob_bytes(blob);
  out->resize(static_cast<size_t>(bytes));
  const int read = bytes > 0 ? sqlite3_blob_read(blob, out->data(), bytes, 0) : SQLITE_OK;
  const Status status = read == SQLITE_OK ? Status::Ok() : Error("reading a blob");
  sqlite3_blob_close(blob);
  return status;
}

Status Connection::Error(std::string_view context) const {
  return Failure(sqlite3_extended_errcode(db_), "sqlite: " + std::string(sqlite3_errmsg(db_)) +
                                                    " (in: " + std::string(context) + ")");
}

}  // namespace glmq::sqlite
