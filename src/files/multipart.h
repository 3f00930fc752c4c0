// MultipartReader: a multipart/form-data body (RFC 7578, RFC 2046 section 5.1) read as it
// arrives, in pieces of any size, with no more than one part's headers and a boundary's
// length held at a time: a 200 MB file goes from the socket to its sink without being held
// whole.
//
// Error contract: every refusal is kInvalidArgument with a message that says what is wrong
// (it is the client's body); a sink's own error is passed through unchanged and ends the
// reading. After an error the reader takes no more bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace glmq {

// One part's headers: the form field's name, and for a file its filename and type.
struct MultipartPart {
  std::string name;
  std::string filename;      // "" when the part is not a file
  std::string content_type;  // "" when the part gave none (text/plain then)
};

// Where the parts go, in order: Begin, the data in pieces (none for an empty part), End.
class MultipartSink {
 public:
  virtual ~MultipartSink() = default;
  virtual Status Begin(const MultipartPart& part) = 0;
  virtual Status Data(std::string_view bytes) = 0;
  virtual Status End() = 0;
};

// The boundary a Content-Type of multipart/form-data names; kInvalidArgument for any other
// type or a boundary RFC 2046 does not allow (empty, over 70 characters).
Result<std::string> MultipartBoundary(std::string_view content_type);

class MultipartReader {
 public:
  MultipartReader(std::string boundary, MultipartSink& sink);

  // The next bytes of the body.
  Status Feed(std::string_view bytes);
  // The body has ended: an error unless its closing delimiter was read.
  Status Finish();

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kBody, kEpilogue, kFailed };
  Status Fail(Status s);
  Status ParseHeaders(std::string_view block);
  // Runs the state machine over buffer_ as far as its bytes allow.
  Status Advance();

  std::string delimiter_;  // CRLF "--" boundary
  MultipartSink& sink_;
  State state_ = State::kPreamble;
  std::string buffer_;  // bytes not yet handed on
  size_t parts_ = 0;
};

}  // namespace glmq
