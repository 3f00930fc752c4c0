// A tiny HTTP server for tests: accepts POSTs on 127.0.0.1 (any free port), answers 200
// with `{"errcode":0}`, and keeps every body it got, so a test can check what glmq sent.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace glmq::integration {

class WebhookReceiver {
 public:
  struct Received {
    std::string path;
    nlohmann::json body;  // discarded() when the body was not JSON
    std::chrono::steady_clock::time_point at;
  };

  WebhookReceiver();
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const;

  std::vector<Received> received() const;
  // Waits until at least `count` requests arrived; returns what arrived.
  std::vector<Received> WaitFor(size_t count, std::chrono::milliseconds timeout) const;

 private:
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Received> received_;  // guarded by mu_
};

}  // namespace glmq::integration
