// RedisJobStore over hiredis and the Lua scripts of redis_scripts.cc. Over 600 lines: one
// method per JobStore operation, each a script call and the decoding of its reply, which
// read best side by side; the coordination between processes is in
// redis_store_coordination.cc.
#include "store/redis_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <limits>
#include <string_view>
#include <utility>

#include "store/job_codec.h"
#include "store/redis_client.h"

namespace glmq {
namespace {

using redis::Reply;
using redis::SaturatingAdd;
using redis::ScriptId;
using redis::Str;
using Args = std::vector<std::string_view>;

constexpr int32_t kDefaultListLimit = 50;
constexpr int32_t kMaxListLimit = 1000;
// Expired terminal jobs forgotten per state by one sweep: bounds the time a sweep holds
// Redis, while keeping up with any realistic rate of jobs.
constexpr char kSweepLimit[] = "200";
// The job member holds created_at in 16 digits.
constexpr TimeMs kMaxCreatedAt = 9'999'999'999'999'999;

constexpr JobState kTerminalStates[] = {JobState::kSucceeded, JobState::kFailed,
                                        JobState::kCancelled, JobState::kExpired};

int64_t ParseInt(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

double ParseDouble(std::string_view s) {
  double v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

int64_t ReplyInt(const Reply& r) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  // A score such as "1700000000000" or "1.7e+12".
  return static_cast<int64_t>(std::llround(ParseDouble(r.str)));
}

std::string DoubleText(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : "0";
}

// WaitModel's overtaking lines as the insert script reads them: "intercept slope ...".
std::string OvertakingText(const WaitModel& wait) {
  std::string out;
  for (int i = 0; i < wait.overtaking_lines; ++i) {
    if (!out.empty()) out += ' ';
    out += DoubleText(wait.overtaking[i].intercept);
    out += ' ';
    out += DoubleText(wait.overtaking[i].slope);
  }
  return out;
}

// Decodes a job hash (HGETALL's flat [field, value, ...]).
Result<Job> DecodeJob(const Reply& hash) {
  if (!hash.is_array() || hash.elements.empty()) return NotFound("no such job");
  Job job;
  std::string state, length_class, params;
  const std::vector<Reply>& kv = hash.elements;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    const std::string& f = kv[i].str;
    const std::string& v = kv[i + 1].str;
    if (f == "id")
      job.id = v;
    else if (f == "state")
      state = v;
    else if (f == "class")
      length_class = v;
    else if (f == "params")
      params = v;
    else if (f == "prompt_tokens")
      job.prompt_tokens = ParseInt(v);
    else if (f == "shared_prompt_tokens")
      job.shared_prompt_tokens = ParseInt(v);
    else if (f == "order_key")
      job.order_key = ParseInt(v);
    else if (f == "created_at")
      job.created_at = ParseInt(v);
    else if (f == "started_at")
      job.started_at = ParseInt(v);
    else if (f == "finished_at")
      job.finished_at = ParseInt(v);
    else if (f == "deadline_at")
      job.deadline_at = ParseInt(v);
    else if (f == "estimated_wait_seconds")
      job.estimated_wait_seconds = ParseDouble(v);
    else if (f == "attempts")
      job.attempts = static_cast<int32_t>(ParseInt(v));
    else if (f == "worker")
      job.worker = v;
    else if (f == "cancel_requested")
      job.cancel_requested = v == "1";
    else if (f == "dead_letter")
      job.dead_letter = v == "1";
    else if (f == "progress_prompt_tokens_read")
      job.progress.prompt_tokens_read = ParseInt(v);
    else if (f == "progress_completion_tokens")
      job.progress.completion_tokens = ParseInt(v);
    else if (f == "finish_reason")
      job.finish_reason = v;
    else if (f == "usage_prompt_tokens")
      job.usage.prompt_tokens = ParseInt(v);
    else if (f == "usage_completion_tokens")
      job.usage.completion_tokens = ParseInt(v);
    else if (f == "usage_cached_tokens")
      job.usage.cached_tokens = ParseInt(v);
    else if (f == "tenant")
      job.tenant = v;
    else if (f == "error_code")
      job.error_code = v;
    else if (f == "error_message")
      job.error_message = v;
    else if (f == "output")
      job.output = v;
  }
  std::optional<JobState> parsed_state = ParseJobState(state);
  if (!parsed_state) return Internal("job " + job.id + " has unknown state '" + state + "'");
  job.state = *parsed_state;
  if (job.state != JobState::kRunning) job.worker.clear();  // the last holder stays stored
  std::optional<LengthClass> parsed_class = ParseLengthClass(length_class);
  if (!parsed_class) {
    return Internal("job " + job.id + " has unknown length class '" + length_class + "'");
  }
  job.length_class = *parsed_class;
  GLMQ_RETURN_IF_ERROR(DecodeRequestParams(params, &job.request));
  return job;
}

// Fills text and messages from HMGET body text messages.
Status DecodeBody(const std::string& id, Reply body, JobRequest* request) {
  if (!body.is_array() || body.elements.size() != 2 || body.elements[0].is_nil()) {
    return Internal("job " + id + " has no stored request");
  }
  request->text = std::move(body.elements[0].str);
  if (body.elements[1].is_nil()) {  // a text job: no messages were stored
    request->messages.clear();
    return Status::Ok();
  }
  return DecodeMessages(body.elements[1].str, &request->messages);
}

std::string RandomTag() { return NewJobId().substr(4, 16); }

Status CheckNewJob(const Job& job) {
  if (job.id.empty()) return InvalidArgument("job id is empty");
  if (job.state != JobState::kQueued) {
    return InvalidArgument(std::string("a new job must be queued, not ") + JobStateName(job.state));
  }
  if (job.id.find(':') != std::string::npos) return InvalidArgument("a job id has no ':'");
  if (!job.tenant.empty() && !IsValidTenant(job.tenant)) {
    return InvalidArgument("'" + job.tenant + "' is not a tenant name");
  }
  if (job.created_at < 0) return InvalidArgument("created_at must not be negative");
  if (job.shared_prompt_tokens < 0) return InvalidArgument("shared_prompt_tokens is negative");
  if (job.created_at > kMaxCreatedAt) {
    return InvalidArgument("created_at " + Str(job.created_at) + " is out of range");
  }
  return Status::Ok();
}

// Checks a new job and appends what insert and insert_batch take of it: id, created_at,
// class, prompt_tokens, max_tokens, order_key, deadline_at, params, text, messages. Nothing
// is appended when the job is refused. The arguments point into `job` and `held`, which
// keeps the texts made here (a deque: what it holds never moves).
Status AppendNewJob(const Job& job, Args& args, std::deque<std::string>& held) {
  GLMQ_RETURN_IF_ERROR(CheckNewJob(job));
  GLMQ_ASSIGN_OR_RETURN(std::string params, EncodeRequestParams(job.request));
  GLMQ_ASSIGN_OR_RETURN(std::string messages, EncodeMessages(job.request.messages));
  args.push_back(job.id);
  args.push_back(held.emplace_back(Str(job.created_at > 0 ? job.created_at : NowMs())));
  args.push_back(LengthClassName(job.length_class));
  args.push_back(held.emplace_back(Str(job.prompt_tokens)));
  args.push_back(held.emplace_back(Str(job.request.sampling.max_tokens)));
  args.push_back(held.emplace_back(Str(job.order_key)));
  args.push_back(held.emplace_back(Str(job.deadline_at)));
  args.push_back(held.emplace_back(std::move(params)));
  args.push_back(job.request.text);
  args.push_back(held.emplace_back(std::move(messages)));
  args.push_back(job.tenant);
  args.push_back(held.emplace_back(Str(job.shared_prompt_tokens)));
  return Status::Ok();
}

}  // namespace

RedisJobStore::RedisJobStore(RedisStoreOptions options, JobListener listener)
    : options_(std::move(options)), listener_(std::move(listener)), instance_(RandomTag()) {}

RedisJobStore::~RedisJobStore() {
  subscriber_.reset();  // no event reaches the listener once the destructor runs
}

Result<std::unique_ptr<RedisJobStore>> RedisJobStore::Open(const RedisStoreOptions& options,
                                                           JobListener listener) {
  GLMQ_ASSIGN_OR_RETURN(redis::Endpoint endpoint, redis::Endpoint::Parse(options.url));
  std::unique_ptr<RedisJobStore> store(new RedisJobStore(options, std::move(listener)));
  store->pool_ =
      std::make_unique<redis::Pool>(endpoint, options.pool_size, options.timeout_seconds);
  GLMQ_ASSIGN_OR_RETURN(Reply pong, store->pool_->Command({"PING"}, redis::Retry::kOnce));
  if (pong.is_error()) return redis::ErrorReplyStatus(pong.str);
  GLMQ_RETURN_IF_ERROR(store->CheckPersistence());
  GLMQ_RETURN_IF_ERROR(store->LoadScripts());
  RedisJobStore* raw = store.get();
  store->subscriber_ = std::make_unique<redis::Subscriber>(
      endpoint, options.prefix + "events", options.timeout_seconds,
      [raw](std::string_view payload) { raw->OnEvent(payload); });
  GLMQ_RETURN_IF_ERROR(store->subscriber_->Start());
  return store;
}

Status RedisJobStore::CheckPersistence() {
  const std::string where = "redis " + pool_->endpoint().Describe();
  auto replies = pool_->Pipeline({{"CONFIG", "GET", "appendonly"},
                                  {"CONFIG", "GET", "appendfsync"},
                                  {"CONFIG", "GET", "save"}},
                                 redis::Retry::kOnce);
  if (!replies.ok()) return replies.status();
  auto value = [&](size_t i) -> std::optional<std::string> {
    const Reply& r = (*replies)[i];
    if (!r.is_array() || r.elements.size() < 2) return std::nullopt;
    return r.elements[1].str;
  };
  const auto appendonly = value(0), appendfsync = value(1), save = value(2);
  if (!appendonly || !save) {
    // Managed services often disable CONFIG.
    const std::string why = (*replies)[0].is_error() ? (*replies)[0].str : "no answer";
    if (!options_.require_persistence) {
      spdlog::warn("{}: cannot read its persistence settings ({}); going on as asked", where, why);
      return Status::Ok();
    }
    return Unavailable(where + ": cannot check that Redis persists jobs (CONFIG GET: " + why +
                       "); if it does, start with --allow-volatile-redis to skip the check");
  }
  const bool aof = *appendonly == "yes";
  const bool rdb = !save->empty();
  if (!aof && !rdb) {
    const std::string message =
        where +
        " persists nothing (appendonly no, save \"\"): every queued job and result would be "
        "lost when Redis restarts. Turn on the AOF (appendonly yes with appendfsync always, "
        "or everysec to risk ~1 s of writes), or start with --allow-volatile-redis to accept "
        "the loss";
    if (options_.require_persistence) return Unavailable(message);
    spdlog::warn("{}", message);
    return Status::Ok();
  }
  if (aof) {
    const std::string fsync = appendfsync.value_or("everysec");
    spdlog::info("{}: AOF with appendfsync {}: {}", where, fsync,
                 fsync == "always"     ? "an acknowledged job survives any crash"
                 : fsync == "everysec" ? "a crash may lose up to ~1 s of acknowledged writes"
                                       : "a crash may lose what the OS had not flushed yet");
  } else {
    spdlog::warn(
        "{}: RDB snapshots only (save {}): a crash loses every write since the last "
        "snapshot; appendonly yes narrows that to ~1 s or nothing",
        where, *save);
  }
  return Status::Ok();
}

Status RedisJobStore::LoadScripts() {
  std::vector<Args> commands;
  for (int i = 0; i < redis::kScriptCount; ++i) {
    commands.push_back({"SCRIPT", "LOAD", redis::ScriptSource(static_cast<ScriptId>(i))});
  }
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies, pool_->Pipeline(commands, redis::Retry::kOnce));
  for (int i = 0; i < redis::kScriptCount; ++i) {
    if (replies[i].is_error()) {
      return Internal(std::string("redis: cannot load script ") +
                      redis::ScriptName(static_cast<ScriptId>(i)) + ": " + replies[i].str);
    }
    shas_[i] = replies[i].str;
  }
  return Status::Ok();
}

Result<Reply> RedisJobStore::Run(ScriptId script, const Args& args, bool retry) {
  Args argv;
  argv.reserve(args.size() + 2);
  argv.push_back(options_.prefix);
  argv.push_back(instance_);
  argv.insert(argv.end(), args.begin(), args.end());
  const int index = static_cast<int>(script);
  Result<Reply> reply = pool_->Eval(shas_[index], redis::ScriptSource(script), argv,
                                    retry ? redis::Retry::kOnce : redis::Retry::kNo);
  if (reply.ok() && reply->is_error()) reply = redis::ErrorReplyStatus(reply->str);
  health_.Record(reply.status());
  return reply;
}

Status RedisJobStore::Exec(ScriptId script, const Args& args, bool retry) {
  return Run(script, args, retry).status();
}

Result<std::vector<Reply>> RedisJobStore::Commands(const std::vector<Args>& commands) {
  Result<std::vector<Reply>> replies = pool_->Pipeline(commands, redis::Retry::kOnce);
  if (replies.ok()) {
    for (const Reply& r : *replies) {
      if (r.is_error()) {
        replies = redis::ErrorReplyStatus(r.str);
        break;
      }
    }
  }
  health_.Record(replies.status());
  return replies;
}

void RedisJobStore::Notify(const std::string& id, JobState state, ChangeOrigin origin) {
  TellListener(listener_, id, state, origin);
}

void RedisJobStore::OnEvent(std::string_view payload) {
  // "<instance> <id> <state>"; an id could hold a space, a tag and a state cannot.
  const size_t first = payload.find(' ');
  const size_t last = payload.rfind(' ');
  if (first == std::string_view::npos || last == first) return;
  if (payload.substr(0, first) == instance_) return;  // told the listener already
  std::optional<JobState> state = ParseJobState(payload.substr(last + 1));
  if (!state) return;
  Notify(std::string(payload.substr(first + 1, last - first - 1)), *state,
         ChangeOrigin::kElsewhere);
}

std::string RedisJobStore::EndedScore(TimeMs finished_at) const {
  if (options_.retention_ms <= 0) return "+inf";
  return Str(SaturatingAdd(finished_at, options_.retention_ms));
}

Status RedisJobStore::InsertWith(const Job& job, const Args& extra) {
  std::deque<std::string> held;
  Args args;
  GLMQ_RETURN_IF_ERROR(AppendNewJob(job, args, held));
  args.push_back(held.emplace_back(DoubleText(job.estimated_wait_seconds)));
  args.insert(args.end(), extra.begin(), extra.end());
  // No retry: a second run after a lost reply would answer kConflict for a job that is in.
  GLMQ_RETURN_IF_ERROR(Exec(ScriptId::kInsert, args, /*retry=*/false));
  Notify(job.id, JobState::kQueued);
  return Status::Ok();
}

std::vector<Result<JobStore::Placement>> RedisJobStore::InsertBatch(std::vector<NewJob>& jobs) {
  // AppendNewJob's 12, the wait model's 4, the slack, whether to measure, the overtaking,
  // the first end, the least wait, the kept slack.
  constexpr size_t kArgsPerJob = 22;
  std::vector<Result<Placement>> out;
  out.reserve(jobs.size());
  std::deque<std::string> held;
  Args args;
  args.reserve(1 + jobs.size() * kArgsPerJob);
  args.push_back({});        // the count, known at the end
  std::vector<size_t> sent;  // index into `jobs` of each job in the script's arguments
  for (size_t i = 0; i < jobs.size(); ++i) {
    const WaitModel& wait = jobs[i].wait;
    if (Status added = AppendNewJob(jobs[i].job, args, held); !added.ok()) {
      out.emplace_back(added);
      continue;
    }
    out.emplace_back(Placement{});
    sent.push_back(i);
    args.push_back(held.emplace_back(DoubleText(wait.base_seconds)));
    args.push_back(held.emplace_back(DoubleText(wait.seconds_per_prompt_token)));
    args.push_back(held.emplace_back(DoubleText(wait.seconds_per_max_token)));
    if (wait.when_clear) {
      args.push_back(held.emplace_back(DoubleText(*wait.when_clear)));
    } else {
      args.push_back("");
    }
    if (jobs[i].slack_seconds) {
      args.push_back(held.emplace_back(DoubleText(*jobs[i].slack_seconds)));
    } else {
      args.push_back("");
    }
    args.push_back(jobs[i].measure ? "1" : "0");
    args.push_back(held.emplace_back(OvertakingText(wait)));
    if (wait.first_end) {
      args.push_back(held.emplace_back(DoubleText(wait.first_end->seconds) + ' ' +
                                       DoubleText(wait.first_end->slope)));
    } else {
      args.push_back("");
    }
    args.push_back(held.emplace_back(DoubleText(wait.at_least)));
    if (jobs[i].kept_slack_seconds) {
      args.push_back(held.emplace_back(DoubleText(*jobs[i].kept_slack_seconds)));
    } else {
      args.push_back("");
    }
  }
  if (sent.empty()) return out;
  args[0] = held.emplace_back(Str(static_cast<int64_t>(sent.size())));
  // No retry: a second run after a lost reply would answer kConflict for jobs that are in.
  auto reply = Run(ScriptId::kInsertBatch, args, /*retry=*/false);
  if (!reply.ok() || reply->elements.size() != sent.size()) {
    const Status failed =
        reply.ok() ? Internal("redis: unexpected reply to insert_batch") : reply.status();
    for (size_t i : sent) out[i] = failed;
    return out;
  }
  for (size_t k = 0; k < sent.size(); ++k) {
    Job& job = jobs[sent[k]].job;
    const Reply& r = reply->elements[k];
    if (!r.is_array()) {
      out[sent[k]] = Conflict("job " + job.id + " already exists");
      continue;
    }
    if (r.elements.size() != 6) {
      out[sent[k]] = Internal("redis: unexpected reply to insert_batch");
      continue;
    }
    Placement placed;
    placed.ahead = WorkAhead{.jobs = ReplyInt(r.elements[1]),
                             .prompt_tokens = ReplyInt(r.elements[2]),
                             .max_tokens = ReplyInt(r.elements[3])};
    placed.position = placed.ahead.jobs + 1;
    job.estimated_wait_seconds = ParseDouble(r.elements[4].str);
    job.order_key = ReplyInt(r.elements[5]);
    out[sent[k]] = placed;
    Notify(job.id, JobState::kQueued);
  }
  return out;
}

Status RedisJobStore::Insert(const Job& job) { return InsertWith(job, {}); }

Result<Job> RedisJobStore::Get(const std::string& id, bool with_request) {
  const std::string key = options_.prefix + "job:" + id;
  const std::string body_key = options_.prefix + "body:" + id;
  std::vector<Args> commands = {{"HGETALL", key}};
  if (with_request) commands.push_back({"HMGET", body_key, "text", "messages"});
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies, Commands(commands));
  if (replies[0].elements.empty()) return NotFound("no job " + id);
  GLMQ_ASSIGN_OR_RETURN(Job job, DecodeJob(replies[0]));
  if (with_request) {
    GLMQ_RETURN_IF_ERROR(DecodeBody(id, std::move(replies[1]), &job.request));
  }
  return job;
}

Result<std::vector<Job>> RedisJobStore::List(const ListFilter& filter) {
  const int32_t limit =
      filter.limit <= 0 ? kDefaultListLimit : std::min(filter.limit, kMaxListLimit);
  const std::string limit_text = Str(limit), now = Str(NowMs());
  GLMQ_ASSIGN_OR_RETURN(
      Reply reply, Run(ScriptId::kList,
                       {filter.after, filter.state ? JobStateName(*filter.state) : "", limit_text,
                        now, kSweepLimit, filter.tenant ? "1" : "", filter.tenant.value_or("")},
                       /*retry=*/true));
  std::vector<Job> jobs;
  jobs.reserve(reply.elements.size());
  for (const Reply& hash : reply.elements) {
    GLMQ_ASSIGN_OR_RETURN(Job job, DecodeJob(hash));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Result<std::optional<Job>> RedisJobStore::ClaimNext(const std::string& worker, int64_t lease_ms,
                                                    ClaimLimit limit) {
  const TimeMs now = NowMs();
  const std::string now_text = Str(now), expires = Str(SaturatingAdd(now, lease_ms));
  // No retry: a claim whose reply was lost stays with this worker until its lease runs out,
  // and is then delivered again; claiming a second job meanwhile would hide the first.
  GLMQ_ASSIGN_OR_RETURN(Reply reply,
                        Run(ScriptId::kClaim,
                            {worker, now_text, expires, fair_share_ ? "1" : "0",
                             Str(limit.prompt_tokens_below), Str(limit.pass_over_from)},
                            /*retry=*/false));
  if (reply.is_nil()) return std::optional<Job>();
  GLMQ_ASSIGN_OR_RETURN(Job job, DecodeJob(reply));
  Notify(job.id, JobState::kRunning);
  // The body never changes after Insert, so reading it apart from the claim sees what the
  // claim saw, and the 10 MB copy does not pass through Lua. If this read fails the claim
  // stands, and the lease running out puts the job back.
  GLMQ_ASSIGN_OR_RETURN(
      std::vector<Reply> body,
      Commands({{"HMGET", options_.prefix + "body:" + job.id, "text", "messages"}}));
  GLMQ_RETURN_IF_ERROR(DecodeBody(job.id, std::move(body[0]), &job.request));
  return std::optional<Job>(std::move(job));
}

Status RedisJobStore::RenewLeases(const std::string& worker, const std::vector<std::string>& ids,
                                  int64_t lease_ms) {
  if (ids.empty()) return Status::Ok();
  const std::string expires = Str(SaturatingAdd(NowMs(), lease_ms));
  Args args{worker, expires};
  args.insert(args.end(), ids.begin(), ids.end());
  return Exec(ScriptId::kRenewLeases, args, /*retry=*/true);
}

Status RedisJobStore::UpdateProgress(const std::string& id, const std::string& worker,
                                     const JobProgress& progress) {
  const std::string read = Str(progress.prompt_tokens_read),
                    completion = Str(progress.completion_tokens),
                    prompt = Str(progress.prompt_tokens);
  return Exec(ScriptId::kProgress, {id, read, completion, prompt, worker, progress.text},
              /*retry=*/true);
}

Status RedisJobStore::Complete(const std::string& id, const std::string& worker,
                               const Completion& completion) {
  if (!IsTerminal(completion.state)) {
    return InvalidArgument(std::string("a completion must be terminal, not ") +
                           JobStateName(completion.state));
  }
  const TimeMs now = NowMs();
  const std::string usage_prompt = Str(completion.usage.prompt_tokens),
                    usage_completion = Str(completion.usage.completion_tokens), finished = Str(now),
                    ended = EndedScore(now), retention = Str(options_.retention_ms),
                    cached = Str(completion.usage.cached_tokens);
  // No retry: after a lost reply the second run would find the result written and answer
  // kConflict for a result that was stored.
  GLMQ_RETURN_IF_ERROR(
      Exec(ScriptId::kComplete,
           {id, worker, JobStateName(completion.state), completion.output, completion.finish_reason,
            usage_prompt, usage_completion, completion.error_code, completion.error_message,
            finished, ended, retention, cached},
           /*retry=*/false));
  Notify(id, completion.state);
  return Status::Ok();
}

Result<Job> RedisJobStore::Cancel(const std::string& id) {
  const TimeMs now = NowMs();
  const std::string now_text = Str(now), ended = EndedScore(now),
                    retention = Str(options_.retention_ms);
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kCancel, {id, now_text, ended, retention},
                                         /*retry=*/true));
  if (reply.elements.size() != 2) return Internal("redis: unexpected reply to cancel");
  GLMQ_ASSIGN_OR_RETURN(Job job, DecodeJob(reply.elements[1]));
  if (reply.elements[0].integer == 1) Notify(id, JobState::kCancelled);
  return job;
}

std::vector<Status> RedisJobStore::CancelMany(const std::vector<std::string>& ids) {
  const TimeMs now = NowMs();
  const std::string now_text = Str(now), ended = EndedScore(now),
                    retention = Str(options_.retention_ms);
  const std::string& sha = shas_[static_cast<int>(ScriptId::kCancel)];
  std::vector<redis::Args> commands;
  commands.reserve(ids.size());
  for (const std::string& id : ids) {
    commands.push_back(
        {"EVALSHA", sha, "0", options_.prefix, instance_, id, now_text, ended, retention});
  }
  // One round trip, and with appendfsync always one fsync for all. A cancel done twice
  // changes nothing more, so a broken connection sends them again.
  Result<std::vector<Reply>> replies = pool_->Pipeline(commands, redis::Retry::kOnce);
  health_.Record(replies.status());
  if (!replies.ok()) return std::vector<Status>(ids.size(), replies.status());
  std::vector<Status> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const Reply& r = (*replies)[i];
    if (r.is_error() && r.str.rfind("NOSCRIPT", 0) == 0) {
      out[i] = Cancel(ids[i]).status();  // Redis restarted: Eval loads the script again
    } else if (r.is_error()) {
      out[i] = redis::ErrorReplyStatus(r.str);
    } else if (r.elements.size() == 2 && r.elements[0].integer == 1) {
      Notify(ids[i], JobState::kCancelled);
    }
  }
  return out;
}

Status RedisJobStore::SetQueuedCost(const std::string& id, int64_t prompt_tokens,
                                    LengthClass length_class, int64_t order_key) {
  const std::string tokens = Str(prompt_tokens), key = Str(order_key);
  return Exec(ScriptId::kSetQueuedCost, {id, tokens, LengthClassName(length_class), key},
              /*retry=*/true);
}

Status RedisJobStore::FailQueued(const std::string& id, const std::string& error_code,
                                 const std::string& error_message) {
  const TimeMs now = NowMs();
  const std::string now_text = Str(now), ended = EndedScore(now),
                    retention = Str(options_.retention_ms);
  GLMQ_RETURN_IF_ERROR(Exec(ScriptId::kFailQueued,
                            {id, error_code, error_message, now_text, ended, retention},
                            /*retry=*/false));
  Notify(id, JobState::kFailed);
  return Status::Ok();
}

Result<int64_t> RedisJobStore::ExpireOverdue(TimeMs now) {
  const std::string now_text = Str(now), ended = EndedScore(now),
                    retention = Str(options_.retention_ms);
  GLMQ_ASSIGN_OR_RETURN(Reply reply,
                        Run(ScriptId::kExpireOverdue, {now_text, ended, retention, kSweepLimit},
                            /*retry=*/true));
  for (const Reply& id : reply.elements) Notify(id.str, JobState::kExpired);
  return static_cast<int64_t>(reply.elements.size());
}

Result<int64_t> RedisJobStore::ReapExpiredLeases(TimeMs now, int32_t max_deliveries) {
  const std::string now_text = Str(now), max = Str(max_deliveries), ended = EndedScore(now),
                    retention = Str(options_.retention_ms);
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kReap, {now_text, max, ended, retention},
                                         /*retry=*/true));
  int64_t moved = 0;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    if (std::optional<JobState> state = ParseJobState(reply.elements[i + 1].str)) {
      Notify(reply.elements[i].str, *state);
      ++moved;
    }
  }
  return moved;
}

Result<int64_t> RedisJobStore::QueuePosition(const std::string& id) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kPosition, {id}, /*retry=*/true));
  return reply.integer;
}

Result<JobStore::WorkAhead> RedisJobStore::WorkBefore(int64_t order_key) {
  const std::string key = Str(order_key);
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kWorkBefore, {key}, /*retry=*/true));
  if (reply.elements.size() != 3) return Internal("redis: unexpected reply to work_before");
  return WorkAhead{.jobs = reply.elements[0].integer,
                   .prompt_tokens = reply.elements[1].integer,
                   .max_tokens = reply.elements[2].integer};
}

Result<std::optional<JobStore::QueueHead>> RedisJobStore::Head(ClaimLimit limit) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kHead,
                                         {fair_share_ ? "1" : "0", Str(limit.prompt_tokens_below),
                                          Str(limit.pass_over_from)},
                                         /*retry=*/true));
  const std::vector<Reply>& v = reply.elements;
  if (v.empty()) return std::optional<QueueHead>();
  if (v.size() != 3) return Internal("redis: unexpected reply to head");
  return std::optional<QueueHead>(QueueHead{
      .order_key = v[0].integer, .prompt_tokens = v[1].integer, .max_tokens = v[2].integer});
}

void RedisJobStore::SetFairShare(bool on) { fair_share_ = on; }

Status RedisJobStore::SetTenantSettings(const TenantSettings& settings) {
  std::vector<std::string> texts{Str(static_cast<int64_t>(settings.weights.size()))};
  for (const auto& [tenant, weight] : settings.weights) {
    texts.push_back(tenant);
    texts.push_back(fmt::format("{}", weight));
  }
  for (const auto& [tenant, ms] : settings.retention_ms) {
    texts.push_back(tenant);
    texts.push_back(Str(ms));
  }
  const std::vector<std::string_view> args(texts.begin(), texts.end());
  return Run(ScriptId::kSetTenantSettings, args, /*retry=*/true).status();
}

Result<QueueSnapshot> RedisJobStore::Snapshot() {
  const std::string now = Str(NowMs());
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kSnapshot, {now}, /*retry=*/true));
  const std::vector<Reply>& v = reply.elements;
  constexpr size_t kExpected = 3 * 4 + 2 + 4 + 1;
  if (v.size() != kExpected) return Internal("redis: unexpected reply to snapshot");
  QueueSnapshot snapshot;
  size_t i = 0;
  for (LengthClass c : kAllLengthClasses) {
    ClassStats& stats = snapshot.classes[c];
    stats.queued = ReplyInt(v[i++]);
    stats.queued_prompt_tokens = ReplyInt(v[i++]);
    stats.queued_max_tokens = ReplyInt(v[i++]);
    stats.oldest_created_at = ReplyInt(v[i++]);
  }
  for (JobState s : kAllJobStates) snapshot.totals[s] = 0;
  snapshot.totals[JobState::kQueued] = ReplyInt(v[i++]);
  snapshot.totals[JobState::kRunning] = ReplyInt(v[i++]);
  for (JobState s : kTerminalStates) snapshot.totals[s] = ReplyInt(v[i++]);
  snapshot.dead_letter = ReplyInt(v[i++]);
  snapshot.running = snapshot.totals[JobState::kRunning];
  return snapshot;
}

Status RedisJobStore::CheckWritable() {
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies,
                        Commands({{"SET", options_.prefix + "writable_check_at", Str(NowMs())}}));
  return Status::Ok();
}

Status RedisJobStore::Release(const std::string& id, const std::string& worker) {
  // No retry: after a lost reply the second run would find the job queued and answer
  // kConflict.
  GLMQ_RETURN_IF_ERROR(Exec(ScriptId::kRelease, {id, worker}, /*retry=*/false));
  Notify(id, JobState::kQueued);
  return Status::Ok();
}

Result<std::vector<JobStore::WebhookDue>> RedisJobStore::ClaimWebhooks(TimeMs now, int64_t lease_ms,
                                                                       int32_t limit) {
  if (lease_ms <= 0 || limit <= 0) return InvalidArgument("lease_ms and limit must be positive");
  // No retry: a lost reply leaves the deliveries leased, to be claimed again after the lease.
  GLMQ_ASSIGN_OR_RETURN(Reply reply, Run(ScriptId::kClaimWebhooks,
                                         {Str(now), Str(SaturatingAdd(now, lease_ms)), Str(limit)},
                                         /*retry=*/false));
  std::vector<WebhookDue> out;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    out.push_back({.job_id = reply.elements[i].str,
                   .attempts = static_cast<int32_t>(ReplyInt(reply.elements[i + 1]))});
  }
  return out;
}

Status RedisJobStore::EndWebhook(const std::string& job_id) {
  return Exec(ScriptId::kEndWebhook, {job_id}, /*retry=*/true);
}

Status RedisJobStore::QueueWebhook(const std::string& id, TimeMs due_at) {
  // NX: a delivery queued already keeps its time and attempts.
  return Commands({{"ZADD", options_.prefix + "webhooks", "NX", Str(due_at), id}}).status();
}

Status RedisJobStore::RetryWebhook(const std::string& job_id, TimeMs due_at) {
  // XX: a delivery ended meanwhile stays ended.
  return Commands({{"ZADD", options_.prefix + "webhooks", "XX", Str(due_at), job_id}}).status();
}

Status RedisJobStore::DeferWebhook(const std::string& id, TimeMs due_at) {
  return Exec(ScriptId::kDeferWebhook, {id, Str(due_at)}, /*retry=*/true);
}

}  // namespace glmq
