// FileStore: the files of the Batch API (OpenAI's /v1/files): a batch's input, uploaded
// as JSONL, and the output and error files glmq writes for it. Bytes go in as they arrive
// (FileUpload) and come out in pieces (Read), so no file is ever held whole in memory.
// Every file belongs to a tenant; another tenant's id is kNotFound, as an unknown one.
//
// Error contract: kNotFound for an id the tenant has not (or no longer has); kTooLarge for an
// upload past the store's limit; kStorageFull when the disk is full (nothing is kept of that
// upload); kInternal for other I/O failures. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/job.h"
#include "core/status.h"

namespace glmq {

struct FileInfo {
  std::string id;  // "file-" and 24 hex digits
  std::string tenant;
  std::string filename;
  std::string purpose;  // "batch" (uploaded), "batch_output" (written by glmq)
  int64_t bytes = 0;
  TimeMs created_at = 0;
  TimeMs expires_at = 0;  // 0: kept until deleted
  bool operator==(const FileInfo&) const = default;
};

// One upload in progress. Dropped without Commit, it leaves nothing behind.
class FileUpload {
 public:
  virtual ~FileUpload() = default;
  virtual Status Append(std::string_view bytes) = 0;
  // Durable from here (written and synced); the file is listed from now on, and deleted
  // `keep_ms` after (0: kept until deleted).
  virtual Result<FileInfo> Commit(int64_t keep_ms) = 0;
};

struct FileQuery {
  std::string purpose;  // "" = any
  std::string after;    // an id: the files listed after it
  int32_t limit = 10000;
  bool ascending = false;  // OpenAI lists the newest first
};

struct FilePage {
  std::vector<FileInfo> files;
  bool has_more = false;
};

class FileStore {
 public:
  virtual ~FileStore() = default;
  // `info` gives tenant, filename and purpose; the store names the id.
  virtual Result<std::unique_ptr<FileUpload>> Begin(FileInfo info) = 0;
  virtual Result<FileInfo> Get(const std::string& tenant, const std::string& id) = 0;
  virtual Result<FilePage> List(const std::string& tenant, const FileQuery& query) = 0;
  virtual Status Delete(const std::string& tenant, const std::string& id) = 0;
  // Up to `max_bytes` of the file from `offset`; empty at its end.
  virtual Result<std::string> Read(const std::string& tenant, const std::string& id, int64_t offset,
                                   size_t max_bytes) = 0;
  // Deletes the files whose expires_at has passed; returns how many.
  virtual Result<int64_t> DeleteExpired(TimeMs now) = 0;
};

std::string NewFileId();

}  // namespace glmq
