// HttpServer: accepts connections and reads requests with Boost.Beast, and hands each one to
// a Router. It owns the sockets and nothing else: no routes, no job logic.
//
// Threads: `io_threads` threads, each running an io_context of its own; a connection lives
// on one of them (round robin), so its coroutine never hops threads and io threads never
// contend for one queue. Handlers must not block them (see Router).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/asio.h"
#include "core/status.h"

namespace glmq {

class Router;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 = any free port
  int32_t io_threads = 2;
  uint64_t max_body_bytes = 64ull << 20;
  // The body of an upload route (BodyMode::kStreamed), read a piece at a time, never whole.
  uint64_t max_upload_bytes = 200ull << 20;
  int32_t header_timeout_seconds = 30;
  int32_t body_timeout_seconds = 300;  // a 64 MiB body over a slow link
  double drain_seconds = 30;           // Stop(): how long requests in flight may take to finish
  // Open connections past this get a 503 and are closed, so that descriptors remain for the
  // store, the model and webhooks. 0: DefaultMaxConnections().
  int64_t max_connections = 0;
};

// Raises this process's soft limit on open descriptors to its hard limit (each connection
// takes one), and returns the limit now in force.
int64_t RaiseDescriptorLimit();
// A connection limit below the descriptor limit, with room for everything else.
int64_t DefaultMaxConnections();

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Router& router);
  ~HttpServer();

  // Binds and starts serving. Returns the bound port.
  Result<uint16_t> Start();
  // Stops accepting, lets the requests in flight finish (up to drain_seconds; each gets
  // `Connection: close`), then closes every connection and joins the threads.
  void Stop();

 private:
  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(asio::ip::tcp::socket socket);
  // Answers 503 to a connection past max_connections and closes it.
  asio::awaitable<void> Refuse(asio::ip::tcp::socket socket);
  // Writes a refusal, closes our side, and drains what the client still sends.
  asio::awaitable<void> AnswerAndClose(beast::tcp_stream& stream, HttpResponse response);

  HttpServerOptions options_;
  Router& router_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;  // one per io thread
  std::vector<WorkGuard> work_;                              // keeps each running while idle
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;        // on contexts_[0]
  std::vector<std::thread> threads_;
  std::atomic<int64_t> in_flight_{0};    // requests read and not yet answered
  std::atomic<int64_t> connections_{0};  // open connections being served
  std::atomic<bool> draining_{false};
};

}  // namespace glmq
