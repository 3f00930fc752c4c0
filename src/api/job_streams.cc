#include "api/job_streams.h"

#include <chrono>
#include <cmath>
#include <optional>

#include "api/chat_completion.h"
#include "api/job_json.h"
#include "api/json_response.h"

namespace glmq {
namespace {

constexpr auto kEventPoll = std::chrono::seconds(1);
constexpr auto kEventKeepAlive = std::chrono::seconds(15);
constexpr auto kChatPoll = std::chrono::milliseconds(250);

}  // namespace

Result<Job> FetchJob(JobStore& store, const Caller& caller, const std::string& id,
                     bool with_request) {
  Result<Job> job = store.Get(id, with_request);
  if (job.ok() && !caller.Sees(job->tenant)) return NotFound("no job " + id);
  return job;
}

HttpResponse EventStreamHead() {
  HttpResponse head{http::status::ok, 11};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.set("X-Accel-Buffering", "no");  // nginx: pass events on at once
  return head;
}

asio::awaitable<Result<Job>> AwaitJob(ApiContext& ctx, Caller caller, std::string id,
                                      double wait_seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::llround(wait_seconds * 1000));
  auto executor = co_await asio::this_coro::executor;
  auto fetch = [&ctx, &caller, id] { return FetchJob(ctx.store, caller, id, false); };
  for (;;) {
    JobWait wait(ctx.watch, id, executor, deadline);
    Result<Job> f = co_await RunBlocking(ctx.pool, fetch);
    if (!f.ok() || IsTerminal(f->state) || std::chrono::steady_clock::now() >= deadline ||
        ctx.watch.closed()) {
      co_return f;
    }
    if (!co_await wait.Wait()) co_return co_await RunBlocking(ctx.pool, fetch);  // time is up
  }
}

// GET /v1/jobs/{id}/events: the job as server-sent events, from now until it ends. Each
// event's data is the job's JSON as GET /v1/jobs/{id} gives it; `state` when the state
// changed (the first event is one too), `progress` when only its progress did, `done` once
// it is terminal (with the text), after which the stream ends. A change of state wakes the
// stream at once (through the watch hub, from any worker); progress is read every
// kEventPoll. A server that drains ends its streams; an EventSource client reconnects, to
// another gateway behind a load balancer, and gets the job as it is then.
asio::awaitable<void> JobEvents(ApiContext& ctx, std::string id, StreamWriter& out) {
  auto executor = co_await asio::this_coro::executor;
  if (!co_await out.Write("retry: 2000\n\n")) co_return;
  std::string last_data;
  std::optional<JobState> last_state;
  auto last_write = std::chrono::steady_clock::now();
  // The route found the job, and a job's tenant never changes: the caller may see it.
  auto fetch = [&ctx, id] { return ctx.store.Get(id, false); };
  for (;;) {
    JobWait wait(ctx.watch, id, executor, std::chrono::steady_clock::now() + kEventPoll);
    Result<Job> f = co_await RunBlocking(ctx.pool, fetch);
    std::string event;
    if (!f.ok()) {
      // Gone (its retention ran out) or the store failed: say so, and end.
      const json error = {{"code", ErrorCodeName(ErrorCodeFor(f.status().code()))},
                          {"message", std::string(f.status().message())}};
      event = "event: error\ndata: " + json({{"error", error}}).dump() + "\n\n";
    } else {
      std::string data = JobToJson(*f).dump();
      if (data != last_data) {
        const char* name = IsTerminal(f->state)     ? "done"
                           : last_state != f->state ? "state"
                                                    : "progress";
        event = std::string("event: ") + name + "\ndata: " + data + "\n\n";
        last_data = std::move(data);
        last_state = f->state;
      } else if (std::chrono::steady_clock::now() - last_write >= kEventKeepAlive) {
        event = ": keep-alive\n\n";
      }
    }
    bool open = true;
    if (!event.empty()) {
      open = co_await out.Write(std::move(event));
      last_write = std::chrono::steady_clock::now();
    }
    if (!open || !f.ok() || IsTerminal(f->state) || ctx.watch.closed()) co_return;
    co_await wait.Wait();
  }
}

// "stream": true, as OpenAI's clients read it: server-sent chunks, then `data: [DONE]`. The
// answer goes out as it grows: every kChatPoll, what the worker last wrote of it (it writes
// the text that no later token changes, every --progress-interval-ms) beyond what was sent
// is a chunk; the rest comes when the job ends (ChatCompletionEvents). A job that ran again
// after its worker was lost may start its answer over: nothing is sent until its text goes
// past what was, and if it answers otherwise the stream ends with an error. Keep-alive
// comments fill silences; a job that does not succeed ends the stream with
// `data: {"error":...}`.
asio::awaitable<void> ChatCompletionStream(ApiContext& ctx, Caller caller, std::string id,
                                           StreamWriter& out) {
  const std::string& model = ctx.admission.model().name;
  const double poll = std::chrono::duration<double>(kChatPoll).count();
  std::string sent;  // the answer as streamed so far
  auto last_write = std::chrono::steady_clock::now();
  for (;;) {
    Result<Job> f = co_await AwaitJob(ctx, caller, id, poll);
    if (!f.ok() || IsTerminal(f->state) || ctx.watch.closed()) {
      co_await out.Write(ChatCompletionEvents(f, ctx.watch.closed(), model, sent));
      co_return;
    }
    std::string event;
    if (f->output.size() > sent.size() && f->output.starts_with(sent)) {
      event =
          ChatDeltaEvent(*f, model, std::string_view(f->output).substr(sent.size()), sent.empty());
      sent = std::move(f->output);
    } else if (std::chrono::steady_clock::now() - last_write >= kEventKeepAlive) {
      event = ": keep-alive\n\n";
    }
    if (event.empty()) continue;
    if (!co_await out.Write(std::move(event))) co_return;
    last_write = std::chrono::steady_clock::now();
  }
}

}  // namespace glmq
