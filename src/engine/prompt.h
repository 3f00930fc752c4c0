// Turning a job request into the chat messages the model's template renders.
#pragma once

#include <vector>

#include "core/job.h"

namespace glmq {

// `{text, question}` becomes one user message: the document, a blank line, the question.
// `{messages}` is used as given.
std::vector<ChatMessage> RequestMessages(const JobRequest& request);

// Bytes of text the client sent (documents, questions, message contents).
size_t RequestTextBytes(const JobRequest& request);

}  // namespace glmq
