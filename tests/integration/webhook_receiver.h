// A tiny HTTP server for tests: accepts POSTs on 127.0.0.1 (any free port), answers 200
// with `{"errcode":0}` (or, after FailNext, an error status), and keeps every request it
// got, so a test can check what glmq sent.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
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
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string raw_body;
    nlohmann::json body;  // discarded() when the body was not JSON
    int answered = 200;
    std::chrono::steady_clock::time_point at;
  };

  WebhookReceiver();
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const;

  std::vector<Received> received() const;
  // Answers the next `count` requests with `status` instead of 200.
  void FailNext(int count, int status);
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
  int fail_count_ = 0;              // guarded by mu_
  int fail_status_ = 500;           // guarded by mu_
};

}  // namespace glmq::integration
