// RedisFileStore: the files of `glmq gateway`, in the Redis the gateways and workers share,
// so that any gateway serves any file and a batch's runner may move between them. A file's
// bytes are kept in pieces of kChunkBytes, each its own string value (never one huge value:
// Redis would block on it, and its replication and AOF rewrite would copy it whole).
//
// Key layout (P = prefix, the job store's):
//   P file:<id>            hash: tenant, filename, purpose, bytes, created_at, expires_at,
//                          chunks, seq
//   P file_chunk:<id>:<n>  string: bytes [n * kChunkBytes, (n + 1) * kChunkBytes)
//   P file_seq             counter: commit order (listings page by it)
//   P files:<tenant>       zset: the tenant's files, score seq, member id
//   P files_expiring       zset: files with an expiry, score expires_at, member id
// An upload writes its chunks as they fill, each with a time to live (kUploadTtlMs), and its
// commit (one script) writes the record and listings and makes the chunks last as long as
// the file: an upload cut by a crash leaves chunks that Redis removes by itself.
//
// Durable as Redis is configured (see redis_store.h): with appendfsync always, a committed
// file survives a kill -9 of Redis. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "files/file_store.h"

namespace glmq {

namespace redis {
class Pool;
}

class RedisFileStore : public FileStore {
 public:
  static constexpr size_t kChunkBytes = 1 << 20;
  static constexpr int64_t kUploadTtlMs = 24 * 3600 * 1000;

  // `url` as RedisStoreOptions::url; `prefix` the job store's.
  static Result<std::unique_ptr<RedisFileStore>> Open(const std::string& url,
                                                      const std::string& prefix);
  ~RedisFileStore() override;

  Result<std::unique_ptr<FileUpload>> Begin(FileInfo info) override;
  Result<FileInfo> Get(const std::string& tenant, const std::string& id) override;
  Result<FilePage> List(const std::string& tenant, const FileQuery& query) override;
  Status Delete(const std::string& tenant, const std::string& id) override;
  Result<std::string> Read(const std::string& tenant, const std::string& id, int64_t offset,
                           size_t max_bytes) override;
  Result<int64_t> DeleteExpired(TimeMs now) override;

 private:
  class Upload;
  RedisFileStore(std::unique_ptr<redis::Pool> pool, std::string prefix);
  // The file's record when it is `tenant`'s ("" for any tenant).
  Result<FileInfo> Record(const std::string& tenant, const std::string& id);
  // Deletes a file's record, listings and chunks; kNotFound when it is not `tenant`'s (""
  // for any tenant).
  Status Remove(const std::string& tenant, const std::string& id);
  std::string Key(std::string_view what, std::string_view id) const;
  std::string ChunkKey(std::string_view id, int64_t n) const;

  std::unique_ptr<redis::Pool> pool_;
  const std::string prefix_;
  std::string commit_sha_, remove_sha_;
};

}  // namespace glmq
