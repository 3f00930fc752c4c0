// A thin layer over one SQLite connection: prepared statements cached per connection,
// and every error turned into a Status (kInternal with SQLite's message).
//
// Not thread-safe: a Connection and its Statements are used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace glmq::sqlite {

// A prepared statement borrowed from its Connection's cache. Dropping it resets the
// statement, so the connection can reuse it and no read cursor is left open.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameter indexes are 1-based, as in SQL's ?1.
  void BindInt(int index, int64_t value);
  void BindDouble(int index, double value);
  // Not copied: `value` must stay alive until the statement is dropped, so a 10 MB
  // document goes from the caller's string to the database without another copy.
  void BindText(int index, std::string_view value);
  void BindNull(int index);

  // One step: true when a row is ready, false when the statement is done.
  Result<bool> Step();
  // Steps to the end, ignoring any rows.
  Status Run();

  // Column indexes are 0-based.
  int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;  // "" for NULL
  bool IsNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status bind_status_;  // the first failed bind, reported by the next Step
};

class Connection {
 public:
  // Opens (creating if missing) the database at `path` with a busy timeout, in SQLite's
  // multi-thread mode: the caller guarantees one thread at a time.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int busy_timeout_ms);
  // Open, then in WAL mode with every commit synced (synchronous = FULL): what a caller is
  // told is written survives power loss. For the small stores beside the job store (the
  // Batch API's files and batches).
  static Result<std::unique_ptr<Connection>> OpenDurable(const std::string& path,
                                                         int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs SQL text that may hold several statements; nothing is cached.
  Status Exec(const char* sql);
  // Runs a pragma and returns the first column of its first row ("" when none).
  Result<std::string> Pragma(const char* sql);

  // `sql` must have static storage duration: the cache is keyed by its address, which
  // lets the hot paths skip hashing the text.
  Result<Statement> Prepare(const char* sql);
  // Prepare(sql) stepped to the end: for statements without parameters or rows, such as
  // BEGIN and SAVEPOINT.
  Status Run(const char* sql);

  // The TEXT or BLOB in `table`.`column` of row `rowid`, read straight into `out`
  // (sqlite3_blob_read): a column read through a statement is first assembled in a buffer
  // of SQLite's own, which for a 10 MB document is a second copy. kNotFound without the row.
  Status ReadBlob(const char* table, const char* column, int64_t rowid, std::string* out);

  int64_t Changes() const;
  // The rowid of the latest row this connection inserted.
  int64_t LastInsertRowid() const;
  // False when SQLite rolled the current transaction back on its own (e.g. after
  // SQLITE_FULL or an I/O error), or when none was open.
  bool InTransaction() const;
  // kInternal carrying SQLite's latest message for this connection.
  Status Error(std::string_view context) const;

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace glmq::sqlite
