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
  int32_t header_timeout_seconds = 30;
  int32_t body_timeout_seconds = 300;  // a 64 MiB body over a slow link
  double drain_seconds = 30;           // Stop(): how long requests in flight may take to finish
};

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

  HttpServerOptions options_;
  Router& router_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;  // one per io thread
  std::vector<WorkGuard> work_;                              // keeps each running while idle
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;        // on contexts_[0]
  std::vector<std::thread> threads_;
  std::atomic<int64_t> in_flight_{0};  // requests read and not yet answered
  std::atomic<bool> draining_{false};
};

}  // namespace glmq
