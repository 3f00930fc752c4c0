// OpenAI's chat completion made from a job: what POST /v1/chat/completions answers once the
// job has ended, or its wait has run out. `fetched` is the job as read (or why it could not be),
// `draining` whether this server is shutting down, `model` the engine's model name.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/asio.h"
#include "core/job.h"
#include "core/status.h"

namespace glmq {

// The chat.completion object of a job that succeeded.
nlohmann::json ChatCompletionJson(const Job& job, std::string_view model);

// A chat.completion (200, Glmq-Job names the job) when it succeeded; otherwise an error
// that names the job, which a client can still read at /v1/jobs/{id}: 504 while it is still
// queued or running (Location), 409 cancelled, 504 expired, 500 failed.
HttpResponse ChatCompletionAnswer(const Result<Job>& fetched, bool draining,
                                  std::string_view model);

// A chunk of a "stream": true response that adds `text` to the answer (and, in the first
// chunk, names the assistant's role).
std::string ChatDeltaEvent(const Job& job, std::string_view model, std::string_view text,
                           bool first);

// The last events of a "stream": true response, once the job has ended (or the stream must
// end), `sent` being the text streamed so far: a chunk with the rest of the text (with all
// of it when nothing was sent), one with finish_reason and usage, then `data: [DONE]`; or
// the error as `data: {"error":...}`, then `data: [DONE]`. An answer that does not start
// with what was sent (the job ran again elsewhere and answered otherwise) is an error,
// answer_restarted.
std::string ChatCompletionEvents(const Result<Job>& fetched, bool draining, std::string_view model,
                                 std::string_view sent);

}  // namespace glmq
