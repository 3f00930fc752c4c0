// How a client waits on a job: a long-poll (GET /v1/jobs/{id}?wait=), the job's server-sent
// events (GET /v1/jobs/{id}/events) and a chat completion streamed while its job runs. Each
// waits on the watch hub, which any change of state wakes, and reads the store on the pool;
// a server that drains ends them.
#pragma once

#include <string>

#include "api/api.h"
#include "api/router.h"

namespace glmq {

// The job as stored (`with_request`: with its documents), if `caller` may see it: another
// tenant's job is kNotFound, exactly as an unknown id. Blocking.
Result<Job> FetchJob(JobStore& store, const Caller& caller, const std::string& id,
                     bool with_request);

// Waits until the job is terminal or `wait_seconds` pass, then returns its latest record.
// Another tenant's job is kNotFound at once.
asio::awaitable<Result<Job>> AwaitJob(ApiContext& ctx, Caller caller, std::string id,
                                      double wait_seconds);

// The head of a 200 whose body is server-sent events (RequestContext::stream writes it).
HttpResponse EventStreamHead();

// GET /v1/jobs/{id}/events, once the job is found (and seen to be the caller's).
asio::awaitable<void> JobEvents(ApiContext& ctx, std::string id, StreamWriter& out);

// POST /v1/chat/completions with "stream": true, once the caller's job is accepted.
asio::awaitable<void> ChatCompletionStream(ApiContext& ctx, Caller caller, std::string id,
                                           StreamWriter& out);

}  // namespace glmq
