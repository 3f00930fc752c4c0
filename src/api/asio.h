// One place that includes Asio and Beast the way glmq uses them (C++20 coroutines).
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>, so <utility>
// must come first; keep clang-format from sorting it below.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

namespace glmq {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

}  // namespace glmq
