// RedisJobStore's part in coordinating requests and processes: Idempotency-Key records, the
// worker registry, named leases and shared blobs. Each record carries the expiry it is
// judged by (against the caller's clock); Redis's own expiry only reclaims the memory later.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "store/job_codec.h"
#include "store/redis_client.h"
#include "store/redis_store.h"

namespace glmq {
namespace {

using redis::Reply;
using redis::SaturatingAdd;
using redis::ScriptId;
using redis::Str;

// How much later than a record's own expiry Redis deletes it: a caller whose clock runs a
// little ahead of Redis's still finds it.
constexpr int64_t kRecordGraceMs = 60'000;
// Worker registry entries this long dead are deleted by the next heartbeat.
constexpr int64_t kWorkerForgetMs = 3'600'000;

}  // namespace

Result<JobStore::IdempotencyState> RedisJobStore::BeginIdempotent(const IdempotencyClaim& claim,
                                                                  TimeMs now,
                                                                  int64_t in_flight_ms) {
  if (in_flight_ms <= 0) return InvalidArgument("in_flight_ms must be positive");
  const std::string now_text = Str(now), until = Str(SaturatingAdd(now, in_flight_ms)),
                    gc = Str(SaturatingAdd(in_flight_ms, kRecordGraceMs));
  // No retry: a second run would find this request's own reservation and say "in flight".
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kBeginIdempotent,
                                         {claim.key, claim.body_sha256, now_text, until, gc},
                                         /*retry=*/false));
  if (reply.elements.empty()) return Internal("redis: unexpected reply to begin_idempotent");
  IdempotencyState state;
  const std::string& kind = reply.elements[0].str;
  if (kind == "reserved") {
    state.kind = IdempotencyState::Kind::kReserved;
  } else if (kind == "in_flight") {
    state.kind = IdempotencyState::Kind::kInFlight;
  } else if (kind == "mismatch") {
    state.kind = IdempotencyState::Kind::kMismatch;
  } else if (kind == "done" && reply.elements.size() == 4) {
    state.kind = IdempotencyState::Kind::kDone;
    state.status = std::atoi(reply.elements[1].str.c_str());
    state.response = std::move(reply.elements[2].str);
    state.job_id = std::move(reply.elements[3].str);
  } else {
    return Internal("redis: unexpected idempotency state '" + kind + "'");
  }
  return state;
}

Status RedisJobStore::InsertIdempotent(const Job& job, const IdempotencyClaim& claim, int status,
                                       const std::string& response, int64_t ttl_ms) {
  if (ttl_ms <= 0) return InvalidArgument("ttl_ms must be positive");
  const std::string status_text = Str(status), expires = Str(SaturatingAdd(NowMs(), ttl_ms)),
                    gc = Str(SaturatingAdd(ttl_ms, kRecordGraceMs));
  // The same script as Insert, with the answer as extra arguments: one atomic step.
  return InsertWith(job, {claim.key, claim.body_sha256, status_text, response, expires, gc});
}

Status RedisJobStore::FinishIdempotent(const IdempotencyClaim& claim, int status,
                                       const std::string& response, int64_t ttl_ms) {
  if (ttl_ms <= 0) return InvalidArgument("ttl_ms must be positive");
  const std::string status_text = Str(status), expires = Str(SaturatingAdd(NowMs(), ttl_ms)),
                    gc = Str(SaturatingAdd(ttl_ms, kRecordGraceMs));
  return Exec(ScriptId::kFinishIdempotent,
              {claim.key, claim.body_sha256, status_text, response, expires, gc},
              /*retry=*/true);
}

Status RedisJobStore::AbandonIdempotent(const IdempotencyClaim& claim) {
  return Exec(ScriptId::kAbandonIdempotent, {claim.key, claim.body_sha256}, /*retry=*/true);
}

Status RedisJobStore::WorkerHeartbeat(const std::string& worker, TimeMs now, int64_t ttl_ms,
                                      const WorkerReport& report) {
  WorkerReport named = report;
  named.worker = worker;
  const std::string expires = Str(SaturatingAdd(now, ttl_ms)), text = EncodeWorkerReport(named),
                    forget = Str(SaturatingAdd(now, -kWorkerForgetMs));
  // Retry is safe: a second beat says the same.
  return Run(ScriptId::kWorkerBeat, {worker, expires, text, forget}, /*retry=*/true).status();
}

Result<int64_t> RedisJobStore::LiveWorkers(TimeMs now) {
  std::string after = "(";  // exclusive: alive while now < heartbeat + ttl
  after += Str(now);
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies,
                        Commands({{"ZCOUNT", options_.prefix + "workers", after, "+inf"}}));
  return replies[0].integer;
}

Result<std::vector<WorkerReport>> RedisJobStore::LiveWorkerReports(TimeMs now) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kWorkerReports, {Str(now)}, /*retry=*/true));
  std::vector<WorkerReport> out;
  for (const Reply& r : reply.elements) {
    auto report = DecodeWorkerReport(r.str);
    if (!report.ok()) {
      spdlog::warn("skipping a worker report Redis holds: {}", report.status().message());
      continue;
    }
    out.push_back(std::move(*report));
  }
  return out;
}

Result<bool> RedisJobStore::AcquireLease(const std::string& name, const std::string& holder,
                                         TimeMs now, int64_t lease_ms) {
  if (lease_ms <= 0) return InvalidArgument("lease_ms must be positive");
  const std::string now_text = Str(now), expires = Str(SaturatingAdd(now, lease_ms)),
                    gc = Str(SaturatingAdd(lease_ms, kRecordGraceMs));
  // Retry is safe: run again, the same holder just renews.
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kAcquireLease,
                                         {name, holder, now_text, expires, gc}, /*retry=*/true));
  return reply.integer == 1;
}

Result<std::string> RedisJobStore::GetBlob(const std::string& key) {
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies,
                        Commands({{"GET", options_.prefix + "blob:" + key}}));
  return std::move(replies[0].str);  // nil reads as ""
}

Status RedisJobStore::PutBlob(const std::string& key, const std::string& value) {
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies,
                        Commands({{"SET", options_.prefix + "blob:" + key, value}}));
  return Status::Ok();
}

Status RedisJobStore::AddApiKey(const ApiKeyRecord& key) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply,
                        Run(ScriptId::kAddApiKey, {key.id, key.sha256, EncodeApiKeyRecord(key)},
                            /*retry=*/false));
  if (reply.integer != 1) return Conflict("an API key with id " + key.id + " or its hash exists");
  return Status::Ok();
}

Result<std::vector<JobStore::ApiKeyRecord>> RedisJobStore::ApiKeys() {
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies,
                        Commands({{"HVALS", options_.prefix + "api_keys"}}));
  std::vector<ApiKeyRecord> out;
  for (const Reply& r : replies[0].elements) {
    GLMQ_ASSIGN_OR_RETURN(ApiKeyRecord key, DecodeApiKeyRecord(r.str));
    out.push_back(std::move(key));
  }
  std::sort(out.begin(), out.end(), [](const ApiKeyRecord& a, const ApiKeyRecord& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  return out;
}

Result<bool> RedisJobStore::RemoveApiKey(const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kRemoveApiKey, {id}, /*retry=*/true));
  return reply.integer == 1;
}

Result<std::vector<JobStore::UsageRow>> RedisJobStore::Usage(
    const std::optional<std::string>& tenant, int64_t from_day, int64_t to_day) {
  std::vector<std::string> keys;  // the commands' arguments point into these
  for (int64_t day = from_day; day <= to_day; ++day) {
    keys.push_back(options_.prefix + "usage:" + Str(day));
  }
  std::vector<redis::Args> commands;
  for (const std::string& key : keys) commands.push_back({"HGETALL", key});
  if (commands.empty()) return std::vector<UsageRow>{};
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies, Commands(commands));
  std::vector<UsageRow> out;
  for (size_t d = 0; d < replies.size(); ++d) {
    std::map<std::string, UsageRow> rows;  // by tenant
    const std::vector<Reply>& kv = replies[d].elements;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      const std::string& field = kv[i].str;
      const size_t bar = field.rfind('|');
      if (bar == std::string::npos) continue;
      const std::string t = field.substr(0, bar), what = field.substr(bar + 1);
      if (tenant && t != *tenant) continue;
      UsageRow& row = rows[t];
      row.tenant = t;
      row.day = from_day + static_cast<int64_t>(d);
      const int64_t n = std::strtoll(kv[i + 1].str.c_str(), nullptr, 10);
      if (what == "succeeded") row.succeeded = n;
      if (what == "failed") row.failed = n;
      if (what == "cancelled") row.cancelled = n;
      if (what == "expired") row.expired = n;
      if (what == "prompt_tokens") row.prompt_tokens = n;
      if (what == "cached_tokens") row.cached_tokens = n;
      if (what == "completion_tokens") row.completion_tokens = n;
    }
    for (auto& [t, row] : rows) out.push_back(std::move(row));
  }
  return out;
}

Result<JobStore::WorkAhead> RedisJobStore::QueuedOf(const std::string& tenant) {
  const std::string listing = tenant.empty()
                                  ? options_.prefix + "state:queued"
                                  : options_.prefix + "tenant:" + tenant + ":state:queued";
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies,
                        Commands({{"ZCARD", listing},
                                  {"HMGET", options_.prefix + "tenant_queued:" + tenant,
                                   "prompt_tokens", "max_tokens"}}));
  auto number = [](const Reply& r) -> int64_t {
    // Jobs queued before these counts existed were never added: never below zero.
    return std::max<int64_t>(0, r.str.empty() ? 0 : std::strtoll(r.str.c_str(), nullptr, 10));
  };
  const std::vector<Reply>& work = replies[1].elements;
  return WorkAhead{.jobs = replies[0].integer,
                   .prompt_tokens = work.size() == 2 ? number(work[0]) : 0,
                   .max_tokens = work.size() == 2 ? number(work[1]) : 0};
}

}  // namespace glmq
