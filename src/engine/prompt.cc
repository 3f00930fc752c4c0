#include "engine/prompt.h"

namespace glmq {

std::vector<ChatMessage> RequestMessages(const JobRequest& request) {
  if (!request.messages.empty()) return request.messages;
  std::string content = request.text;
  if (!request.question.empty()) {
    content.append("\n\n");
    content.append(request.question);
  }
  return {ChatMessage{"user", std::move(content)}};
}

}  // namespace glmq
