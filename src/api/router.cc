#include "api/router.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "api/json_response.h"

namespace glmq {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const size_t end = path.find('/', i);
    out.push_back(path.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
    if (end == std::string_view::npos) break;
    i = end;
  }
  return out;
}

// A body read whole already, handed to a kStreamed route in one piece (a request that did
// not come through HttpServer's streaming read, as in tests).
class WholeBodyReader : public BodyReader {
 public:
  explicit WholeBodyReader(const std::string& body) : body_(body) {}
  asio::awaitable<Result<std::string_view>> Read() override {
    std::string_view piece = given_ ? std::string_view() : std::string_view(body_);
    given_ = true;
    co_return piece;
  }
  bool done() const override { return given_; }

 private:
  const std::string& body_;
  bool given_ = false;
};

}  // namespace

void Router::Add(http::verb method, std::string pattern, Handler handler, Access access,
                 BodyMode body) {
  Route route{method, pattern, {}, std::move(handler), access, body};
  for (std::string_view s : SplitPath(pattern)) route.segments.emplace_back(s);
  routes_.push_back(std::move(route));
}

bool Router::Match(const Route& route, const std::vector<std::string_view>& segments,
                   std::map<std::string, std::string>& params) {
  if (route.segments.size() != segments.size()) return false;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& want = route.segments[i];
    if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
      params[want.substr(1, want.size() - 2)] = std::string(segments[i]);
    } else if (want != segments[i]) {
      return false;
    }
  }
  return true;
}

bool Router::StreamsBody(http::verb method, std::string_view target) const {
  const std::vector<std::string_view> segments = SplitPath(target.substr(0, target.find('?')));
  for (const Route& route : routes_) {
    std::map<std::string, std::string> params;
    if (route.method == method && route.body == BodyMode::kStreamed &&
        Match(route, segments, params)) {
      return true;
    }
  }
  return false;
}

asio::awaitable<HttpResponse> Router::Dispatch(HttpRequest request, StreamBody* stream,
                                               std::string peer, BodyReader* body) {
  const auto started = std::chrono::steady_clock::now();
  std::string route = "unmatched";
  HttpResponse response = co_await Handle(std::move(request), route, stream, std::move(peer), body);
  if (observer_) {
    observer_(route, response.result_int(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  co_return response;
}

asio::awaitable<HttpResponse> Router::Handle(HttpRequest request, std::string& route,
                                             StreamBody* stream, std::string peer,
                                             BodyReader* body) {
  RequestContext ctx;
  ctx.peer = std::move(peer);
  const std::string_view target(request.target().data(), request.target().size());
  const size_t q = target.find('?');
  ctx.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    auto query = ParseQuery(target.substr(q + 1));
    if (!query.ok()) co_return ErrorResponse(ErrorCode::kInvalidQuery, query.status().message());
    ctx.query = std::move(*query);
  }
  const std::vector<std::string_view> segments = SplitPath(ctx.path);
  const Route* found = nullptr;
  std::string allowed;
  for (const Route& route : routes_) {
    std::map<std::string, std::string> params;
    if (!Match(route, segments, params)) continue;
    if (route.method == request.method() ||
        (request.method() == http::verb::head && route.method == http::verb::get)) {
      found = &route;
      ctx.params = std::move(params);
      break;
    }
    if (!allowed.empty()) allowed += ", ";
    allowed += std::string(http::to_string(route.method));
  }
  if (found == nullptr) {
    if (!allowed.empty()) {
      HttpResponse res =
          ErrorResponse(ErrorCode::kMethodNotAllowed, "this path accepts " + allowed);
      res.set(http::field::allow, allowed);
      co_return res;
    }
    co_return ErrorResponse(ErrorCode::kNotFound, "no such endpoint: " + ctx.path);
  }
  ctx.route = found->pattern;
  route = found->pattern;
  if (found->access != Access::kOpen && authenticate_) {
    std::optional<Caller> caller = authenticate_(request);
    if (!caller) {
      const bool sent = request.find(http::field::authorization) != request.end();
      HttpResponse res = ErrorResponse(
          ErrorCode::kUnauthorized,
          sent ? "the API key is not valid"
               : "this endpoint needs an API key: send the header 'Authorization: Bearer KEY'");
      res.set(http::field::www_authenticate,
              sent ? R"(Bearer realm="glmq", error="invalid_token")" : R"(Bearer realm="glmq")");
      co_return res;
    }
    const Role needed = found->access == Access::kRead     ? Role::kRead
                        : found->access == Access::kSubmit ? Role::kSubmit
                                                           : Role::kAdmin;
    if (!caller->May(needed)) {
      co_return ErrorResponse(ErrorCode::kForbidden,
                              std::string("this API key's role (") + RoleName(caller->role) +
                                  ") cannot do this; it needs " + RoleName(needed));
    }
    ctx.caller = std::move(*caller);
  }
  ctx.request = std::move(request);
  std::optional<WholeBodyReader> whole;
  if (found->body == BodyMode::kStreamed) {
    if (body == nullptr) body = &whole.emplace(ctx.request.body());
    ctx.body = body;
  }
  // A bad request must never become a 500; an exception here is a bug, logged as one.
  try {
    HttpResponse response = co_await found->handler(ctx);
    if (stream && ctx.stream && response.result() == http::status::ok) {
      *stream = std::move(ctx.stream);
    }
    co_return response;
  } catch (const std::exception& e) {
    spdlog::error("handler for {} {} threw: {}", std::string(http::to_string(ctx.request.method())),
                  ctx.route, e.what());
  }
  co_return ErrorResponse(ErrorCode::kInternal, "internal error; see the server log");
}

}  // namespace glmq
