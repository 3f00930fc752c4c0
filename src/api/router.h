// Router: the one route table. Maps (method, path pattern) to a handler and answers
// unknown paths (404) and wrong methods (405) with JSON errors.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/asio.h"
#include "api/auth.h"
#include "api/query_string.h"
#include "core/status.h"

namespace glmq {

// Where a streamed response's body goes, piece by piece (HTTP/1.1 chunks).
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Sends `data` at once. False when the client is gone: stop producing.
  virtual asio::awaitable<bool> Write(std::string data) = 0;
};
// Produces a streamed body; the response ends when it returns.
using StreamBody = std::function<asio::awaitable<void>(StreamWriter&)>;

// Where a request's body comes from piece by piece, for routes that take bodies too large to
// hold (file uploads, Router::Add with BodyMode::kStreamed). Read on the request's io thread.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // The next piece of the body, valid until the next Read; empty at its end. kTooLarge past
  // the upload limit, kInvalidArgument for a broken body, kCancelled when the client left or
  // stalled.
  virtual asio::awaitable<Result<std::string_view>> Read() = 0;
  // Whether the whole body was read (when not, the connection cannot be reused).
  virtual bool done() const = 0;
};

// How a route takes its body: read whole before the handler runs (up to the server's body
// limit), or left to the handler to read through RequestContext::body.
enum class BodyMode { kWhole, kStreamed };

struct RequestContext {
  HttpRequest request;
  std::string path;                           // without the query string
  std::map<std::string, std::string> params;  // from {name} segments of the pattern
  std::map<std::string, std::string> query;   // decoded query string
  std::string route;                          // the matched pattern, for metrics and logs
  std::string peer;                           // the client's address, as the socket says
  // Who is calling (from the API key): the tenant its work belongs to and its role.
  Caller caller;
  // The body of a kStreamed route, still to be read (request.body() is empty then).
  BodyReader* body = nullptr;
  // Set by a handler whose 200 answer streams (server-sent events): the handler's response
  // gives the status and headers, and this writes the body after them.
  StreamBody stream;
};

// Handlers run on an io thread's strand; blocking work goes through RunBlocking().
using Handler = std::function<asio::awaitable<HttpResponse>(RequestContext&)>;

// Told of every answered request: the matched pattern ("unmatched" for 404s), the status
// and the seconds it took. Runs on the io thread: must be cheap.
using RequestObserver = std::function<void(const std::string& route, int status, double seconds)>;

// The least role a route needs: kOpen routes (health, metrics, documents) answer anyone,
// without a key; the others answer 401 without a valid key and 403 to a lesser role.
enum class Access { kOpen, kRead, kSubmit, kAdmin };

class Router {
 public:
  void Add(http::verb method, std::string pattern, Handler handler, Access access,
           BodyMode body = BodyMode::kWhole);
  // Whether the route a request's head names reads its own body (BodyMode::kStreamed).
  bool StreamsBody(http::verb method, std::string_view target) const;
  // Names the caller of a request that needs a key: nullopt answers 401. Set before serving
  // starts. Without it every request is an admin of the implicit tenant.
  using Authenticator = std::function<std::optional<Caller>(const HttpRequest&)>;
  void Authenticate(Authenticator authenticate) { authenticate_ = std::move(authenticate); }
  // Set before serving starts.
  void SetObserver(RequestObserver observer) { observer_ = std::move(observer); }
  // `stream`, when given, receives the handler's StreamBody for a streamed answer; `peer` is
  // the client's address.
  // `body` reads the body of a kStreamed route.
  asio::awaitable<HttpResponse> Dispatch(HttpRequest request, StreamBody* stream = nullptr,
                                         std::string peer = {}, BodyReader* body = nullptr);

 private:
  asio::awaitable<HttpResponse> Handle(HttpRequest request, std::string& route, StreamBody* stream,
                                       std::string peer, BodyReader* body);
  struct Route {
    http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    Access access;
    BodyMode body;
  };
  static bool Match(const Route& route, const std::vector<std::string_view>& segments,
                    std::map<std::string, std::string>& params);
  std::vector<Route> routes_;
  RequestObserver observer_;
  Authenticator authenticate_;
};

// The result travels in an optional: co_spawn's completion wants a default-constructible
// value, which Result<T> is not.
template <typename F>
asio::awaitable<std::optional<std::invoke_result_t<F>>> CallAsCoroutine(F fn) {
  co_return std::optional<std::invoke_result_t<F>>(fn());
}

// Runs `fn` on `pool` and resumes the calling coroutine with its result.
// Pass a named function object (GCC 12 destroys some temporaries inside co_await
// expressions twice), and never a capturing lambda coroutine (its captures die early).
template <typename F>
asio::awaitable<std::invoke_result_t<F>> RunBlocking(asio::thread_pool& pool, F fn) {
  auto result = co_await asio::co_spawn(pool, CallAsCoroutine(std::move(fn)), asio::use_awaitable);
  co_return std::move(*result);
}

}  // namespace glmq
