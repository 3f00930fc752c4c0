#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "api/api.h"
#include "api/chat_completion.h"
#include "api/idempotency.h"
#include "api/job_json.h"
#include "api/job_streams.h"
#include "api/json_response.h"
#include "api/query_string.h"
#include "api/queue_json.h"
#include "api/usage_api.h"
#include "core/json_writer.h"

namespace glmq {
namespace {

// /readyz answers 503 for this long after a store write failed.
constexpr int64_t kRecentStoreFailureMs = 5000;

using Accepted = Admission::Accepted;

// The 202's body, newline included; also what an Idempotency-Key replays. Every submit
// writes one, so it goes straight to text.
std::string AcceptedBody(const Accepted& s) {
  std::string out;
  out.reserve(256);
  JsonObjectWriter body(out);
  body.String("id", s.job.id)
      .String("object", "job")
      .String("state", JobStateName(s.job.state))
      .Int("queue_position", s.queue_position)
      .Number("estimated_wait_seconds", s.job.estimated_wait_seconds)
      .Int("prompt_tokens", s.job.prompt_tokens)
      .Bool("prompt_tokens_estimated", s.prompt_tokens_estimated)
      .String("length_class", LengthClassName(s.job.length_class))
      .Number("created_at", UnixSeconds(s.job.created_at));
  body.Close();
  out.push_back('\n');
  return out;
}

HttpResponse SubmitError(const Status& status) {
  if (status.code() == StatusCode::kUnprocessable) {
    return ErrorResponse(ErrorCode::kPromptTooLong, status.message());
  }
  if (status.code() == StatusCode::kInvalidArgument) {
    return ErrorResponse(ErrorCode::kInvalidRequest, status.message());
  }
  spdlog::error("submit failed: {}", status.ToString());
  return ErrorResponse(status);
}

// A queued job with its wait as estimated now, beside the one it was given at submit. Blocks
// on the store; without an answer from it the job goes out as stored.
json QueuedJobJson(ApiContext& ctx, const Job& job) {
  json out = JobToJson(job);
  if (auto wait = ctx.admission.CurrentWaitSeconds(job); wait.ok()) {
    out["current_estimated_wait_seconds"] = *wait;
  }
  if (auto position = ctx.store.QueuePosition(job.id); position.ok() && *position > 0) {
    out["current_queue_position"] = *position;
  }
  return out;
}

HttpResponse FetchError(const Status& status, const std::string& id) {
  if (status.code() == StatusCode::kNotFound) {
    return ErrorResponse(ErrorCode::kNotFound, "no job with id '" + id + "'");
  }
  return ErrorResponse(status);
}

Result<double> ParseWait(const RequestContext& rc, double max_wait) {
  auto it = rc.query.find("wait");
  if (it == rc.query.end() || it->second.empty()) return 0.0;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end == it->second.c_str() || *end != '\0' || !std::isfinite(v) || v < 0 || v > max_wait) {
    return InvalidArgument("'wait' must be a number of seconds from 0 to " +
                           std::to_string(static_cast<int>(max_wait)));
  }
  return v;
}

HttpResponse ListJobs(ApiContext& ctx, const RequestContext& rc) {
  ListFilter filter;
  // A tenant lists its own jobs; an admin every tenant's, or one tenant's with ?tenant=.
  if (!rc.caller.admin()) {
    filter.tenant = rc.caller.tenant;
  } else if (auto it = rc.query.find("tenant"); it != rc.query.end()) {
    if (it->second != kDefaultTenantName && !IsValidTenant(it->second)) {
      return ErrorResponse(ErrorCode::kInvalidRequest, "'tenant' is not a tenant name");
    }
    filter.tenant = it->second == kDefaultTenantName ? "" : it->second;
  }
  if (auto it = rc.query.find("state"); it != rc.query.end() && !it->second.empty()) {
    filter.state = ParseJobState(it->second);
    if (!filter.state) {
      return ErrorResponse(ErrorCode::kInvalidRequest,
                           "'state' must be queued, running, succeeded, failed, cancelled or "
                           "expired");
    }
  }
  const Result<std::optional<int64_t>> limit =
      WholeNumberParam(rc.query, "limit", 1, ctx.options.max_list_limit);
  if (!limit.ok()) return ErrorResponse(limit.status());
  if (*limit) filter.limit = static_cast<int32_t>(**limit);
  if (auto it = rc.query.find("after"); it != rc.query.end() && !it->second.empty()) {
    if (!IsValidJobId(it->second)) {
      return ErrorResponse(ErrorCode::kInvalidRequest, "'after' must be a job id");
    }
    filter.after = it->second;
  }
  const int32_t want = filter.limit;
  filter.limit = want + 1;
  auto jobs = ctx.store.List(filter);
  if (!jobs.ok()) return ErrorResponse(jobs.status());
  const bool has_more = static_cast<int32_t>(jobs->size()) > want;
  if (has_more) jobs->resize(want);
  json data = json::array();
  for (const Job& j : *jobs) data.push_back(JobToJson(j));
  return JsonResponse(http::status::ok,
                      {{"object", "list"},
                       {"data", data},
                       {"has_more", has_more},
                       {"next_after", has_more ? json(jobs->back().id) : json(nullptr)}});
}

HttpResponse AcceptedResponse(const Accepted& s) {
  HttpResponse res{http::status::accepted, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::location, "/v1/jobs/" + s.job.id);
  res.body() = AcceptedBody(s);
  return res;
}

// Parses, prepares and inserts a submitted body. Parsing and preparing a small body without
// tokenizing costs microseconds: that happens on the io thread, and the job joins the next
// insert batch. A large body, or one this process tokenizes, is prepared on the pool, which
// then inserts it too rather than hop back.
template <class Parse>
asio::awaitable<Result<Accepted>> SubmitBody(ApiContext& ctx, RequestContext& rc, Parse parse) {
  const size_t body_bytes = rc.request.body().size();
  // The parser takes the body: a document's bytes are not held twice beside its job.
  auto prepare = [&ctx, &rc, parse]() -> Result<Admission::Prepared> {
    GLMQ_ASSIGN_OR_RETURN(JobRequest request,
                          parse(std::move(rc.request.body()), ctx.options.limits));
    return ctx.admission.Prepare(rc.caller.tenant, std::move(request));
  };
  if (ctx.admission.PreparesWithoutBlocking(body_bytes)) {
    auto prepared = prepare();
    if (!prepared.ok()) co_return prepared.status();
    co_return co_await ctx.admission.InsertBatched(std::move(*prepared));
  }
  auto work = [&ctx, prepare]() -> Result<Accepted> {
    GLMQ_ASSIGN_OR_RETURN(Admission::Prepared prepared, prepare());
    return ctx.admission.InsertNow(std::move(prepared));
  };
  co_return co_await RunBlocking(ctx.pool, std::move(work));
}

// POST /v1/jobs with an Idempotency-Key (see api/idempotency.h).
HttpResponse SubmitJobOnce(ApiContext& ctx, RequestContext& rc,
                           const JobStore::IdempotencyClaim& claim) {
  using Kind = JobStore::IdempotencyState::Kind;
  auto begun = ctx.store.BeginIdempotent(claim, NowMs(), kIdempotencyInFlightMs);
  if (!begun.ok()) return ErrorResponse(begun.status());
  switch (begun->kind) {
    case Kind::kInFlight:
      return ErrorResponse(ErrorCode::kIdempotencyKeyInUse,
                           "a request with this Idempotency-Key is still being accepted; retry "
                           "in a moment");
    case Kind::kMismatch:
      return ErrorResponse(ErrorCode::kIdempotencyKeyReused,
                           "this Idempotency-Key was used with a different request body");
    case Kind::kDone: {
      HttpResponse res{static_cast<http::status>(begun->status), 11};
      res.set(http::field::content_type, "application/json");
      res.set("Idempotent-Replayed", "true");
      if (!begun->job_id.empty()) res.set(http::field::location, "/v1/jobs/" + begun->job_id);
      res.body() = begun->response;
      res.prepare_payload();
      return res;
    }
    case Kind::kReserved:
      break;
  }
  HttpResponse res = [&] {
    auto request = ParseJobRequest(std::move(rc.request.body()), ctx.options.limits);
    if (!request.ok()) return SubmitError(request.status());
    auto prepared = ctx.admission.Prepare(rc.caller.tenant, std::move(*request));
    if (!prepared.ok()) return SubmitError(prepared.status());
    // The 202 is stored with the job, so the work ahead is measured first and the job
    // inserted alone.
    auto accepted = ctx.admission.InsertIdempotent(std::move(*prepared), claim, 202, AcceptedBody,
                                                   kIdempotencyTtlMs);
    if (!accepted.ok()) return SubmitError(accepted.status());
    return AcceptedResponse(*accepted);
  }();
  const int status = res.result_int();
  if (status >= 500) {
    // Our failure, not the request's: let the client try again with the same key.
    if (Status s = ctx.store.AbandonIdempotent(claim); !s.ok()) {
      spdlog::warn("releasing an idempotency key failed: {}", s.ToString());
    }
  } else if (status != 202) {  // a 202 was recorded with its job
    if (Status s = ctx.store.FinishIdempotent(claim, status, res.body(), kIdempotencyTtlMs);
        !s.ok()) {
      spdlog::warn("recording an idempotent answer failed: {}", s.ToString());
    }
  }
  return res;
}

}  // namespace

void AddHealthRoutes(Router& router, JobStore& store, asio::thread_pool& pool) {
  router.Add(
      http::verb::get, "/healthz",
      [](RequestContext&) -> asio::awaitable<HttpResponse> {
        co_return JsonResponse(http::status::ok, {{"status", "ok"}});
      },
      Access::kOpen);
  router.Add(
      http::verb::get, "/readyz",
      [&store, &pool](RequestContext&) -> asio::awaitable<HttpResponse> {
        auto work = [&store]() -> HttpResponse {
          // A small write can pass where a job's does not (a full disk still has room in
          // the WAL), so writes that failed lately count too: not ready while they fail,
          // ready again a few seconds after the last one.
          Status writable = store.CheckWritable();
          const WriteHealth::Snapshot health = store.write_health().Now();
          if (writable.ok() && health.last_failure_at > 0 &&
              NowMs() - health.last_failure_at < kRecentStoreFailureMs) {
            writable = Unavailable(health.last_error);
          }
          json body = {{"status", writable.ok() ? "ready" : "not_ready"},
                       {"model_loaded", true},
                       {"store_writable", writable.ok()},
                       {"store_write_failures_total", health.failures_total}};
          if (!writable.ok()) body["error"] = writable.message();
          HttpResponse res = JsonResponse(
              writable.ok() ? http::status::ok : http::status::service_unavailable, body);
          if (!writable.ok()) {
            res.set(http::field::retry_after, std::to_string(kRetryAfterUnavailableSeconds));
          }
          return res;
        };
        co_return co_await RunBlocking(pool, std::move(work));
      },
      Access::kOpen);
}

// A 429 when the client has used up its submits (--rate-limit); its tenant, or without API
// keys its address, names the client.
std::optional<HttpResponse> RateLimited(ApiContext& ctx, const RequestContext& rc) {
  if (ctx.limiter == nullptr) return std::nullopt;
  // With API keys the tenant is the client (all its keys share one rate), else the address.
  const std::string client = rc.caller.keyed ? "tenant " + rc.caller.tenant : "address " + rc.peer;
  const double wait = ctx.limiter->Acquire(client);
  if (wait <= 0) return std::nullopt;
  const int64_t retry_after = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)));
  HttpResponse res = ErrorResponse(
      ErrorCode::kRateLimited,
      fmt::format("more than {:g} submits a second (bursts of {:g}); try again in {} s",
                  ctx.options.submit_rate, ctx.options.submit_burst, retry_after));
  res.set(http::field::retry_after, std::to_string(retry_after));
  return res;
}

// Whatever refuses a submit before its body is read: the client's rate, its tenant's quotas,
// the service's overload. Reads the store (on the pool) only for a tenant with queue limits.
asio::awaitable<std::optional<HttpResponse>> SubmitRefused(ApiContext& ctx,
                                                           const RequestContext& rc) {
  if (auto limited = RateLimited(ctx, rc)) co_return limited;
  if (ctx.guard == nullptr) co_return std::nullopt;
  if (auto refused = ctx.guard->CheckNow(rc.caller.tenant)) co_return refused;
  if (!ctx.guard->ChecksQueue(rc.caller.tenant)) co_return std::nullopt;
  auto check = [&ctx, tenant = rc.caller.tenant] {
    return ctx.guard->CheckQueued(ctx.store, tenant, [&ctx](const JobStore::WorkAhead& work) {
      return ctx.admission.SecondsFor(work);
    });
  };
  co_return co_await RunBlocking(ctx.pool, std::move(check));
}

void AddApiRoutes(Router& router, ApiContext& ctx) {
  router.Add(
      http::verb::post, "/v1/jobs",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        if (auto refused = co_await SubmitRefused(ctx, rc)) co_return std::move(*refused);
        auto claim = IdempotencyClaimOf(rc.request, rc.caller.tenant);
        if (!claim.ok()) {
          co_return ErrorResponse(ErrorCode::kInvalidIdempotencyKey, claim.status().message());
        }
        if (*claim) {
          auto once = [&ctx, &rc, &claim] { return SubmitJobOnce(ctx, rc, **claim); };
          co_return co_await RunBlocking(ctx.pool, std::move(once));
        }
        auto s = co_await SubmitBody(ctx, rc, ParseJobRequest);
        if (!s.ok()) co_return SubmitError(s.status());
        co_return AcceptedResponse(*s);
      },
      Access::kSubmit);

  router.Add(
      http::verb::get, "/v1/jobs/{id}",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        const std::string id = rc.params["id"];
        auto wait = ParseWait(rc, ctx.options.max_wait_seconds);
        if (!wait.ok()) {
          co_return ErrorResponse(ErrorCode::kInvalidRequest, wait.status().message());
        }
        Result<Job> f = Internal("not read");
        if (*wait > 0) {
          f = co_await AwaitJob(ctx, rc.caller, id, *wait);
        } else {
          auto fetch = [&ctx, &rc, id] { return FetchJob(ctx.store, rc.caller, id, false); };
          f = co_await RunBlocking(ctx.pool, std::move(fetch));
        }
        if (!f.ok()) co_return FetchError(f.status(), id);
        if (f->state != JobState::kQueued) {
          co_return JsonResponse(http::status::ok, JobToJson(*f));
        }
        auto with_estimate = [&ctx, job = std::move(*f)] { return QueuedJobJson(ctx, job); };
        co_return JsonResponse(http::status::ok,
                               co_await RunBlocking(ctx.pool, std::move(with_estimate)));
      },
      Access::kRead);

  router.Add(
      http::verb::get, "/v1/jobs/{id}/events",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        const std::string id = rc.params["id"];
        auto fetch = [&ctx, &rc, id] { return FetchJob(ctx.store, rc.caller, id, false); };
        Result<Job> f = co_await RunBlocking(ctx.pool, std::move(fetch));
        if (!f.ok()) co_return FetchError(f.status(), id);
        rc.stream = [&ctx, id](StreamWriter& out) { return JobEvents(ctx, id, out); };
        co_return EventStreamHead();
      },
      Access::kRead);

  router.Add(
      http::verb::delete_, "/v1/jobs/{id}",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        const std::string id = rc.params["id"];
        auto work = [&ctx, &rc, id]() -> HttpResponse {
          if (auto mine = FetchJob(ctx.store, rc.caller, id, false); !mine.ok()) {
            return FetchError(mine.status(), id);
          }
          auto job = ctx.store.Cancel(id);
          if (!job.ok()) return FetchError(job.status(), id);
          if (job->state == JobState::kRunning && ctx.scheduler) ctx.scheduler->RequestStop(id);
          if (IsTerminal(job->state) && job->state != JobState::kCancelled) {
            return ErrorResponse(ErrorCode::kConflict,
                                 "job '" + id + "' already ended as " + JobStateName(job->state));
          }
          return JsonResponse(http::status::ok, JobToJson(*job));
        };
        co_return co_await RunBlocking(ctx.pool, std::move(work));
      },
      Access::kSubmit);

  router.Add(
      http::verb::get, "/v1/jobs",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto work = [&ctx, &rc] { return ListJobs(ctx, rc); };
        co_return co_await RunBlocking(ctx.pool, std::move(work));
      },
      Access::kRead);

  router.Add(
      http::verb::get, "/v1/queue",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto work = [&ctx, &rc]() -> HttpResponse {
          auto report = ctx.queue.Read(/*with_running_jobs=*/true);
          if (!report.ok()) return ErrorResponse(report.status());
          return JsonResponse(http::status::ok, QueueJson(ctx, rc.caller, *report));
        };
        co_return co_await RunBlocking(ctx.pool, std::move(work));
      },
      Access::kRead);

  AddUsageRoute(router, ctx);
  AddHealthRoutes(router, ctx.store, ctx.pool);

  // The seed API, kept so its clients move over unchanged.
  // OpenAI's chat completions over the queue: the job is submitted as any other (durable,
  // scheduled, visible in /v1/jobs) and the connection held until it ends.
  router.Add(
      http::verb::post, "/v1/chat/completions",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        if (auto refused = co_await SubmitRefused(ctx, rc)) co_return std::move(*refused);
        bool stream = false;
        auto parse = [&stream](std::string body, const RequestLimits& limits) {
          return ParseOpenAiChatRequest(std::move(body), limits, &stream);
        };
        auto s = co_await SubmitBody(ctx, rc, parse);
        if (!s.ok()) co_return SubmitError(s.status());
        if (stream) {
          HttpResponse head = EventStreamHead();
          head.set("Glmq-Job", s->job.id);
          rc.stream = [&ctx, caller = rc.caller, id = s->job.id](StreamWriter& out) {
            return ChatCompletionStream(ctx, caller, id, out);
          };
          co_return head;
        }
        Result<Job> f = co_await AwaitJob(ctx, rc.caller, s->job.id, ctx.options.chat_wait_seconds);
        co_return ChatCompletionAnswer(f, ctx.watch.closed(), ctx.admission.model().name);
      },
      Access::kSubmit);

  router.Add(
      http::verb::post, "/api/v1/chat",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        if (auto refused = co_await SubmitRefused(ctx, rc)) co_return std::move(*refused);
        auto s = co_await SubmitBody(ctx, rc, ParseSeedChatRequest);
        if (!s.ok()) co_return SubmitError(s.status());
        co_return JsonResponse(http::status::ok, {{"task_id", s->job.id},
                                                  {"status", SeedStatusName(s->job.state)},
                                                  {"message", "task queued"},
                                                  {"estimated_time", s->job.estimated_wait_seconds},
                                                  {"queue_position", s->queue_position}});
      },
      Access::kSubmit);

  router.Add(
      http::verb::get, "/api/v1/task/{task_id}",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        const std::string id = rc.params["task_id"];
        auto fetch = [&ctx, &rc, id] { return FetchJob(ctx.store, rc.caller, id, false); };
        Result<Job> f = co_await RunBlocking(ctx.pool, std::move(fetch));
        if (!f.ok()) co_return FetchError(f.status(), id);
        co_return JsonResponse(http::status::ok, JobToSeedJson(*f));
      },
      Access::kRead);

  router.Add(
      http::verb::get, "/api/v1/queue/status",
      [&ctx](RequestContext&) -> asio::awaitable<HttpResponse> {
        auto work = [&ctx]() -> HttpResponse {
          auto report = ctx.queue.Read(/*with_running_jobs=*/false);
          if (!report.ok()) return ErrorResponse(report.status());
          const QueueReport& r = *report;
          json body = {{"queue_length", r.queued},
                       {"processing", r.queue.running},
                       {"completed", r.total(JobState::kSucceeded)},
                       {"failed", r.failed_total},
                       {"cancelled", r.total(JobState::kCancelled)},
                       {"workers", r.capacity.engines},
                       {"estimated_wait", ctx.admission.WaitWithNothingAhead()}};
          return JsonResponse(http::status::ok, body);
        };
        co_return co_await RunBlocking(ctx.pool, std::move(work));
      },
      Access::kRead);
}

}  // namespace glmq
