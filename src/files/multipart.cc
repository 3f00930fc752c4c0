#include "files/multipart.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>
#include <vector>

namespace glmq {
namespace {

// A part's headers are a few lines; more than this is not a form.
constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kMaxBoundary = 70;
constexpr std::string_view kCrlf = "\r\n";

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The parameters after a header value's first `;`: name=value or name="quoted value"
// (a backslash escapes the next character). `type` gets what comes before them.
struct HeaderValue {
  std::string type;
  std::vector<std::pair<std::string, std::string>> params;

  std::optional<std::string> Param(std::string_view name) const {
    for (const auto& [n, v] : params) {
      if (n == name) return v;
    }
    return std::nullopt;
  }
};

Result<HeaderValue> ParseHeaderValue(std::string_view text) {
  HeaderValue out;
  size_t i = text.find(';');
  out.type = Lower(Trim(text.substr(0, i)));
  while (i != std::string_view::npos && i < text.size()) {
    ++i;  // past ';'
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= text.size()) break;
    const size_t eq = text.find('=', i);
    if (eq == std::string_view::npos)
      return InvalidArgument("a parameter without '=' in '" + std::string(text) + "'");
    std::string name = Lower(Trim(text.substr(i, eq - i)));
    i = eq + 1;
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      for (; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          value.push_back(text[++i]);
        } else if (text[i] == '"') {
          closed = true;
          ++i;
          break;
        } else {
          value.push_back(text[i]);
        }
      }
      if (!closed) return InvalidArgument("an unclosed quote in '" + std::string(text) + "'");
      while (i < text.size() && text[i] != ';') ++i;
    } else {
      const size_t end = text.find(';', i);
      value = std::string(Trim(text.substr(i, end == std::string_view::npos ? end : end - i)));
      i = end;
    }
    out.params.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  GLMQ_ASSIGN_OR_RETURN(HeaderValue value, ParseHeaderValue(content_type));
  if (value.type != "multipart/form-data") {
    return InvalidArgument("Content-Type must be multipart/form-data, not '" +
                           std::string(content_type) + "'");
  }
  std::optional<std::string> boundary = value.Param("boundary");
  if (!boundary || boundary->empty() || boundary->size() > kMaxBoundary) {
    return InvalidArgument("multipart/form-data needs a boundary of 1 to 70 characters");
  }
  return std::move(*boundary);
}

MultipartReader::MultipartReader(std::string boundary, MultipartSink& sink)
    : delimiter_("\r\n--" + boundary), sink_(sink) {
  // The first delimiter may open the body with no line break before it: reading the body as
  // if one came first finds it the same way as the others.
  buffer_ = "\r\n";
}

Status MultipartReader::Fail(Status s) {
  state_ = State::kFailed;
  buffer_.clear();
  return s;
}

Status MultipartReader::Feed(std::string_view bytes) {
  if (state_ == State::kFailed) return InvalidArgument("the form was already refused");
  if (state_ == State::kEpilogue) return Status::Ok();  // after the end: ignored
  buffer_.append(bytes);
  return Advance();
}

Status MultipartReader::Finish() {
  if (state_ == State::kFailed) return InvalidArgument("the form was already refused");
  if (state_ != State::kEpilogue) {
    return Fail(InvalidArgument(parts_ == 0 && state_ == State::kPreamble
                                    ? "the body holds no multipart/form-data part"
                                    : "the multipart/form-data body ends before its closing "
                                      "boundary"));
  }
  return Status::Ok();
}

Status MultipartReader::ParseHeaders(std::string_view block) {
  MultipartPart part;
  bool disposition = false;
  while (!block.empty()) {
    const size_t end = block.find(kCrlf);
    const std::string_view line = block.substr(0, end);
    block.remove_prefix(end == std::string_view::npos ? block.size() : end + kCrlf.size());
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return InvalidArgument("a part's header line has no ':'");
    }
    const std::string name = Lower(Trim(line.substr(0, colon)));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-disposition") {
      GLMQ_ASSIGN_OR_RETURN(HeaderValue v, ParseHeaderValue(value));
      if (v.type != "form-data") {
        return InvalidArgument("a part's Content-Disposition must be form-data");
      }
      std::optional<std::string> field = v.Param("name");
      if (!field) return InvalidArgument("a part's Content-Disposition has no name");
      part.name = std::move(*field);
      part.filename = v.Param("filename").value_or("");
      disposition = true;
    } else if (name == "content-type") {
      part.content_type = std::string(value);
    }
  }
  if (!disposition) return InvalidArgument("a part has no Content-Disposition header");
  ++parts_;
  return sink_.Begin(part);
}

Status MultipartReader::Advance() {
  for (;;) {
    switch (state_) {
      case State::kPreamble: {
        // Anything before the first delimiter is a preamble to skip.
        const size_t at = buffer_.find(delimiter_);
        if (at == std::string::npos) {
          // Keep what could be the start of a delimiter split across two pieces.
          if (buffer_.size() >= delimiter_.size())
            buffer_.erase(0, buffer_.size() - delimiter_.size() + 1);
          return Status::Ok();
        }
        buffer_.erase(0, at + delimiter_.size());
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kAfterDelimiter: {
        // "--" closes the body; otherwise optional blanks and a line break open a part.
        if (buffer_.size() < 2) return Status::Ok();
        if (buffer_.compare(0, 2, "--") == 0) {
          state_ = State::kEpilogue;
          buffer_.clear();
          return Status::Ok();
        }
        size_t i = 0;
        while (i < buffer_.size() && (buffer_[i] == ' ' || buffer_[i] == '\t')) ++i;
        // The same limit whether or not the line break has arrived yet.
        if (i > kMaxBoundary) return Fail(InvalidArgument("a boundary line runs on"));
        if (buffer_.size() - i < kCrlf.size()) return Status::Ok();
        if (buffer_.compare(i, kCrlf.size(), kCrlf) != 0) {
          return Fail(InvalidArgument("a boundary is followed by other text on its line"));
        }
        buffer_.erase(0, i + kCrlf.size());
        state_ = State::kHeaders;
        break;
      }
      case State::kHeaders: {
        // An empty part has no headers: its blank line comes at once.
        size_t end;
        size_t skip;
        if (buffer_.compare(0, kCrlf.size(), kCrlf) == 0) {
          end = 0;
          skip = kCrlf.size();
        } else {
          end = buffer_.find("\r\n\r\n");
          skip = 4;
          if (end == std::string::npos) {
            // Over the limit once the block cannot end within it: the blank line may have
            // begun in the last three bytes.
            if (buffer_.size() > kMaxHeaderBytes + skip - 1) {
              return Fail(InvalidArgument("a part's headers are over 16 KiB"));
            }
            return Status::Ok();
          }
        }
        if (end > kMaxHeaderBytes) return Fail(InvalidArgument("a part's headers are over 16 KiB"));
        if (Status s = ParseHeaders(std::string_view(buffer_).substr(0, end)); !s.ok()) {
          return Fail(std::move(s));
        }
        buffer_.erase(0, end + skip);
        state_ = State::kBody;
        break;
      }
      case State::kBody: {
        const size_t at = buffer_.find(delimiter_);
        if (at == std::string::npos) {
          // All but what could be the start of the delimiter goes on now.
          if (buffer_.size() >= delimiter_.size()) {
            const size_t ready = buffer_.size() - delimiter_.size() + 1;
            if (Status s = sink_.Data(std::string_view(buffer_).substr(0, ready)); !s.ok()) {
              return Fail(std::move(s));
            }
            buffer_.erase(0, ready);
          }
          return Status::Ok();
        }
        if (at > 0) {
          if (Status s = sink_.Data(std::string_view(buffer_).substr(0, at)); !s.ok()) {
            return Fail(std::move(s));
          }
        }
        if (Status s = sink_.End(); !s.ok()) return Fail(std::move(s));
        buffer_.erase(0, at + delimiter_.size());
        state_ = State::kAfterDelimiter;
        break;
      }
      case State::kEpilogue:
        buffer_.clear();
        return Status::Ok();
      case State::kFailed:
        return InvalidArgument("the form was already refused");
    }
  }
}

}  // namespace glmq
