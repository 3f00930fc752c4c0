#include "files/redis_file_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "store/redis_client.h"

namespace glmq {
namespace {

using redis::Reply;
using redis::Str;

// ARGV: prefix, id, tenant, filename, purpose, bytes, created_at, expires_at, chunks
//   -> seq; GLMQ_NOTFOUND when a chunk is gone (the upload outlived kUploadTtlMs)
constexpr const char* kCommitScript = R"(
local p, id = ARGV[1], ARGV[2]
local chunks = tonumber(ARGV[9])
local prefix = p .. 'file_chunk:' .. id .. ':'
for n = 0, chunks - 1 do
  if redis.call('EXISTS', prefix .. n) == 0 then
    return redis.error_reply('GLMQ_NOTFOUND a piece of file ' .. id .. ' is gone: its upload took too long')
  end
end
local seq = redis.call('INCR', p .. 'file_seq')
redis.call('HSET', p .. 'file:' .. id, 'tenant', ARGV[3], 'filename', ARGV[4], 'purpose', ARGV[5],
           'bytes', ARGV[6], 'created_at', ARGV[7], 'expires_at', ARGV[8], 'chunks', ARGV[9],
           'seq', seq)
for n = 0, chunks - 1 do redis.call('PERSIST', prefix .. n) end
redis.call('ZADD', p .. 'files:' .. ARGV[3], seq, id)
if tonumber(ARGV[8]) > 0 then redis.call('ZADD', p .. 'files_expiring', ARGV[8], id) end
return seq
)";

// ARGV: prefix, id, tenant ("" = any)  -> 1 when removed, 0 when there was no such file
constexpr const char* kRemoveScript = R"(
local p, id, tenant = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'file:' .. id
local rec = redis.call('HMGET', key, 'tenant', 'chunks')
if not rec[1] or (tenant ~= '' and rec[1] ~= tenant) then return 0 end
for n = 0, (tonumber(rec[2]) or 0) - 1 do
  redis.call('UNLINK', p .. 'file_chunk:' .. id .. ':' .. n)
end
redis.call('DEL', key)
redis.call('ZREM', p .. 'files:' .. rec[1], id)
redis.call('ZREM', p .. 'files_expiring', id)
return 1
)";

constexpr const char* kFields[] = {"tenant",     "filename",   "purpose", "bytes",
                                   "created_at", "expires_at", "chunks",  "seq"};

int64_t Int(const Reply& r) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  int64_t v = 0;
  std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
  return v;
}

struct Stored {
  FileInfo info;
  int64_t seq = 0;
};

// An HMGET of kFields; nullopt when the file is not there.
std::optional<Stored> DecodeRecord(const std::string& id, const Reply& r) {
  if (!r.is_array() || r.elements.size() != std::size(kFields) || r.elements[0].is_nil()) {
    return std::nullopt;
  }
  const std::vector<Reply>& e = r.elements;
  Stored out;
  out.info = {.id = id,
              .tenant = e[0].str,
              .filename = e[1].str,
              .purpose = e[2].str,
              .bytes = Int(e[3]),
              .created_at = Int(e[4]),
              .expires_at = Int(e[5])};
  out.seq = Int(e[7]);
  return out;
}

redis::Args RecordCommand(const std::string& key) {
  redis::Args args = {"HMGET", key};
  for (const char* f : kFields) args.push_back(f);
  return args;
}

}  // namespace

// Bytes are written a chunk at a time as they fill; the record comes at Commit.
class RedisFileStore::Upload : public FileUpload {
 public:
  Upload(RedisFileStore& store, FileInfo info) : store_(store), info_(std::move(info)) {}
  ~Upload() override {
    if (committed_ || written_ == 0) return;
    std::vector<redis::Args> commands;
    std::vector<std::string> keys;
    for (int64_t n = 0; n < written_; ++n) keys.push_back(store_.ChunkKey(info_.id, n));
    for (const std::string& k : keys) commands.push_back({"UNLINK", k});
    // Left behind if this fails: they expire with kUploadTtlMs.
    (void)store_.pool_->Pipeline(commands, redis::Retry::kOnce);
  }

  Status Append(std::string_view bytes) override {
    while (!bytes.empty()) {
      const size_t take = std::min(bytes.size(), kChunkBytes - pending_.size());
      pending_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      info_.bytes += static_cast<int64_t>(take);
      if (pending_.size() == kChunkBytes) GLMQ_RETURN_IF_ERROR(Flush());
    }
    return Status::Ok();
  }

  Result<FileInfo> Commit(int64_t keep_ms) override {
    if (!pending_.empty()) GLMQ_RETURN_IF_ERROR(Flush());
    info_.created_at = NowMs();
    info_.expires_at = keep_ms > 0 ? info_.created_at + keep_ms : 0;
    const std::string bytes = Str(info_.bytes), created = Str(info_.created_at),
                      expires = Str(info_.expires_at), chunks = Str(written_);
    GLMQ_ASSIGN_OR_RETURN(
        Reply reply, store_.pool_->Eval(store_.commit_sha_, kCommitScript,
                                        {store_.prefix_, info_.id, info_.tenant, info_.filename,
                                         info_.purpose, bytes, created, expires, chunks},
                                        redis::Retry::kNo));
    if (reply.is_error()) return redis::ErrorReplyStatus(reply.str);
    committed_ = true;
    return info_;
  }

 private:
  Status Flush() {
    const std::string key = store_.ChunkKey(info_.id, written_);
    GLMQ_ASSIGN_OR_RETURN(Reply reply,
                          store_.pool_->Command({"SET", key, pending_, "PX", Str(kUploadTtlMs)},
                                                redis::Retry::kOnce));
    if (reply.is_error()) return redis::ErrorReplyStatus(reply.str);
    ++written_;
    pending_.clear();
    return Status::Ok();
  }

  RedisFileStore& store_;
  FileInfo info_;
  std::string pending_;  // the chunk being filled
  int64_t written_ = 0;  // chunks in Redis
  bool committed_ = false;
};

Result<std::unique_ptr<RedisFileStore>> RedisFileStore::Open(const std::string& url,
                                                             const std::string& prefix) {
  GLMQ_ASSIGN_OR_RETURN(auto pool, redis::Pool::ForUrl(url, /*size=*/4, /*timeout_seconds=*/5));
  std::unique_ptr<RedisFileStore> store(new RedisFileStore(std::move(pool), prefix));
  GLMQ_ASSIGN_OR_RETURN(store->commit_sha_, redis::LoadScript(*store->pool_, kCommitScript));
  GLMQ_ASSIGN_OR_RETURN(store->remove_sha_, redis::LoadScript(*store->pool_, kRemoveScript));
  return store;
}

RedisFileStore::RedisFileStore(std::unique_ptr<redis::Pool> pool, std::string prefix)
    : pool_(std::move(pool)), prefix_(std::move(prefix)) {}

RedisFileStore::~RedisFileStore() = default;

std::string RedisFileStore::Key(std::string_view what, std::string_view id) const {
  std::string key = prefix_;
  key += what;
  key += id;
  return key;
}

std::string RedisFileStore::ChunkKey(std::string_view id, int64_t n) const {
  return Key("file_chunk:", id) + ":" + Str(n);
}

Result<std::unique_ptr<FileUpload>> RedisFileStore::Begin(FileInfo info) {
  info.id = NewFileId();
  info.bytes = 0;
  return std::unique_ptr<FileUpload>(new Upload(*this, std::move(info)));
}

Result<FileInfo> RedisFileStore::Record(const std::string& tenant, const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply,
                        pool_->Command(RecordCommand(Key("file:", id)), redis::Retry::kOnce));
  if (reply.is_error()) return redis::ErrorReplyStatus(reply.str);
  std::optional<Stored> record = DecodeRecord(id, reply);
  if (!record || (!tenant.empty() && record->info.tenant != tenant)) {
    return NotFound("no file " + id);
  }
  return std::move(record->info);
}

Result<FileInfo> RedisFileStore::Get(const std::string& tenant, const std::string& id) {
  return Record(tenant, id);
}

Result<FilePage> RedisFileStore::List(const std::string& tenant, const FileQuery& query) {
  const std::string listing = Key("files:", tenant);
  std::string from = query.ascending ? "-inf" : "+inf";
  if (!query.after.empty()) {
    GLMQ_ASSIGN_OR_RETURN(Reply seq,
                          pool_->Command({"ZSCORE", listing, query.after}, redis::Retry::kOnce));
    if (seq.is_nil()) return NotFound("no file " + query.after + " to list after");
    from = "(" + seq.str;
  }
  // Pages of ids, then their records, until the page is full (a purpose filter may skip
  // some) or the listing ends.
  constexpr int64_t kIdsPerRound = 200;
  FilePage page;
  for (;;) {
    redis::Args range = {"ZRANGE", listing, from, query.ascending ? "+inf" : "-inf", "BYSCORE"};
    if (!query.ascending) range.push_back("REV");
    const std::string count = Str(kIdsPerRound);
    range.insert(range.end(), {"LIMIT", "0", count, "WITHSCORES"});
    GLMQ_ASSIGN_OR_RETURN(Reply ids, pool_->Command(range, redis::Retry::kOnce));
    if (ids.is_error()) return redis::ErrorReplyStatus(ids.str);
    if (ids.elements.empty()) return page;
    std::vector<std::string> keys;
    std::vector<redis::Args> reads;
    for (size_t i = 0; i + 1 < ids.elements.size(); i += 2) {
      keys.push_back(Key("file:", ids.elements[i].str));
    }
    for (const std::string& key : keys) reads.push_back(RecordCommand(key));
    GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> records, pool_->Pipeline(reads, redis::Retry::kOnce));
    for (size_t i = 0; i < records.size(); ++i) {
      std::optional<Stored> record = DecodeRecord(ids.elements[2 * i].str, records[i]);
      if (!record || (!query.purpose.empty() && record->info.purpose != query.purpose)) continue;
      if (static_cast<int32_t>(page.files.size()) == query.limit) {
        page.has_more = true;
        return page;
      }
      page.files.push_back(std::move(record->info));
    }
    if (static_cast<int64_t>(keys.size()) < kIdsPerRound) return page;
    from = "(" + ids.elements.back().str;
  }
}

Status RedisFileStore::Remove(const std::string& tenant, const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply, pool_->Eval(remove_sha_, kRemoveScript, {prefix_, id, tenant},
                                                 redis::Retry::kOnce));
  if (reply.is_error()) return redis::ErrorReplyStatus(reply.str);
  return reply.integer == 1 ? Status::Ok() : NotFound("no file " + id);
}

Status RedisFileStore::Delete(const std::string& tenant, const std::string& id) {
  return Remove(tenant, id);
}

Result<std::string> RedisFileStore::Read(const std::string& tenant, const std::string& id,
                                         int64_t offset, size_t max_bytes) {
  GLMQ_ASSIGN_OR_RETURN(FileInfo info, Record(tenant, id));
  if (offset < 0 || offset >= info.bytes || max_bytes == 0) return std::string();
  const int64_t end = std::min(info.bytes, offset + static_cast<int64_t>(max_bytes));
  const auto chunk = static_cast<int64_t>(kChunkBytes);
  std::vector<std::string> keys, starts, stops;
  for (int64_t at = offset; at < end; at = (at / chunk + 1) * chunk) {
    const int64_t n = at / chunk, last = std::min(end, (n + 1) * chunk) - 1;
    keys.push_back(ChunkKey(id, n));
    starts.push_back(Str(at - n * chunk));
    stops.push_back(Str(last - n * chunk));
  }
  std::vector<redis::Args> reads;
  for (size_t i = 0; i < keys.size(); ++i)
    reads.push_back({"GETRANGE", keys[i], starts[i], stops[i]});
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> pieces, pool_->Pipeline(reads, redis::Retry::kOnce));
  std::string out;
  out.reserve(static_cast<size_t>(end - offset));
  for (const Reply& piece : pieces) {
    if (piece.is_error()) return redis::ErrorReplyStatus(piece.str);
    out += piece.str;
  }
  // Deleted (or expired) between the record and its bytes.
  if (static_cast<int64_t>(out.size()) != end - offset) return NotFound("no file " + id);
  return out;
}

Result<int64_t> RedisFileStore::DeleteExpired(TimeMs now) {
  constexpr int64_t kPerRound = 100;
  int64_t deleted = 0;
  for (;;) {
    GLMQ_ASSIGN_OR_RETURN(
        Reply ids, pool_->Command({"ZRANGE", Key("files_expiring", ""), "-inf", Str(now), "BYSCORE",
                                   "LIMIT", "0", Str(kPerRound)},
                                  redis::Retry::kOnce));
    if (ids.is_error()) return redis::ErrorReplyStatus(ids.str);
    for (const Reply& id : ids.elements) {
      Status s = Remove("", id.str);
      if (s.code() == StatusCode::kNotFound) {
        // Listed without a record: take it off the list.
        (void)pool_->Command({"ZREM", Key("files_expiring", ""), id.str}, redis::Retry::kOnce);
        continue;
      }
      GLMQ_RETURN_IF_ERROR(s);
      ++deleted;
    }
    if (static_cast<int64_t>(ids.elements.size()) < kPerRound) return deleted;
  }
}

}  // namespace glmq
