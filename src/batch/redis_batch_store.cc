#include "batch/redis_batch_store.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "store/redis_client.h"

namespace glmq {
namespace {

using json = nlohmann::json;
using redis::Reply;
using redis::Str;

// ARGV: prefix, id, tenant, status, record, "1" when the status is not terminal
constexpr const char* kCreateScript = R"(
local p, id, tenant, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = p .. 'batch:' .. id
if redis.call('EXISTS', key) == 1 then
  return redis.error_reply('GLMQ_CONFLICT batch ' .. id .. ' exists')
end
local seq = redis.call('INCR', p .. 'batch_seq')
redis.call('HSET', key, 'tenant', tenant, 'status', status, 'record', ARGV[5], 'seq', seq,
           'ended_at', 0, 'total', 0, 'completed', 0, 'failed', 0, 'input_tokens', 0,
           'cached_tokens', 0, 'output_tokens', 0)
redis.call('ZADD', p .. 'batches:' .. tenant, seq, id)
if ARGV[6] == '1' then redis.call('ZADD', p .. 'batches_active', seq, id) end
redis.call('HINCRBY', p .. 'batch_statuses', status, 1)
return seq
)";

// ARGV: prefix, id, from, to, record, ended_at (0 while not terminal)
constexpr const char* kUpdateScript = R"(
local p, id, from, to = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = p .. 'batch:' .. id
local status = redis.call('HGET', key, 'status')
if status ~= from then
  return redis.error_reply('GLMQ_CONFLICT batch ' .. id .. ' is no longer ' .. from)
end
redis.call('HSET', key, 'status', to, 'record', ARGV[5])
if from ~= to then
  redis.call('HINCRBY', p .. 'batch_statuses', from, -1)
  redis.call('HINCRBY', p .. 'batch_statuses', to, 1)
end
if tonumber(ARGV[6]) > 0 then
  redis.call('HSET', key, 'ended_at', ARGV[6])
  redis.call('ZREM', p .. 'batches_active', id)
  redis.call('ZADD', p .. 'batches_ended', ARGV[6], id)
end
return 1
)";

// ARGV: prefix, id  -> 1 when it was there
constexpr const char* kDeleteScript = R"(
local p, id = ARGV[1], ARGV[2]
local key = p .. 'batch:' .. id
local rec = redis.call('HMGET', key, 'tenant', 'status')
redis.call('ZREM', p .. 'batches_active', id)
redis.call('ZREM', p .. 'batches_ended', id)
if not rec[1] then return 0 end
redis.call('ZREM', p .. 'batches:' .. rec[1], id)
redis.call('HINCRBY', p .. 'batch_statuses', rec[2], -1)
redis.call('UNLINK', key, p .. 'batch_lines:' .. id, p .. 'batch_pending:' .. id,
           p .. 'batch_line:' .. id, p .. 'batch_result:' .. id)
return 1
)";

// ARGV: prefix, id, then per line: number, line, result ("" = pending), ok, input, cached,
// output tokens  -> per line 1 when added, 0 when it was there (and is left as it is)
constexpr const char* kAddLinesScript = R"(
local p, id = ARGV[1], ARGV[2]
local key = p .. 'batch:' .. id
if redis.call('EXISTS', key) == 0 then return redis.error_reply('GLMQ_NOTFOUND no batch ' .. id) end
local lines, pending = p .. 'batch_lines:' .. id, p .. 'batch_pending:' .. id
local line_of, result_of = p .. 'batch_line:' .. id, p .. 'batch_result:' .. id
local added, out = 0, {}
for i = 3, #ARGV, 7 do
  local n = ARGV[i]
  out[#out + 1] = 0
  if redis.call('ZADD', lines, 'NX', n, n) == 1 then
    added = added + 1
    out[#out] = 1
    redis.call('HSET', line_of, n, ARGV[i + 1])
    if ARGV[i + 2] == '' then
      redis.call('ZADD', pending, n, n)
    else
      redis.call('HSET', result_of, n, ARGV[i + 2])
      redis.call('HINCRBY', key, ARGV[i + 3] == '1' and 'completed' or 'failed', 1)
      redis.call('HINCRBY', key, 'input_tokens', ARGV[i + 4])
      redis.call('HINCRBY', key, 'cached_tokens', ARGV[i + 5])
      redis.call('HINCRBY', key, 'output_tokens', ARGV[i + 6])
    end
  end
end
redis.call('HINCRBY', key, 'total', added)
return out
)";

// ARGV: prefix, id, then per line: number, result, ok, input, cached, output tokens
//   -> per line 1 when written, 0 when it already had a result (or is not there)
constexpr const char* kSetResultsScript = R"(
local p, id = ARGV[1], ARGV[2]
local key, pending = p .. 'batch:' .. id, p .. 'batch_pending:' .. id
local result_of = p .. 'batch_result:' .. id
local out = {}
for i = 3, #ARGV, 6 do
  local n = ARGV[i]
  if redis.call('ZREM', pending, n) == 0 then
    out[#out + 1] = 0
  else
    redis.call('HSET', result_of, n, ARGV[i + 1])
    redis.call('HINCRBY', key, ARGV[i + 2] == '1' and 'completed' or 'failed', 1)
    redis.call('HINCRBY', key, 'input_tokens', ARGV[i + 3])
    redis.call('HINCRBY', key, 'cached_tokens', ARGV[i + 4])
    redis.call('HINCRBY', key, 'output_tokens', ARGV[i + 5])
    out[#out + 1] = 1
  end
end
return out
)";

constexpr const char* kScripts[] = {kCreateScript, kUpdateScript, kDeleteScript, kAddLinesScript,
                                    kSetResultsScript};

constexpr const char* kBatchFields[] = {"tenant", "record",       "total",         "completed",
                                        "failed", "input_tokens", "cached_tokens", "output_tokens"};

int64_t Int(const Reply& r) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  int64_t v = 0;
  std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
  return v;
}

Result<std::optional<Batch>> DecodeStored(const Reply& r) {
  if (!r.is_array() || r.elements.size() != std::size(kBatchFields) || r.elements[0].is_nil()) {
    return std::optional<Batch>();
  }
  const std::vector<Reply>& e = r.elements;
  GLMQ_ASSIGN_OR_RETURN(Batch batch, DecodeBatch(e[1].str));
  batch.total = Int(e[2]);
  batch.completed = Int(e[3]);
  batch.failed = Int(e[4]);
  batch.usage = {.input_tokens = Int(e[5]), .cached_tokens = Int(e[6]), .output_tokens = Int(e[7])};
  return std::optional<Batch>(std::move(batch));
}

std::string EncodeResult(const BatchLine& line) {
  return json{
      {"result", line.result},
      {"ok", line.ok},
      {"usage", {line.usage.input_tokens, line.usage.cached_tokens, line.usage.output_tokens}}}
      .dump();
}

}  // namespace

Result<std::unique_ptr<RedisBatchStore>> RedisBatchStore::Open(const std::string& url,
                                                               const std::string& prefix) {
  GLMQ_ASSIGN_OR_RETURN(auto pool, redis::Pool::ForUrl(url, /*size=*/4, /*timeout_seconds=*/5));
  std::unique_ptr<RedisBatchStore> store(new RedisBatchStore(std::move(pool), prefix));
  for (int i = 0; i < kScriptCount; ++i) {
    GLMQ_ASSIGN_OR_RETURN(store->shas_[i], redis::LoadScript(*store->pool_, kScripts[i]));
  }
  return store;
}

RedisBatchStore::RedisBatchStore(std::unique_ptr<redis::Pool> pool, std::string prefix)
    : pool_(std::move(pool)), prefix_(std::move(prefix)) {}

RedisBatchStore::~RedisBatchStore() = default;

std::string RedisBatchStore::Key(std::string_view what, std::string_view id) const {
  std::string key = prefix_;
  key += what;
  key += id;
  return key;
}

Result<Reply> RedisBatchStore::RunForReply(Script script, const std::vector<std::string_view>& args,
                                           bool retry) {
  redis::Args argv;
  argv.reserve(args.size() + 1);
  argv.push_back(prefix_);
  argv.insert(argv.end(), args.begin(), args.end());
  GLMQ_ASSIGN_OR_RETURN(Reply reply, pool_->Eval(shas_[script], kScripts[script], argv,
                                                 retry ? redis::Retry::kOnce : redis::Retry::kNo));
  if (reply.is_error()) return redis::ErrorReplyStatus(reply.str);
  return reply;
}

Result<int64_t> RedisBatchStore::Run(Script script, const std::vector<std::string_view>& args,
                                     bool retry) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply, RunForReply(script, args, retry));
  return reply.integer;
}

Status RedisBatchStore::Create(const Batch& batch) {
  const std::string record = EncodeBatch(batch);
  return Run(kCreate,
             {batch.id, batch.tenant, BatchStatusName(batch.status), record,
              IsTerminal(batch.status) ? "0" : "1"},
             /*retry=*/false)
      .status();
}

Result<std::vector<Batch>> RedisBatchStore::Read(const std::vector<std::string>& ids) {
  std::vector<std::string> keys;
  for (const std::string& id : ids) keys.push_back(Key("batch:", id));
  std::vector<redis::Args> reads;
  for (const std::string& key : keys) {
    redis::Args& read = reads.emplace_back(redis::Args{"HMGET", key});
    for (const char* f : kBatchFields) read.push_back(f);
  }
  std::vector<Batch> out;
  if (reads.empty()) return out;
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies, pool_->Pipeline(reads, redis::Retry::kOnce));
  for (const Reply& reply : replies) {
    if (reply.is_error()) return redis::ErrorReplyStatus(reply.str);
    GLMQ_ASSIGN_OR_RETURN(std::optional<Batch> batch, DecodeStored(reply));
    if (batch) out.push_back(std::move(*batch));
  }
  return out;
}

Result<Batch> RedisBatchStore::Get(const std::string& tenant, const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(std::vector<Batch> found, Read({id}));
  if (found.empty() || found[0].tenant != tenant) return NotFound("no batch " + id);
  return std::move(found[0]);
}

Result<Batch> RedisBatchStore::Find(const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(std::vector<Batch> found, Read({id}));
  if (found.empty()) return NotFound("no batch " + id);
  return std::move(found[0]);
}

Result<BatchPage> RedisBatchStore::List(const std::string& tenant, const std::string& after,
                                        int32_t limit) {
  const std::string listing = Key("batches:", tenant);
  std::string from = "+inf";
  if (!after.empty()) {
    GLMQ_ASSIGN_OR_RETURN(Reply seq,
                          pool_->Command({"ZSCORE", listing, after}, redis::Retry::kOnce));
    if (seq.is_nil()) return NotFound("no batch " + after + " to list after");
    from = "(" + seq.str;
  }
  const std::string count = Str(static_cast<int64_t>(limit) + 1);
  GLMQ_ASSIGN_OR_RETURN(Reply ids, pool_->Command({"ZRANGE", listing, from, "-inf", "BYSCORE",
                                                   "REV", "LIMIT", "0", count},
                                                  redis::Retry::kOnce));
  if (ids.is_error()) return redis::ErrorReplyStatus(ids.str);
  std::vector<std::string> wanted;
  for (const Reply& id : ids.elements) wanted.push_back(id.str);
  BatchPage page;
  if (static_cast<int32_t>(wanted.size()) > limit) {
    page.has_more = true;
    wanted.resize(static_cast<size_t>(limit));
  }
  GLMQ_ASSIGN_OR_RETURN(page.batches, Read(wanted));
  return page;
}

Result<std::vector<Batch>> RedisBatchStore::Active() {
  GLMQ_ASSIGN_OR_RETURN(
      Reply ids, pool_->Command({"ZRANGE", Key("batches_active"), "0", "-1"}, redis::Retry::kOnce));
  if (ids.is_error()) return redis::ErrorReplyStatus(ids.str);
  std::vector<std::string> wanted;
  for (const Reply& id : ids.elements) wanted.push_back(id.str);
  return Read(wanted);
}

Result<std::map<BatchStatus, int64_t>> RedisBatchStore::CountByStatus() {
  GLMQ_ASSIGN_OR_RETURN(Reply all,
                        pool_->Command({"HGETALL", Key("batch_statuses")}, redis::Retry::kOnce));
  if (all.is_error()) return redis::ErrorReplyStatus(all.str);
  std::map<BatchStatus, int64_t> out;
  for (size_t i = 0; i + 1 < all.elements.size(); i += 2) {
    const std::optional<BatchStatus> status = ParseBatchStatus(all.elements[i].str);
    const int64_t n = Int(all.elements[i + 1]);
    if (status && n > 0) out[*status] = n;
  }
  return out;
}

Status RedisBatchStore::Update(const Batch& batch, BatchStatus from) {
  const std::string record = EncodeBatch(batch);
  const std::string ended_at = Str(IsTerminal(batch.status) ? NowMs() : 0);
  // Safe to send again: a second run finds the status moved and answers kConflict, which
  // callers read as "moved meanwhile".
  return Run(kUpdate,
             {batch.id, BatchStatusName(from), BatchStatusName(batch.status), record, ended_at},
             /*retry=*/true)
      .status();
}

Result<int64_t> RedisBatchStore::DeleteEnded(TimeMs before) {
  constexpr int64_t kPerRound = 100;
  int64_t deleted = 0;
  for (;;) {
    GLMQ_ASSIGN_OR_RETURN(
        Reply ids, pool_->Command({"ZRANGE", Key("batches_ended"), "-inf", Str(before), "BYSCORE",
                                   "LIMIT", "0", Str(kPerRound)},
                                  redis::Retry::kOnce));
    if (ids.is_error()) return redis::ErrorReplyStatus(ids.str);
    for (const Reply& id : ids.elements) {
      GLMQ_ASSIGN_OR_RETURN(const int64_t removed, Run(kDelete, {id.str}, /*retry=*/true));
      deleted += removed;
    }
    if (static_cast<int64_t>(ids.elements.size()) < kPerRound) return deleted;
  }
}

Result<std::vector<bool>> RedisBatchStore::AddLines(const std::string& batch_id,
                                                    const std::vector<BatchLine>& lines) {
  if (lines.empty()) return std::vector<bool>();
  std::vector<std::string> texts;  // the arguments' storage
  texts.reserve(lines.size() * 7);
  for (const BatchLine& l : lines) {
    texts.push_back(Str(l.line));
    texts.push_back(json{{"custom_id", l.custom_id}, {"job_id", l.job_id}}.dump());
    texts.push_back(l.result.empty() ? std::string() : EncodeResult(l));
    texts.push_back(l.ok ? "1" : "0");
    texts.push_back(Str(l.usage.input_tokens));
    texts.push_back(Str(l.usage.cached_tokens));
    texts.push_back(Str(l.usage.output_tokens));
  }
  std::vector<std::string_view> args = {batch_id};
  args.insert(args.end(), texts.begin(), texts.end());
  // Safe to send again: a line already there is left as it is (and reported as not added).
  GLMQ_ASSIGN_OR_RETURN(const Reply reply, RunForReply(kAddLines, args, /*retry=*/true));
  std::vector<bool> added;
  for (const Reply& r : reply.elements) added.push_back(r.integer == 1);
  if (added.size() != lines.size()) return Internal("redis: unexpected reply to add_lines");
  return added;
}

Result<std::vector<bool>> RedisBatchStore::SetResults(const std::string& batch_id,
                                                      const std::vector<BatchLine>& lines) {
  std::vector<std::string> texts;  // the arguments' storage
  texts.reserve(lines.size() * 6);
  for (const BatchLine& l : lines) {
    texts.push_back(Str(l.line));
    texts.push_back(EncodeResult(l));
    texts.push_back(l.ok ? "1" : "0");
    texts.push_back(Str(l.usage.input_tokens));
    texts.push_back(Str(l.usage.cached_tokens));
    texts.push_back(Str(l.usage.output_tokens));
  }
  std::vector<std::string_view> args = {batch_id};
  args.insert(args.end(), texts.begin(), texts.end());
  // Not sent again on a broken connection: a second run would answer "already had one" for
  // the results the first wrote. The runner looks at the lines again next round instead.
  GLMQ_ASSIGN_OR_RETURN(const redis::Reply reply, RunForReply(kSetResults, args, /*retry=*/false));
  std::vector<bool> written;
  for (const redis::Reply& r : reply.elements) written.push_back(r.integer == 1);
  if (written.size() != lines.size()) return Internal("redis: unexpected reply to set_results");
  return written;
}

Result<std::vector<std::string>> RedisBatchStore::Numbers(const std::string& zset,
                                                          int64_t after_line, int32_t limit) {
  const std::string from = "(" + Str(after_line), count = Str(limit);
  GLMQ_ASSIGN_OR_RETURN(
      Reply numbers, pool_->Command({"ZRANGE", zset, from, "+inf", "BYSCORE", "LIMIT", "0", count},
                                    redis::Retry::kOnce));
  if (numbers.is_error()) return redis::ErrorReplyStatus(numbers.str);
  std::vector<std::string> out;
  for (const Reply& n : numbers.elements) out.push_back(n.str);
  return out;
}

Result<std::vector<BatchLine>> RedisBatchStore::ReadLines(const std::string& batch_id,
                                                          const std::vector<std::string>& numbers) {
  std::vector<BatchLine> out;
  if (numbers.empty()) return out;
  const std::string line_of = Key("batch_line:", batch_id),
                    result_of = Key("batch_result:", batch_id);
  redis::Args lines = {"HMGET", line_of}, results = {"HMGET", result_of};
  for (const std::string& n : numbers) {
    lines.push_back(n);
    results.push_back(n);
  }
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies,
                        pool_->Pipeline({lines, results}, redis::Retry::kOnce));
  for (const Reply& r : replies) {
    if (r.is_error()) return redis::ErrorReplyStatus(r.str);
  }
  for (size_t i = 0; i < numbers.size(); ++i) {
    const Reply& line = replies[0].elements[i];
    if (line.is_nil()) continue;  // the batch was deleted meanwhile
    BatchLine& l = out.emplace_back();
    std::from_chars(numbers[i].data(), numbers[i].data() + numbers[i].size(), l.line);
    const json request = json::parse(line.str, nullptr, /*allow_exceptions=*/false);
    if (!request.is_object()) return Internal("batch " + batch_id + ": a stored line is not JSON");
    l.custom_id = request.value("custom_id", "");
    l.job_id = request.value("job_id", "");
    const Reply& result = replies[1].elements[i];
    if (result.is_nil()) continue;
    const json r = json::parse(result.str, nullptr, /*allow_exceptions=*/false);
    const auto usage = r.is_object() ? r.find("usage") : r.end();
    if (usage == r.end() || !usage->is_array() || usage->size() != 3 ||
        !std::all_of(usage->begin(), usage->end(),
                     [](const json& v) { return v.is_number_integer(); })) {
      return Internal("batch " + batch_id + ": a stored result is not readable");
    }
    l.result = r.value("result", "");
    l.ok = r.value("ok", false);
    l.usage = {.input_tokens = (*usage)[0].get<int64_t>(),
               .cached_tokens = (*usage)[1].get<int64_t>(),
               .output_tokens = (*usage)[2].get<int64_t>()};
  }
  return out;
}

Result<std::vector<BatchLine>> RedisBatchStore::Pending(const std::string& batch_id,
                                                        int64_t after_line, int32_t limit) {
  GLMQ_ASSIGN_OR_RETURN(std::vector<std::string> numbers,
                        Numbers(Key("batch_pending:", batch_id), after_line, limit));
  return ReadLines(batch_id, numbers);
}

Result<std::vector<BatchLine>> RedisBatchStore::Lines(const std::string& batch_id,
                                                      int64_t after_line, int32_t limit) {
  GLMQ_ASSIGN_OR_RETURN(std::vector<std::string> numbers,
                        Numbers(Key("batch_lines:", batch_id), after_line, limit));
  return ReadLines(batch_id, numbers);
}

}  // namespace glmq
