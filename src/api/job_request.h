// Parsing and validating submitted job bodies. Every problem becomes a Status with a message
// that names the field; nothing here throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/job.h"
#include "core/status.h"

namespace glmq {

struct RequestLimits {
  int32_t default_max_tokens = 256;
  int32_t max_tokens_limit = 32768;
  double max_timeout_seconds = 7 * 24 * 3600.0;
  size_t max_stop_strings = 16;
  size_t max_stop_bytes = 256;
  size_t max_messages = 4096;
  // Hosts a webhook_url may name (api/webhooks.h WebhookHostAllowed); empty = any.
  std::vector<std::string> webhook_hosts;
  // A webhook_url that is an address other than a public one is refused unless this is set
  // (or webhook_hosts names it): api/webhook_hosts.h.
  bool webhook_allow_private = false;
};

// `POST /v1/jobs`: {text, question} or {messages}, plus sampling fields. Unknown fields are
// errors (a typo such as "max_token" must not be silently ignored).
// Each parser takes the body and frees it once it is read (api/fast_json.h).
Result<JobRequest> ParseJobRequest(std::string body, const RequestLimits& limits);
// The same, of a body already parsed (a batch file's line holds it); `doc` is taken apart.
Result<JobRequest> JobRequestFromJson(nlohmann::json doc, const RequestLimits& limits);
// A webhook_url as the limits take it: an absolute http:// or https:// URL with a host, up to
// 2048 bytes of printable ASCII, to a host --webhook-allow-hosts and --webhook-allow-private
// allow. kInvalidArgument naming the field otherwise.
Status CheckWebhookUrl(const std::string& url, const RequestLimits& limits);

// `POST /api/v1/chat` of the seed API: {text, question, max_length, temperature}. Other
// fields are ignored, as the seed server did.
Result<JobRequest> ParseSeedChatRequest(std::string body, const RequestLimits& limits);

// `POST /v1/chat/completions`, OpenAI's chat request: messages (content a string or text
// parts), max_tokens or max_completion_tokens, temperature, top_p, seed, stop, and stream
// (into *stream; with no `stream` to fill, "stream": true is an error). Other fields (model,
// user, ...) are ignored; n > 1, tools, response_format and logprobs, which would change the
// answer's form, are errors.
Result<JobRequest> ParseOpenAiChatRequest(std::string body, const RequestLimits& limits,
                                          bool* stream = nullptr);
Result<JobRequest> OpenAiChatRequestFromJson(nlohmann::json doc, const RequestLimits& limits,
                                             bool* stream = nullptr);

}  // namespace glmq
