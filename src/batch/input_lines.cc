#include "batch/input_lines.h"

#include <algorithm>
#include <functional>

namespace glmq {
namespace {

using json = nlohmann::json;

constexpr size_t kReadPieceBytes = 1 << 20;
constexpr int64_t kDefaultMaxTokensGuess = 256;

}  // namespace

Result<bool> LineReader::Next(std::string* line, int64_t* number) {
  for (;;) {
    const size_t nl = buffer_.find('\n', start_);
    if (nl != std::string::npos || (eof_ && start_ < buffer_.size())) {
      const size_t end = nl == std::string::npos ? buffer_.size() : nl;
      line->assign(buffer_, start_, end - start_);
      if (!line->empty() && line->back() == '\r') line->pop_back();
      start_ = nl == std::string::npos ? buffer_.size() : nl + 1;
      *number = ++line_;
      return true;
    }
    if (eof_) return false;
    buffer_.erase(0, start_);
    start_ = 0;
    GLMQ_ASSIGN_OR_RETURN(std::string piece, files_.Read(tenant_, id_, offset_, kReadPieceBytes));
    if (piece.empty()) {
      eof_ = true;
      continue;
    }
    offset_ += static_cast<int64_t>(piece.size());
    buffer_ += piece;
  }
}

bool IsBlank(const std::string& line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
}

size_t DocumentHash(const json& body) {
  if (!body.is_object()) return 0;
  if (auto text = body.find("text"); text != body.end()) {
    return text->is_string() ? std::hash<std::string>()(text->get_ref<const std::string&>())
                             : std::hash<std::string>()(text->dump());
  }
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty()) return 0;
  json head = json::array();
  for (size_t i = 0; i + 1 < messages->size(); ++i) head.push_back((*messages)[i]);
  if (head.empty()) head.push_back((*messages)[0]);
  return std::hash<std::string>()(head.dump());
}

int64_t MaxTokensGuess(const json& body) {
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (auto it = body.find(name); it != body.end() && it->is_number_integer()) {
      return std::max<int64_t>(1, it->get<int64_t>());
    }
  }
  return kDefaultMaxTokensGuess;
}

}  // namespace glmq
