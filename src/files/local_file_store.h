// LocalFileStore: the files of `glmq serve`, in a folder of the data directory: each file's
// bytes in a file named by its id, and the list of files in an SQLite database beside them
// (files.db). A file is listed once its bytes are synced and its row committed; bytes without
// a row (an upload cut by a crash) are removed when the store opens.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "files/file_store.h"

namespace glmq {

namespace sqlite {
class Connection;
}

class LocalFileStore : public FileStore {
 public:
  static Result<std::unique_ptr<LocalFileStore>> Open(const std::string& dir);
  ~LocalFileStore() override;

  Result<std::unique_ptr<FileUpload>> Begin(FileInfo info) override;
  Result<FileInfo> Get(const std::string& tenant, const std::string& id) override;
  Result<FilePage> List(const std::string& tenant, const FileQuery& query) override;
  Status Delete(const std::string& tenant, const std::string& id) override;
  Result<std::string> Read(const std::string& tenant, const std::string& id, int64_t offset,
                           size_t max_bytes) override;
  Result<int64_t> DeleteExpired(TimeMs now) override;

 private:
  class Upload;
  LocalFileStore(std::string dir, std::unique_ptr<sqlite::Connection> db);
  std::string PathOf(const std::string& id) const { return dir_ + "/" + id; }
  Status Insert(const FileInfo& info);
  void Discard(const std::string& id);

  const std::string dir_;
  std::mutex mu_;  // guards db_
  std::unique_ptr<sqlite::Connection> db_;
};

}  // namespace glmq
