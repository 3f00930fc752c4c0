#include "api/http_request_limits.h"

#include <iterator>
#include <limits>
#include <string>

#include "api/json_response.h"

namespace glmq {

void PrepareHeadRead(RequestParser& parser) {
  parser.header_limit(kHeaderLimitBytes);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

std::optional<HttpResponse> HeaderRefusal(const boost::system::error_code& ec,
                                          const RequestParser& parser) {
  // Not a parse error (a timeout, a reset, the socket closed), or the peer left mid-head.
  if (ec.category() != http::make_error_code(http::error::end_of_stream).category() ||
      ec == http::error::end_of_stream || ec == http::error::partial_message) {
    return std::nullopt;
  }
  if (ec == http::error::header_limit) {
    // The parser takes the request line first: no target yet means it was the line itself.
    if (parser.get().target().empty()) {
      return ErrorResponse(ErrorCode::kUriTooLong, "the request line is over the limit of " +
                                                       std::to_string(kRequestLineLimitBytes) +
                                                       " bytes");
    }
    return ErrorResponse(
        ErrorCode::kHeadersTooLarge,
        "the request header is over the limit of " + std::to_string(kHeaderLimitBytes) + " bytes");
  }
  return ErrorResponse(ErrorCode::kBadHttp, "the request is not well-formed HTTP: " + ec.message());
}

std::optional<HttpResponse> HeaderCheck(const RequestParser& parser) {
  const auto& head = parser.get();
  if (static_cast<size_t>(std::distance(head.begin(), head.end())) > kHeaderFieldsLimit) {
    return ErrorResponse(
        ErrorCode::kHeadersTooLarge,
        "the request has more than " + std::to_string(kHeaderFieldsLimit) + " header fields");
  }
  // Two ways of framing one body disagree about where it ends: a request smuggling vector
  // (RFC 9112, section 6.3), refused outright.
  if (head.count(http::field::content_length) > 0 &&
      head.count(http::field::transfer_encoding) > 0) {
    return ErrorResponse(ErrorCode::kBadHttp,
                         "the request has both Content-Length and Transfer-Encoding");
  }
  if (head.target().size() > kRequestLineLimitBytes) {
    return ErrorResponse(ErrorCode::kUriTooLong, "the request line is over the limit of " +
                                                     std::to_string(kRequestLineLimitBytes) +
                                                     " bytes");
  }
  return std::nullopt;
}

}  // namespace glmq
