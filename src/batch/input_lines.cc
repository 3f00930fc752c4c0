#include "batch/input_lines.h"

#include <algorithm>
#include <functional>

namespace glmq {
namespace {

using json = nlohmann::json;

constexpr size_t kReadPieceBytes = 1 << 20;
constexpr int64_t kDefaultMaxTokensGuess = 256;

}  // namespace

Result<bool> LineReader::Next(InputLine* line) {
  for (;;) {
    const size_t nl = buffer_.find('\n', start_);
    if (nl != std::string::npos || (eof_ && (start_ < buffer_.size() || skipping_))) {
      const size_t end = nl == std::string::npos ? buffer_.size() : nl;
      size_t length = end - start_;
      if (length > 0 && buffer_[end - 1] == '\r') --length;
      line->number = ++line_;
      line->too_long = skipping_ || length > max_line_bytes_;
      if (line->too_long) {
        line->text.clear();
      } else {
        line->text.assign(buffer_, start_, length);
      }
      start_ = nl == std::string::npos ? buffer_.size() : nl + 1;
      skipping_ = false;
      return true;
    }
    if (eof_) return false;
    // The line so far is over the limit even if its last byte is the \r of its line break.
    if (const size_t partial = buffer_.size() - start_;
        partial > 0 && partial - 1 > max_line_bytes_) {
      skipping_ = true;
    }
    buffer_.erase(0, skipping_ ? buffer_.size() : start_);
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

bool IsBlank(const InputLine& line) {
  return !line.too_long && std::all_of(line.text.begin(), line.text.end(),
                                       [](char c) { return c == ' ' || c == '\t'; });
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
