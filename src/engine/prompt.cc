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

size_t RequestTextBytes(const JobRequest& request) {
  size_t bytes = request.text.size() + request.question.size();
  for (const ChatMessage& m : request.messages) bytes += m.content.size();
  return bytes;
}

}  // namespace glmq
