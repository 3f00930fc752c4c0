#include "net/curl.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/free_port.h"

namespace glmq::net {
namespace {

TEST(CurlTest, UrlHostIsTheBareLowerCaseHost) {
  EXPECT_EQ(UrlHost("https://user:pw@Hooks.Example.COM:8443/x?y=1#z"), "hooks.example.com");
  EXPECT_EQ(UrlHost("http://10.0.0.1/hook"), "10.0.0.1");
  EXPECT_EQ(UrlHost("http://[::1]:8080/hook"), "::1");
  EXPECT_EQ(UrlHost("http://example.com./hook"), "example.com");
  EXPECT_EQ(UrlHost("http://example.com?q"), "example.com");
  // The last '@' ends the user info: the host is what follows it.
  EXPECT_EQ(UrlHost("http://good.example.com@169.254.169.254/"), "169.254.169.254");
  EXPECT_EQ(UrlHost("not a url"), "");
}

TEST(CurlTest, RedactUrlKeepsOnlySchemeAndHost) {
  EXPECT_EQ(RedactUrl("https://oapi.dingtalk.com/robot/send?access_token=x"),
            "https://oapi.dingtalk.com/...");
  EXPECT_EQ(RedactUrl("smtps://user:pw@mail.example:465"), "smtps://mail.example:465");
  EXPECT_EQ(RedactUrl("http://h"), "http://h");
}

TEST(CurlTest, NoServerIsUnavailableAndABadUrlIsInvalid) {
  HttpCall call;
  call.url = "http://127.0.0.1:" + std::to_string(FreePort()) + "/x";
  call.timeout_seconds = 5;
  EXPECT_EQ(Fetch(call).status().code(), StatusCode::kUnavailable);
  call.url = "gopher://127.0.0.1/x";
  EXPECT_EQ(Fetch(call).status().code(), StatusCode::kInvalidArgument);
}

// A peer on 127.0.0.1 that accepts one connection, reads the request and then answers
// `reply` (empty: never answers, and holds the connection until it is destroyed).
class OnePeer {
 public:
  explicit OnePeer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 1);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      char buf[4096];
      (void)::recv(conn, buf, sizeof buf, 0);
      if (!reply_.empty()) (void)::send(conn, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      while (!done_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ::close(conn);
    });
  }
  ~OnePeer() {
    done_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/x"; }

 private:
  std::string reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(CurlTest, AnAnswerOfAnyStatusIsAnAnswer) {
  OnePeer peer("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy!");
  HttpCall call;
  call.method = "POST";
  call.url = peer.url();
  call.body = "{}";
  call.has_body = true;
  call.max_response_bytes = 4;
  auto answer = Fetch(call);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->status, 503);
  EXPECT_EQ(answer->body, "busy");  // cut at max_response_bytes
}

// The guard for URLs a client gave: the address is checked as it is dialled, so a name
// (localhost, which libcurl resolves itself) is refused as its address would be.
TEST(CurlTest, APublicAddressesOnlyCallDoesNotConnectToThisMachine) {
  OnePeer peer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  HttpCall call;
  call.timeout_seconds = 5;
  call.public_addresses_only = true;
  const std::string port = peer.url().substr(std::string("http://127.0.0.1:").size());
  for (const std::string& url : {peer.url(), "http://localhost:" + port}) {
    call.url = url;
    auto refused = Fetch(call);
    ASSERT_FALSE(refused.ok()) << url;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(refused.status().message().find("not a public address"), std::string::npos)
        << refused.status().ToString();
  }
  // The same peer answers a call without the guard: the refusal was the guard's.
  call.url = peer.url();
  call.public_addresses_only = false;
  auto answer = Fetch(call);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->status, 200);
}

TEST(CurlTest, APeerThatHangsTimesOutOrIsAborted) {
  {
    OnePeer peer("");
    HttpCall call;
    call.url = peer.url();
    call.timeout_seconds = 0.3;
    EXPECT_EQ(Fetch(call).status().code(), StatusCode::kDeadlineExceeded);
  }
  OnePeer peer("");
  std::atomic<bool> abort{false};
  HttpCall call;
  call.url = peer.url();
  call.timeout_seconds = 30;
  call.abort = &abort;
  std::thread aborter([&abort] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    abort = true;
  });
  const auto answer = Fetch(call);
  aborter.join();
  EXPECT_EQ(answer.status().code(), StatusCode::kCancelled) << answer.status().ToString();
}

TEST(CurlTest, AStreamStopsWhenTheReaderSaysSo) {
  OnePeer peer("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n");
  HttpCall call;
  call.url = peer.url();
  call.timeout_seconds = 10;
  std::string seen;
  long seen_status = 0;
  call.on_data = [&](std::string_view piece, long status) {
    seen.append(piece);
    seen_status = status;
    return false;  // the first piece is enough
  };
  auto answer = Fetch(call);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(seen_status, 200);
  EXPECT_EQ(answer->status, 200);
  EXPECT_NE(seen.find("data: 1"), std::string::npos);
}

}  // namespace
}  // namespace glmq::net
