#include "files/local_file_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "crypto/crypto.h"
#include "store/sqlite_db.h"

namespace glmq {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS files (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  filename TEXT NOT NULL,
  purpose TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_tenant ON files (tenant, seq);
CREATE INDEX IF NOT EXISTS files_by_expiry ON files (expires_at) WHERE expires_at > 0;
)";

constexpr const char* kInsert =
    "INSERT INTO files (id, tenant, filename, purpose, bytes, created_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kSelectOne =
    "SELECT id, tenant, filename, purpose, bytes, created_at, expires_at FROM files "
    "WHERE id = ?1 AND tenant = ?2";
// Pages by seq, newest first or oldest first, after the seq of the `after` id (none: from
// the start); one row past the limit tells whether there are more.
constexpr const char* kListDescending =
    "SELECT id, tenant, filename, purpose, bytes, created_at, expires_at FROM files "
    "WHERE tenant = ?1 AND (?2 = '' OR purpose = ?2) AND seq < ?3 ORDER BY seq DESC LIMIT ?4";
constexpr const char* kListAscending =
    "SELECT id, tenant, filename, purpose, bytes, created_at, expires_at FROM files "
    "WHERE tenant = ?1 AND (?2 = '' OR purpose = ?2) AND seq > ?3 ORDER BY seq ASC LIMIT ?4";
constexpr const char* kSeqOf = "SELECT seq FROM files WHERE id = ?1 AND tenant = ?2";
constexpr const char* kDelete = "DELETE FROM files WHERE id = ?1 AND tenant = ?2";
constexpr const char* kSelectExpired =
    "SELECT id FROM files WHERE expires_at > 0 AND expires_at <= ?1";
constexpr const char* kDeleteById = "DELETE FROM files WHERE id = ?1";
constexpr const char* kAllIds = "SELECT id FROM files";

FileInfo RowOf(const sqlite::Statement& st) {
  FileInfo f;
  f.id = st.Text(0);
  f.tenant = st.Text(1);
  f.filename = st.Text(2);
  f.purpose = st.Text(3);
  f.bytes = st.Int(4);
  f.created_at = st.Int(5);
  f.expires_at = st.Int(6);
  return f;
}

Status IoError(const std::string& what, int err) {
  const std::string message = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return StorageFull(message);
  if (err == ENOENT) return NotFound(message);
  return Internal(message);
}

}  // namespace

std::string NewFileId() { return "file-" + RandomHex(12); }

// Bytes go straight to the file named by the id; the row comes at Commit.
class LocalFileStore::Upload : public FileUpload {
 public:
  Upload(LocalFileStore& store, FileInfo info, int fd)
      : store_(store), info_(std::move(info)), fd_(fd) {}
  ~Upload() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) store_.Discard(info_.id);
  }

  Status Append(std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot write file " + info_.id, errno);
      }
      bytes.remove_prefix(static_cast<size_t>(n));
      info_.bytes += n;
    }
    return Status::Ok();
  }

  Result<FileInfo> Commit(int64_t keep_ms) override {
    if (::fsync(fd_) != 0) return IoError("cannot sync file " + info_.id, errno);
    ::close(fd_);
    fd_ = -1;
    info_.created_at = NowMs();
    info_.expires_at = keep_ms > 0 ? info_.created_at + keep_ms : 0;
    GLMQ_RETURN_IF_ERROR(store_.Insert(info_));
    committed_ = true;
    return info_;
  }

 private:
  LocalFileStore& store_;
  FileInfo info_;
  int fd_;
  bool committed_ = false;
};

Result<std::unique_ptr<LocalFileStore>> LocalFileStore::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir + ": " + ec.message());
  GLMQ_ASSIGN_OR_RETURN(auto db, sqlite::Connection::OpenDurable(dir + "/files.db", 5000));
  GLMQ_RETURN_IF_ERROR(db->Exec(kSchema));
  // Bytes without a row were an upload that never committed.
  std::set<std::string> listed;
  {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db->Prepare(kAllIds));
    for (;;) {
      GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      listed.insert(st.Text(0));
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("file-", 0) == 0 && !listed.count(name)) {
      spdlog::info("files: removing {}, an upload that did not finish", name);
      std::filesystem::remove(entry.path(), ec);
    }
  }
  return std::unique_ptr<LocalFileStore>(new LocalFileStore(dir, std::move(db)));
}

LocalFileStore::LocalFileStore(std::string dir, std::unique_ptr<sqlite::Connection> db)
    : dir_(std::move(dir)), db_(std::move(db)) {}

LocalFileStore::~LocalFileStore() = default;

Result<std::unique_ptr<FileUpload>> LocalFileStore::Begin(FileInfo info) {
  info.id = NewFileId();
  info.bytes = 0;
  const int fd = ::open(PathOf(info.id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create file " + info.id, errno);
  return std::unique_ptr<FileUpload>(new Upload(*this, std::move(info), fd));
}

Status LocalFileStore::Insert(const FileInfo& info) {
  std::lock_guard lock(mu_);
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kInsert));
  st.BindText(1, info.id);
  st.BindText(2, info.tenant);
  st.BindText(3, info.filename);
  st.BindText(4, info.purpose);
  st.BindInt(5, info.bytes);
  st.BindInt(6, info.created_at);
  st.BindInt(7, info.expires_at);
  return st.Run();
}

void LocalFileStore::Discard(const std::string& id) {
  std::error_code ec;
  std::filesystem::remove(PathOf(id), ec);
}

Result<FileInfo> LocalFileStore::Get(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kSelectOne));
  st.BindText(1, id);
  st.BindText(2, tenant);
  GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no file " + id);
  return RowOf(st);
}

Result<FilePage> LocalFileStore::List(const std::string& tenant, const FileQuery& query) {
  std::lock_guard lock(mu_);
  int64_t from = query.ascending ? 0 : INT64_MAX;
  if (!query.after.empty()) {
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kSeqOf));
    st.BindText(1, query.after);
    st.BindText(2, tenant);
    GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return NotFound("no file " + query.after + " to list after");
    from = st.Int(0);
  }
  GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st,
                        db_->Prepare(query.ascending ? kListAscending : kListDescending));
  st.BindText(1, tenant);
  st.BindText(2, query.purpose);
  st.BindInt(3, from);
  st.BindInt(4, static_cast<int64_t>(query.limit) + 1);
  FilePage page;
  for (;;) {
    GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (static_cast<int32_t>(page.files.size()) == query.limit) {
      page.has_more = true;
      break;
    }
    page.files.push_back(RowOf(st));
  }
  return page;
}

Status LocalFileStore::Delete(const std::string& tenant, const std::string& id) {
  {
    std::lock_guard lock(mu_);
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kDelete));
    st.BindText(1, id);
    st.BindText(2, tenant);
    GLMQ_RETURN_IF_ERROR(st.Run());
    if (db_->Changes() == 0) return NotFound("no file " + id);
  }
  Discard(id);
  return Status::Ok();
}

Result<std::string> LocalFileStore::Read(const std::string& tenant, const std::string& id,
                                         int64_t offset, size_t max_bytes) {
  GLMQ_ASSIGN_OR_RETURN(FileInfo info, Get(tenant, id));
  if (offset >= info.bytes) return std::string();
  const int fd = ::open(PathOf(id).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open file " + id, errno);
  std::string out(std::min<int64_t>(static_cast<int64_t>(max_bytes), info.bytes - offset), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got,
                              static_cast<off_t>(offset + static_cast<int64_t>(got)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return IoError("cannot read file " + id, err);
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

Result<int64_t> LocalFileStore::DeleteExpired(TimeMs now) {
  std::vector<std::string> expired;
  {
    std::lock_guard lock(mu_);
    GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kSelectExpired));
    st.BindInt(1, now);
    for (;;) {
      GLMQ_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      expired.push_back(st.Text(0));
    }
  }
  for (const std::string& id : expired) {
    {
      std::lock_guard lock(mu_);
      GLMQ_ASSIGN_OR_RETURN(sqlite::Statement st, db_->Prepare(kDeleteById));
      st.BindText(1, id);
      GLMQ_RETURN_IF_ERROR(st.Run());
    }
    Discard(id);
  }
  return static_cast<int64_t>(expired.size());
}

}  // namespace glmq
