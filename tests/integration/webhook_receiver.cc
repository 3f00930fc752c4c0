#include "integration/webhook_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace glmq::integration {

WebhookReceiver::WebhookReceiver() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket failed");
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("bind/listen failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

WebhookReceiver::~WebhookReceiver() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

std::string WebhookReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void WebhookReceiver::Serve() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    Handle(fd);
    ::close(fd);
  }
}

// One request per connection: headers, then Content-Length bytes of body.
void WebhookReceiver::Handle(int fd) {
  std::string data;
  char buf[8192];
  size_t header_end = std::string::npos;
  size_t need = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      std::string headers = data.substr(0, header_end);
      for (char& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const size_t cl = headers.find("content-length:");
      need = cl == std::string::npos ? 0 : std::stoul(headers.substr(cl + 15));
    }
    if (data.size() >= header_end + 4 + need) break;
  }
  if (header_end == std::string::npos) return;
  const size_t first_space = data.find(' ');
  const size_t second_space = data.find(' ', first_space + 1);
  Received r;
  r.path = data.substr(first_space + 1, second_space - first_space - 1);
  for (size_t at = data.find("\r\n") + 2; at < header_end;) {
    const size_t end = data.find("\r\n", at);
    const std::string line = data.substr(at, end - at);
    if (const size_t colon = line.find(':'); colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    at = end + 2;
  }
  r.raw_body = data.substr(header_end + 4);
  r.body = nlohmann::json::parse(r.raw_body, nullptr, false);
  r.at = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (fail_count_ > 0) {
      --fail_count_;
      r.answered = fail_status_;
    }
  }
  const std::string reply = "HTTP/1.1 " + std::to_string(r.answered) +
                            " X\r\nContent-Type: application/json\r\nContent-Length: 13\r\n"
                            "Connection: close\r\n\r\n{\"errcode\":0}";
  ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  {
    std::lock_guard lock(mu_);
    received_.push_back(std::move(r));
  }
  cv_.notify_all();
}

void WebhookReceiver::FailNext(int count, int status) {
  std::lock_guard lock(mu_);
  fail_count_ = count;
  fail_status_ = status;
}

std::vector<WebhookReceiver::Received> WebhookReceiver::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

std::vector<WebhookReceiver::Received> WebhookReceiver::WaitFor(
    size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return received_.size() >= count; });
  return received_;
}

}  // namespace glmq::integration
