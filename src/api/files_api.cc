#include "api/files_api.h"

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "api/json_response.h"
#include "api/query_string.h"
#include "files/multipart.h"

namespace glmq {
namespace {

constexpr size_t kContentPieceBytes = 256 * 1024;
constexpr size_t kMaxFieldBytes = 1024;  // a form field other than the file
// OpenAI's bounds for expires_after[seconds]: an hour to thirty days.
constexpr int64_t kMinExpirySeconds = 3600;
constexpr int64_t kMaxExpirySeconds = 30ll * 24 * 3600;

// The parts of an upload as they arrive: small fields kept, the file's bytes queued for the
// store. The file store's writes block, so they happen in Flush, which the handler runs on
// the blocking pool after each piece; the reader itself never touches the disk.
class UploadForm final : public MultipartSink {
 public:
  UploadForm(FileStore& files, std::string tenant, int64_t max_file_bytes)
      : files_(files), tenant_(std::move(tenant)), max_file_bytes_(max_file_bytes) {}

  Status Begin(const MultipartPart& part) override {
    field_ = part.name;
    in_file_ = part.name == "file";
    if (in_file_) {
      if (file_seen_) return InvalidArgument("the form has more than one 'file' part");
      file_seen_ = true;
      filename_ = part.filename.empty() ? "upload.jsonl" : part.filename;
    } else {
      fields_[field_].clear();
    }
    return Status::Ok();
  }
  Status Data(std::string_view bytes) override {
    if (in_file_) {
      file_bytes_ += static_cast<int64_t>(bytes.size());
      if (file_bytes_ > max_file_bytes_) {
        return Status(StatusCode::kTooLarge, "the file is over the limit of " +
                                                 std::to_string(max_file_bytes_) + " bytes");
      }
      pending_.append(bytes);
      return Status::Ok();
    }
    std::string& value = fields_[field_];
    if (value.size() + bytes.size() > kMaxFieldBytes) {
      return InvalidArgument("the form field '" + field_ + "' is over 1 KiB");
    }
    value.append(bytes);
    return Status::Ok();
  }
  Status End() override {
    in_file_ = false;
    return Status::Ok();
  }

  // Hands the queued file bytes to the store (opening the upload at the first). Blocks.
  Status Flush() {
    if (pending_.empty() && (upload_ || !file_seen_)) return Status::Ok();
    if (!upload_) {
      GLMQ_ASSIGN_OR_RETURN(
          upload_,
          files_.Begin({.id = {}, .tenant = tenant_, .filename = filename_, .purpose = "batch"}));
    }
    Status s = upload_->Append(pending_);
    pending_.clear();
    return s;
  }

  // After the form's end: checks the fields, and makes the file durable. Blocks.
  Result<FileInfo> Commit(const FilesOptions& options) {
    if (!file_seen_) return InvalidArgument("the form has no 'file' part");
    const auto purpose = fields_.find("purpose");
    if (purpose == fields_.end()) {
      return InvalidArgument("the form has no 'purpose' field; it must be 'batch'");
    }
    if (purpose->second != "batch") {
      return InvalidArgument("purpose '" + purpose->second +
                             "' is not served here; glmq takes files for 'batch'");
    }
    int64_t retention_ms = options.retention_ms;
    const auto anchor = fields_.find("expires_after[anchor]");
    const auto seconds = fields_.find("expires_after[seconds]");
    if (anchor != fields_.end() && anchor->second != "created_at") {
      return InvalidArgument("expires_after[anchor] must be 'created_at'");
    }
    if (seconds != fields_.end()) {
      const std::optional<int64_t> n = ParseWholeNumber(seconds->second);
      if (!n || *n < kMinExpirySeconds || *n > kMaxExpirySeconds) {
        return InvalidArgument(
            "expires_after[seconds] must be a whole number from 3600 to 2592000");
      }
      retention_ms = *n * 1000;
    }
    GLMQ_RETURN_IF_ERROR(Flush());
    return upload_->Commit(retention_ms);
  }

 private:
  FileStore& files_;
  const std::string tenant_;
  const int64_t max_file_bytes_;
  std::map<std::string, std::string> fields_;
  std::string field_;
  bool in_file_ = false;
  bool file_seen_ = false;
  std::string filename_;
  int64_t file_bytes_ = 0;
  std::string pending_;
  std::unique_ptr<FileUpload> upload_;
};

asio::awaitable<HttpResponse> Upload(RequestContext& rc, FileStore& files,
                                     const FilesOptions& options, asio::thread_pool& pool) {
  const auto type = rc.request.find(http::field::content_type);
  auto boundary = MultipartBoundary(
      type == rc.request.end() ? std::string_view()
                               : std::string_view(type->value().data(), type->value().size()));
  if (!boundary.ok()) co_return ErrorResponse(boundary.status());
  UploadForm form(files, rc.caller.tenant, options.max_file_bytes);
  MultipartReader reader(std::move(*boundary), form);
  auto flush = [&form] { return form.Flush(); };
  for (;;) {
    Result<std::string_view> piece = co_await rc.body->Read();
    if (!piece.ok()) co_return ErrorResponse(piece.status());
    if (piece->empty()) break;
    if (Status s = reader.Feed(*piece); !s.ok()) co_return ErrorResponse(s);
    if (Status s = co_await RunBlocking(pool, flush); !s.ok()) co_return ErrorResponse(s);
  }
  if (Status s = reader.Finish(); !s.ok()) co_return ErrorResponse(s);
  auto commit = [&form, &options] { return form.Commit(options); };
  Result<FileInfo> info = co_await RunBlocking(pool, commit);
  if (!info.ok()) co_return ErrorResponse(info.status());
  co_return JsonResponse(http::status::ok, FileJson(*info));
}

Result<FileQuery> QueryOf(const RequestContext& rc) {
  FileQuery q;
  if (auto it = rc.query.find("purpose"); it != rc.query.end()) q.purpose = it->second;
  if (auto it = rc.query.find("after"); it != rc.query.end()) q.after = it->second;
  GLMQ_ASSIGN_OR_RETURN(const std::optional<int64_t> limit,
                        WholeNumberParam(rc.query, "limit", 1, 10000));
  if (limit) q.limit = static_cast<int32_t>(*limit);
  if (auto it = rc.query.find("order"); it != rc.query.end()) {
    if (it->second != "asc" && it->second != "desc") {
      return InvalidArgument("'order' must be 'asc' or 'desc'");
    }
    q.ascending = it->second == "asc";
  }
  return q;
}

// The content, a piece at a time from the store to the socket.
asio::awaitable<void> StreamContent(FileStore& files, asio::thread_pool& pool, std::string tenant,
                                    std::string id, StreamWriter& out) {
  int64_t offset = 0;
  for (;;) {
    auto read = [&files, &tenant, &id, offset] {
      return files.Read(tenant, id, offset, kContentPieceBytes);
    };
    Result<std::string> piece = co_await RunBlocking(pool, read);
    // The head is sent: a failure now can only cut the body short, which the client sees.
    if (!piece.ok() || piece->empty()) co_return;
    offset += static_cast<int64_t>(piece->size());
    if (!co_await out.Write(std::move(*piece))) co_return;
  }
}

}  // namespace

json FileJson(const FileInfo& file) {
  return {{"id", file.id},
          {"object", "file"},
          {"bytes", file.bytes},
          {"created_at", file.created_at / 1000},
          {"filename", file.filename},
          {"purpose", file.purpose},
          {"expires_at", file.expires_at > 0 ? json(file.expires_at / 1000) : json(nullptr)},
          {"status", "processed"},
          {"status_details", nullptr}};
}

void AddFileRoutes(Router& router, FileStore& files, const FilesOptions& options,
                   asio::thread_pool& pool) {
  router.Add(
      http::verb::post, "/v1/files",
      [&files, options, &pool](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        co_return co_await Upload(rc, files, options, pool);
      },
      Access::kSubmit, BodyMode::kStreamed);

  router.Add(
      http::verb::get, "/v1/files",
      [&files, &pool](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        Result<FileQuery> q = QueryOf(rc);
        if (!q.ok()) co_return ErrorResponse(q.status());
        auto list = [&files, tenant = rc.caller.tenant, query = *q] {
          return files.List(tenant, query);
        };
        Result<FilePage> page = co_await RunBlocking(pool, list);
        if (!page.ok()) co_return ErrorResponse(page.status());
        json data = json::array();
        for (const FileInfo& f : page->files) data.push_back(FileJson(f));
        co_return JsonResponse(http::status::ok, ListPageJson(std::move(data), page->has_more));
      },
      Access::kRead);

  router.Add(
      http::verb::get, "/v1/files/{id}",
      [&files, &pool](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto get = [&files, tenant = rc.caller.tenant, id = rc.params["id"]] {
          return files.Get(tenant, id);
        };
        Result<FileInfo> info = co_await RunBlocking(pool, get);
        if (!info.ok()) co_return ErrorResponse(info.status());
        co_return JsonResponse(http::status::ok, FileJson(*info));
      },
      Access::kRead);

  router.Add(
      http::verb::get, "/v1/files/{id}/content",
      [&files, &pool](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto get = [&files, tenant = rc.caller.tenant, id = rc.params["id"]] {
          return files.Get(tenant, id);
        };
        Result<FileInfo> info = co_await RunBlocking(pool, get);
        if (!info.ok()) co_return ErrorResponse(info.status());
        HttpResponse res{http::status::ok, rc.request.version()};
        res.set(http::field::content_type, "application/octet-stream");
        res.set(http::field::content_disposition,
                "attachment; filename=\"" + info->id + ".jsonl\"");
        rc.stream = [&files, &pool, tenant = rc.caller.tenant,
                     id = info->id](StreamWriter& out) -> asio::awaitable<void> {
          return StreamContent(files, pool, tenant, id, out);
        };
        co_return res;
      },
      Access::kRead);

  router.Add(
      http::verb::delete_, "/v1/files/{id}",
      [&files, &pool](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto erase = [&files, tenant = rc.caller.tenant, id = rc.params["id"]] {
          return files.Delete(tenant, id);
        };
        Status s = co_await RunBlocking(pool, erase);
        if (!s.ok()) co_return ErrorResponse(s);
        co_return JsonResponse(http::status::ok,
                               {{"id", rc.params["id"]}, {"object", "file"}, {"deleted", true}});
      },
      Access::kSubmit);
}

}  // namespace glmq
