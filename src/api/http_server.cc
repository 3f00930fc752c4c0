#include "api/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>

#include "api/fast_json.h"
#include "api/http_request_limits.h"
#include "api/json_response.h"
#include "api/router.h"

namespace glmq {
namespace {

using tcp = asio::ip::tcp;
using std::chrono::seconds;

// Beast reads into the buffer's free space, at least 512 bytes: room for a typical request
// (headers and a small JSON body) up front takes it in one recvmsg instead of three. Each
// open connection keeps this much, idle keep-alives and long-polls included.
constexpr size_t kReadBufferBytes = 4 * 1024;
// After refusing a body we read (and drop) what the client already sent, for a while, so
// that closing does not reset the connection before the client reads our answer.
constexpr auto kDrainTime = std::chrono::seconds(2);
// A streamed piece the client does not take in this long ends the stream.
constexpr auto kStreamWriteTimeout = std::chrono::seconds(30);

// After an accept fails for want of resources (descriptors, buffers, memory), the loop waits
// this long before trying again, doubling while it goes on: retrying at once spins a core
// and fills the log (the failure repeats until a connection closes).
constexpr auto kAcceptFirstBackoff = std::chrono::milliseconds(5);
constexpr auto kAcceptLongestBackoff = std::chrono::milliseconds(500);
// Accept failures are logged at most this often, with how many there were.
constexpr auto kAcceptLogInterval = std::chrono::seconds(1);
// Descriptors kept for everything but connections by DefaultMaxConnections().
constexpr int64_t kReservedDescriptors = 256;

bool IsResourceShortage(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec.value() == ENFILE;
}

// Writes each piece of a streamed body as one HTTP/1.1 chunk.
class ChunkWriter final : public StreamWriter {
 public:
  explicit ChunkWriter(beast::tcp_stream& stream) : stream_(stream) {}
  asio::awaitable<bool> Write(std::string data) override {
    if (failed_ || data.empty()) co_return !failed_;
    boost::system::error_code ec;
    stream_.expires_after(kStreamWriteTimeout);
    co_await asio::async_write(stream_, http::make_chunk(asio::buffer(data)),
                               asio::redirect_error(asio::use_awaitable, ec));
    failed_ = static_cast<bool>(ec);
    co_return !failed_;
  }
  bool failed() const { return failed_; }

 private:
  beast::tcp_stream& stream_;
  bool failed_ = false;
};

// The body of a streamed route (an upload), read from the socket a piece at a time into a
// buffer of its own, after the head was read by the usual parser.
class SocketBodyReader final : public BodyReader {
 public:
  static constexpr size_t kPieceBytes = 64 * 1024;
  SocketBodyReader(beast::tcp_stream& stream, beast::flat_buffer& buffer, RequestParser&& head,
                   uint64_t limit, std::chrono::seconds idle)
      : stream_(stream), buffer_(buffer), parser_(std::move(head)), limit_(limit), idle_(idle) {
    parser_.body_limit(limit);
  }
  const http::request_header<>& header() const { return parser_.get().base(); }
  bool done() const override { return parser_.is_done(); }

  asio::awaitable<Result<std::string_view>> Read() override {
    if (parser_.is_done()) co_return std::string_view();
    parser_.get().body().data = piece_.data();
    parser_.get().body().size = piece_.size();
    boost::system::error_code ec;
    stream_.expires_after(idle_);
    co_await http::async_read(stream_, buffer_, parser_,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};  // the piece is full
    if (ec == http::error::body_limit) {
      co_return Status(StatusCode::kTooLarge,
                       "the body is over the limit of " + std::to_string(limit_) + " bytes");
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::eof) {
      co_return Status(StatusCode::kCancelled, "the client stopped sending the body");
    }
    if (ec) co_return InvalidArgument("the body is not valid HTTP: " + ec.message());
    co_return std::string_view(piece_.data(), piece_.size() - parser_.get().body().size);
  }

 private:
  beast::tcp_stream& stream_;
  beast::flat_buffer& buffer_;
  http::request_parser<http::buffer_body> parser_;
  const uint64_t limit_;
  std::chrono::seconds idle_;
  std::array<char, kPieceBytes> piece_;
};

}  // namespace

int64_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<int32_t>::max()
                                         : static_cast<int64_t>(limit.rlim_cur);
}

int64_t DefaultMaxConnections() {
  rlimit limit{};
  const int64_t descriptors = getrlimit(RLIMIT_NOFILE, &limit) != 0 ? 1024
                              : limit.rlim_cur == RLIM_INFINITY
                                  ? std::numeric_limits<int32_t>::max()
                                  : static_cast<int64_t>(limit.rlim_cur);
  // A tenth (at least kReservedDescriptors) for the store, the model, webhooks, logs.
  return std::max<int64_t>(16, descriptors - std::max(kReservedDescriptors, descriptors / 10));
}

HttpServer::HttpServer(HttpServerOptions options, Router& router)
    : options_(std::move(options)), router_(router) {
  if (options_.max_connections <= 0) options_.max_connections = DefaultMaxConnections();
}

HttpServer::~HttpServer() { Stop(); }

Result<uint16_t> HttpServer::Start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return InvalidArgument("--host '" + options_.host + "' is not an IP address");
  for (int32_t i = 0; i < std::max(1, options_.io_threads); ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));  // 1: run by one thread
  }
  acceptor_ = std::make_unique<tcp::acceptor>(*contexts_[0]);
  const tcp::endpoint endpoint(address, options_.port);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                       ": " + ec.message());
  }
  const uint16_t port = acceptor_->local_endpoint().port();
  for (auto& context : contexts_) work_.push_back(asio::make_work_guard(*context));
  asio::co_spawn(*contexts_[0], AcceptLoop(), asio::detached);
  for (auto& context : contexts_) {
    threads_.emplace_back([io = context.get()] { io->run(); });
  }
  return port;
}

void HttpServer::Stop() {
  if (threads_.empty()) return;
  draining_ = true;
  asio::post(*contexts_[0], [this] {
    boost::system::error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
  });
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::llround(options_.drain_seconds * 1000));
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (const int64_t left = in_flight_.load(); left > 0) {
    spdlog::warn("drain: {} requests still in flight after {} s; closing them", left,
                 options_.drain_seconds);
  }
  work_.clear();
  for (auto& context : contexts_) context->stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

asio::awaitable<void> HttpServer::AcceptLoop() {
  size_t next = 0;
  auto backoff = kAcceptFirstBackoff;
  int64_t failures = 0;  // since the last log line
  auto logged_at = std::chrono::steady_clock::time_point{};
  asio::steady_timer pause(*contexts_[0]);
  while (acceptor_->is_open()) {
    boost::system::error_code ec;
    asio::io_context& home = *contexts_[next++ % contexts_.size()];
    tcp::socket socket =
        co_await acceptor_->async_accept(home, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      ++failures;
      const auto now = std::chrono::steady_clock::now();
      if (now - logged_at >= kAcceptLogInterval) {
        spdlog::warn("accept failed {} time(s) since the last report: {}{}", failures, ec.message(),
                     IsResourceShortage(ec) ? " (pausing accepts until resources free up)" : "");
        failures = 0;
        logged_at = now;
      }
      if (IsResourceShortage(ec)) {
        pause.expires_after(backoff);
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        backoff = std::min(backoff * 2, kAcceptLongestBackoff);
      }
      continue;
    }
    backoff = kAcceptFirstBackoff;
    socket.set_option(tcp::no_delay(true), ec);
    // The connection's coroutine, and anything posted to wake it (long-poll notifications),
    // run on its context's one thread, never at the same time.
    if (connections_.load() >= options_.max_connections) {
      asio::co_spawn(home, Refuse(std::move(socket)), asio::detached);
    } else {
      connections_.fetch_add(1);  // here, not in Serve: the next accept must see it
      asio::co_spawn(home, Serve(std::move(socket)), asio::detached);
    }
  }
}

asio::awaitable<void> HttpServer::Refuse(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  co_await AnswerAndClose(
      stream, ErrorResponse(ErrorCode::kUnavailable,
                            "this server has " + std::to_string(options_.max_connections) +
                                " connections open, its limit (--max-connections); try again "
                                "shortly"));
}

asio::awaitable<void> HttpServer::AnswerAndClose(beast::tcp_stream& stream, HttpResponse response) {
  response.keep_alive(false);
  response.prepare_payload();
  boost::system::error_code ec;
  stream.expires_after(seconds(10));
  co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  // What the client already sent is read and dropped for a while: closing with it unread
  // would reset the connection before the client reads the answer.
  stream.expires_after(kDrainTime);
  std::array<char, 16384> sink;
  while (!ec) {
    co_await stream.async_read_some(asio::buffer(sink),
                                    asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> HttpServer::Serve(tcp::socket socket) {
  // AcceptLoop counted this connection; it stops counting when this coroutine ends.
  struct Counted {
    std::atomic<int64_t>& connections;
    ~Counted() { connections.fetch_sub(1); }
  } counted{connections_};
  boost::system::error_code peer_ec;
  const std::string peer = socket.remote_endpoint(peer_ec).address().to_string();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  buffer.reserve(kReadBufferBytes);
  boost::system::error_code ec;
  for (;;) {
    RequestParser parser;
    PrepareHeadRead(parser);
    stream.expires_after(seconds(options_.header_timeout_seconds));
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    std::optional<HttpResponse> refusal;
    if (ec) {
      refusal = HeaderRefusal(ec, parser);
      if (!refusal) break;  // closed, timed out: nobody to answer
    } else {
      refusal = HeaderCheck(parser);
    }
    // An upload route reads its own body, piece by piece, up to its own limit.
    const bool streamed =
        !refusal &&
        router_.StreamsBody(parser.get().method(), std::string_view(parser.get().target().data(),
                                                                    parser.get().target().size()));
    const uint64_t limit = streamed ? options_.max_upload_bytes : options_.max_body_bytes;
    parser.body_limit(limit);

    const auto length = parser.content_length();
    if (refusal) {
      // Answered below.
    } else if (length && *length > limit) {
      refusal = ErrorResponse(ErrorCode::kPayloadTooLarge, "body of " + std::to_string(*length) +
                                                               " bytes is over the limit of " +
                                                               std::to_string(limit) + " bytes");
    } else if (!parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        HttpResponse go_on{http::status::continue_, 11};
        co_await http::async_write(stream, go_on, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
    }
    if (streamed && !refusal) {
      SocketBodyReader upload(stream, buffer, std::move(parser), limit,
                              seconds(options_.header_timeout_seconds));
      HttpRequest request;
      request.base() = upload.header();
      const bool client_keep_alive = request.keep_alive();
      ++in_flight_;
      struct Done {
        std::atomic<int64_t>& n;
        ~Done() { --n; }
      } done{in_flight_};
      const auto handling_started = std::chrono::steady_clock::now();
      HttpResponse response = co_await router_.Dispatch(std::move(request), nullptr, peer, &upload);
      // The handler read the body as it arrived: its time includes the transfer.
      const double handler_ms = std::chrono::duration<double, std::milli>(
                                    std::chrono::steady_clock::now() - handling_started)
                                    .count();
      response.set("Server-Timing",
                   "app;dur=" + std::to_string(handler_ms) + ";desc=\"with the upload\"");
      response.set(http::field::server, "glmq");
      if (!upload.done()) {
        // The handler refused before the body's end: the rest cannot be skipped in place.
        co_await AnswerAndClose(stream, std::move(response));
        break;
      }
      const bool keep_alive = client_keep_alive && !draining_;
      response.keep_alive(keep_alive);
      response.prepare_payload();
      stream.expires_after(seconds(60));
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) break;
      continue;
    }
    if (!refusal && !parser.is_done()) {
      // Room past the body's end for the JSON parser, which then reads it where it is
      // rather than copying it (api/fast_json.h); the body is read into what is reserved.
      if (length) parser.get().body().reserve(*length + kJsonPadding);
      stream.expires_after(seconds(options_.body_timeout_seconds));
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::body_limit) {
        refusal = ErrorResponse(
            ErrorCode::kPayloadTooLarge,
            "body is over the limit of " + std::to_string(options_.max_body_bytes) + " bytes");
      } else if (ec) {
        if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
            ec != asio::error::connection_reset) {
          refusal = ErrorResponse(ErrorCode::kBadHttp, ec.message());
        } else {
          break;
        }
      }
    }

    if (refusal) {
      co_await AnswerAndClose(stream, std::move(*refusal));
      break;
    }

    HttpRequest request = parser.release();
    // Counted from here to the written response: what a drain waits for.
    ++in_flight_;
    struct Done {
      std::atomic<int64_t>& n;
      ~Done() { --n; }
    } done{in_flight_};
    const bool keep_alive = request.keep_alive() && !draining_;
    const bool head = request.method() == http::verb::head;
    const auto handling_started = std::chrono::steady_clock::now();
    StreamBody body;
    HttpResponse response =
        co_await router_.Dispatch(std::move(request), head ? nullptr : &body, peer);
    // Time from the whole request read to the response ready: what the server spent.
    const double handler_ms = std::chrono::duration<double, std::milli>(
                                  std::chrono::steady_clock::now() - handling_started)
                                  .count();
    response.set("Server-Timing", "app;dur=" + std::to_string(handler_ms));
    response.set(http::field::server, "glmq");
    if (body) {
      // The head, then the body chunk by chunk as it is produced; the connection closes
      // after, so a client that streams holds one connection for one stream.
      response.keep_alive(false);
      response.chunked(true);
      stream.expires_after(seconds(60));
      http::response_serializer<http::string_body> sr(response);
      co_await http::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      ChunkWriter writer(stream);
      co_await body(writer);
      if (!writer.failed()) {
        stream.expires_after(seconds(10));
        co_await asio::async_write(stream, http::make_chunk_last(),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      break;
    }
    response.keep_alive(keep_alive);
    response.prepare_payload();
    if (head) response.body().clear();
    stream.expires_after(seconds(60));
    if (head) {
      http::response_serializer<http::string_body> sr(response);
      co_await http::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace glmq
