// What the HTTP server refuses to read: the limits on a request's head, and the answer when
// one is passed or the body's framing is ambiguous. RFC 9112 leaves the limits to the server
// and asks it to answer (414, 431, 400), not to drop the connection without a word. Apart
// from the server, so that the fuzzer can drive Beast's parser through it without Asio's
// coroutines.
#pragma once

#include <cstdint>
#include <optional>

#include "api/asio.h"

namespace glmq {

using RequestParser = http::request_parser<http::string_body>;

inline constexpr uint32_t kHeaderLimitBytes = 64 * 1024;
inline constexpr size_t kRequestLineLimitBytes = 16 * 1024;
inline constexpr size_t kHeaderFieldsLimit = 128;

// Sets a fresh parser's limits for reading the head. Beast checks Content-Length against
// the body limit while reading the head and then fails without a word; we answer 413, so
// the body limit is the caller's to set once the head is read.
void PrepareHeadRead(RequestParser& parser);

// The answer to a request whose head could not be read, or none when there is nobody to
// answer (the peer closed, went quiet, or the server is stopping).
std::optional<HttpResponse> HeaderRefusal(const boost::system::error_code& ec,
                                          const RequestParser& parser);

// The answer to a head that was read but cannot be served, or none.
std::optional<HttpResponse> HeaderCheck(const RequestParser& parser);

}  // namespace glmq
