// The Files API of the Batch API, wire-compatible with OpenAI's /v1/files:
//   POST   /v1/files               multipart/form-data: file (JSONL) and purpose=batch
//   GET    /v1/files               ?purpose=&limit=&order=asc|desc&after=
//   GET    /v1/files/{id}          the file object
//   GET    /v1/files/{id}/content  the bytes, streamed
//   DELETE /v1/files/{id}
// An upload goes from the socket to the store a piece at a time (BodyMode::kStreamed), never
// whole in memory. Every file is the caller's tenant's; another tenant's id is a 404.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "api/asio.h"
#include "api/router.h"
#include "files/file_store.h"

namespace glmq {

struct FilesOptions {
  int64_t max_file_bytes = 200ll << 20;
  // Uploaded files are deleted this long after their upload unless the upload asks for
  // another time (expires_after); 0 keeps them.
  int64_t retention_ms = 30ll * 24 * 3600 * 1000;
};

// The file object OpenAI's clients read.
nlohmann::json FileJson(const FileInfo& file);

void AddFileRoutes(Router& router, FileStore& files, const FilesOptions& options,
                   asio::thread_pool& pool);

}  // namespace glmq
