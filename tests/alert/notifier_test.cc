#include "alert/notifier.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "alert/fake_transport.h"
#include "alert/payloads.h"

namespace glmq {
namespace {

constexpr TimeMs kWallClock = 1599360473000;

Notification OneFiring() {
  Alert a;
  a.rule = "queue_depth";
  a.severity = AlertSeverity::kCritical;
  a.labels = {{"alertname", "queue_depth"}, {"severity", "critical"}, {"class", "long"}};
  a.annotations = {{"summary", "127 jobs queued"}};
  a.value = 127;
  a.threshold = 100;
  a.starts_at = kWallClock - 60000;
  a.fingerprint = "00000000000000ff";
  Notification n;
  n.alerts = {a};
  n.group_key = "glmq/queue_depth";
  return n;
}

ChannelConfig Channel(std::string type, std::string url = "https://robot.example/send?token=t") {
  ChannelConfig c;
  c.name = "ops";
  c.type = type;
  c.url = std::move(url);
  return c;
}

ChannelConfig Email() {
  ChannelConfig c;
  c.name = "mail";
  c.type = "email";
  c.smtp_url = "smtp://mail.example:587";
  c.from = "glmq <alerts@example.com>";
  c.to = {"oncall@example.com", "Lead <lead@example.com>"};
  return c;
}

struct Fakes {
  std::shared_ptr<FakeHttpTransport> http = std::make_shared<FakeHttpTransport>();
  std::shared_ptr<FakeMailTransport> mail = std::make_shared<FakeMailTransport>();
  NotifierDeps deps() const {
    return {http, mail, [] { return kWallClock; }};
  }
};

std::unique_ptr<Notifier> Make(const ChannelConfig& c, const Fakes& f) {
  auto n = MakeNotifier(c, f.deps());
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return n.ok() ? std::move(n).value() : nullptr;
}

std::string Error(ChannelConfig c) {
  Status s = ValidateChannelConfig(c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.name << " " << c.type;
  return s.message();
}

TEST(NotifierConfigTest, AcceptsEveryTypeWithItsFields) {
  for (std::string type : {"webhook", "slack", "dingtalk", "wecom", "feishu"}) {
    EXPECT_TRUE(ValidateChannelConfig(Channel(type)).ok()) << type;
  }
  ChannelConfig log;
  log.name = "log";
  log.type = "log";
  EXPECT_TRUE(ValidateChannelConfig(log).ok());
  EXPECT_TRUE(ValidateChannelConfig(Email()).ok());
  ChannelConfig signed_ding = Channel("dingtalk");
  signed_ding.secret = "SEC123";
  EXPECT_TRUE(ValidateChannelConfig(signed_ding).ok());
}

TEST(NotifierConfigTest, ErrorsNameTheChannelAndTheField) {
  ChannelConfig c = Channel("slack");
  c.name = "";
  EXPECT_EQ(Error(c), "alert channel of type \"slack\": name is required");
  EXPECT_EQ(Error(Channel("pager")),
            "alert channel \"ops\": type \"pager\" is not one of log, webhook, slack, dingtalk, "
            "wecom, feishu, email");
  EXPECT_EQ(Error(Channel("dingtalk", "")),
            "alert channel \"ops\": url is required for type dingtalk");
  EXPECT_EQ(Error(Channel("webhook", "ftp://x")),
            "alert channel \"ops\": url must start with http:// or https://");
  c = Channel("wecom");
  c.secret = "s";
  EXPECT_NE(Error(c).find("secret does not apply to type wecom"), std::string::npos);
  c = Channel("feishu");
  c.timeout_seconds = 0;
  EXPECT_NE(Error(c).find("timeout_seconds"), std::string::npos);
  c = Channel("webhook");
  c.smtp_url = "smtp://x";
  EXPECT_NE(Error(c).find("smtp_url applies to type email only"), std::string::npos);
  c = Channel("slack");
  c.rate_limits = std::vector<RateLimit>{{0, 60}};
  EXPECT_NE(Error(c).find("rate_limits"), std::string::npos);

  c = Email();
  c.smtp_url = "";
  EXPECT_EQ(Error(c), "alert channel \"mail\": smtp_url is required for type email");
  c = Email();
  c.smtp_url = "http://mail.example";
  EXPECT_NE(Error(c).find("smtp_url must start with smtp:// or smtps://"), std::string::npos);
  c = Email();
  c.from = "";
  EXPECT_EQ(Error(c), "alert channel \"mail\": from is required for type email");
  c = Email();
  c.to.clear();
  EXPECT_EQ(Error(c), "alert channel \"mail\": to needs at least one address");
  c = Email();
  c.to.push_back("not-an-address");
  EXPECT_EQ(Error(c), "alert channel \"mail\": to \"not-an-address\" is not an address");
  c = Email();
  c.from = "a@b.c\r\nBcc: x@y.z";
  EXPECT_NE(Error(c).find("is not an address"), std::string::npos);
  c = Email();
  c.password = "p";
  EXPECT_EQ(Error(c), "alert channel \"mail\": password is set but username is not");
  c = Email();
  c.url = "https://x";
  EXPECT_EQ(Error(c), "alert channel \"mail\": url does not apply to type email");
  EXPECT_FALSE(MakeNotifier(c).ok());
}

TEST(NotifierTest, WebhookPostsTheAlertmanagerPayload) {
  Fakes f;
  ChannelConfig c = Channel("webhook", "http://hooks.example/alerts");
  c.secret = "tok";
  c.timeout_seconds = 3;
  auto notifier = Make(c, f);
  EXPECT_EQ(notifier->name(), "ops");
  EXPECT_EQ(notifier->type(), "webhook");
  ASSERT_TRUE(notifier->Send(OneFiring()).ok());
  auto requests = f.http->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url, "http://hooks.example/alerts");
  EXPECT_EQ(requests[0].timeout_seconds, 3);
  EXPECT_EQ(requests[0].headers,
            (std::vector<std::string>{"Content-Type: application/json; charset=utf-8",
                                      "Authorization: Bearer tok"}));
  nlohmann::json body = nlohmann::json::parse(requests[0].body);
  EXPECT_EQ(body["version"], "4");
  EXPECT_EQ(body["receiver"], "ops");
  EXPECT_EQ(body["alerts"][0]["labels"]["class"], "long");
}

TEST(NotifierTest, DingTalkSignsTheUrlWithTheWallClock) {
  Fakes f;
  ChannelConfig c = Channel("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=t");
  c.secret = "this is secret";
  ASSERT_TRUE(Make(c, f)->Send(OneFiring()).ok());
  auto requests = f.http->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url,
            "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1599360473000"
            "&sign=hXZTWifRGHclNuZSKxoXc%2F%2Fsh51SWfVfRIhcdeKs63I%3D");
  EXPECT_EQ(nlohmann::json::parse(requests[0].body)["msgtype"], "markdown");
}

TEST(NotifierTest, RobotsReportErrorsInA200Body) {
  Fakes f;
  auto ding = Make(Channel("dingtalk"), f);
  f.http->Script(HttpPostResponse{200, R"({"errcode":310000,"errmsg":"keywords not in content"})"});
  Status s = ding->Send(OneFiring());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("alert channel \"ops\" (dingtalk)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("errcode 310000"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("keywords not in content"), std::string::npos);

  auto feishu = Make(Channel("feishu"), f);
  f.http->Script(HttpPostResponse{200, R"({"code":19021,"msg":"sign match fail"})"});
  EXPECT_NE(feishu->Send(OneFiring()).message().find("code 19021"), std::string::npos);
  f.http->Script(HttpPostResponse{200, R"({"StatusCode":0,"StatusMessage":"success"})"});
  EXPECT_TRUE(feishu->Send(OneFiring()).ok());
  f.http->Script(HttpPostResponse{200, "<html>proxy</html>"});
  EXPECT_FALSE(feishu->Send(OneFiring()).ok());

  auto wecom = Make(Channel("wecom"), f);
  f.http->Script(HttpPostResponse{200, R"({"errcode":45009,"errmsg":"api freq out of limit"})"});
  EXPECT_NE(wecom->Send(OneFiring()).message().find("45009"), std::string::npos);
  EXPECT_TRUE(wecom->Send(OneFiring()).ok());
  // Slack answers plain "ok".
  f.http->Script(HttpPostResponse{200, "ok"});
  EXPECT_TRUE(Make(Channel("slack"), f)->Send(OneFiring()).ok());
}

TEST(NotifierTest, NonSuccessStatusIsAnErrorQuotingTheBody) {
  Fakes f;
  auto slack = Make(Channel("slack"), f);
  f.http->Script(HttpPostResponse{503, "upstream down " + std::string(500, 'x')});
  Status s = slack->Send(OneFiring());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("HTTP 503: upstream down"), std::string::npos) << s.message();
  EXPECT_LT(s.message().size(), 300u);
  f.http->Script(HttpPostResponse{404, "no_service"});
  EXPECT_EQ(slack->Send(OneFiring()).code(), StatusCode::kInvalidArgument);
  f.http->Script(HttpPostResponse{429, "rate_limited"});
  EXPECT_EQ(slack->Send(OneFiring()).code(), StatusCode::kUnavailable);
  f.http->Script(Status(StatusCode::kDeadlineExceeded, "POST https://robot.example/...: timeout"));
  s = slack->Send(OneFiring());
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("alert channel \"ops\" (slack): POST"), std::string::npos);
}

TEST(NotifierTest, FeishuBodyIsSigned) {
  Fakes f;
  ChannelConfig c = Channel("feishu");
  c.secret = "this is secret";
  ASSERT_TRUE(Make(c, f)->Send(OneFiring()).ok());
  nlohmann::json body = nlohmann::json::parse(f.http->requests()[0].body);
  EXPECT_EQ(body["timestamp"], "1599360473");
  EXPECT_EQ(body["sign"], "/eYKrXQBzTjUZJ3s6NX16VxGbTwmK7AEs8/FnvC1CSw=");
}

TEST(NotifierTest, EmailGoesToTheMailTransport) {
  Fakes f;
  ChannelConfig c = Email();
  c.username = "u";
  c.password = "p";
  ASSERT_TRUE(Make(c, f)->Send(OneFiring()).ok());
  auto mails = f.mail->requests();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].smtp_url, "smtp://mail.example:587");
  EXPECT_EQ(mails[0].mail_from, "alerts@example.com");
  EXPECT_EQ(mails[0].recipients,
            (std::vector<std::string>{"oncall@example.com", "lead@example.com"}));
  EXPECT_TRUE(mails[0].require_tls);
  EXPECT_EQ(mails[0].username, "u");
  const std::string& m = mails[0].message;
  EXPECT_NE(m.find("Subject: [FIRING:1] glmq queue_depth (critical)\r\n"), std::string::npos);
  EXPECT_NE(m.find("Date: Sun, 06 Sep 2020 02:47:53 +0000\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("Message-ID: <1599360473000."), std::string::npos);
  EXPECT_NE(m.find("@example.com>\r\n"), std::string::npos);
}

TEST(NotifierTest, LogWritesAndSucceeds) {
  ChannelConfig c;
  c.name = "log";
  c.type = "log";
  auto n = MakeNotifier(c);
  ASSERT_TRUE(n.ok());
  Notification resolved = OneFiring();
  resolved.alerts[0].firing = false;
  EXPECT_TRUE((*n)->Send(OneFiring()).ok());
  EXPECT_TRUE((*n)->Send(resolved).ok());
}

// A server on 127.0.0.1 that serves one connection at a time on its own thread: `handler`
// gets the connected socket.
class LocalServer {
 public:
  explicit LocalServer(std::function<void(int fd)> handler) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 4), 0);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, handler = std::move(handler)] {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 10000) != 1) return;  // the client never came: the test fails on its own
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      handler(fd);
      close(fd);
    });
  }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;
  ~LocalServer() {
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Reads until `done` says the bytes so far are complete, the peer closes, or 10 s pass.
std::string ReadUntil(int fd, const std::function<bool(const std::string&)>& done) {
  std::string data;
  char buf[4096];
  while (!done(data)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) break;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

bool HttpRequestComplete(const std::string& data) {
  size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  size_t cl = data.find("Content-Length: ");
  size_t length = cl == std::string::npos ? 0 : std::stoul(data.substr(cl + 16));
  return data.size() >= end + 4 + length;
}

TEST(NotifierTest, RealCurlPostReachesALocalServer) {
  std::string received;
  std::string answer = R"({"errcode":0,"errmsg":"ok"})";
  auto server = std::make_unique<LocalServer>([&](int fd) {
    received = ReadUntil(fd, HttpRequestComplete);
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(answer.size()) + "\r\nConnection: close\r\n\r\n" + answer);
  });
  ChannelConfig c = Channel("wecom", "http://127.0.0.1:" + std::to_string(server->port()) +
                                         "/cgi-bin/webhook/send?key=abc");
  auto notifier = MakeNotifier(c);  // the real libcurl transport
  ASSERT_TRUE(notifier.ok()) << notifier.status().ToString();
  Status s = (*notifier)->Send(OneFiring());
  server.reset();  // joins: `received` is complete
  ASSERT_TRUE(s.ok()) << s.ToString();

  EXPECT_EQ(received.rfind("POST /cgi-bin/webhook/send?key=abc HTTP/1.1\r\n", 0), 0u) << received;
  EXPECT_NE(received.find("Content-Type: application/json; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(received.find("User-Agent: glmq-alert\r\n"), std::string::npos);
  EXPECT_EQ(received.find("Expect:"), std::string::npos);
  std::string body = received.substr(received.find("\r\n\r\n") + 4);
  EXPECT_NE(received.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
  nlohmann::json j = nlohmann::json::parse(body);
  EXPECT_EQ(j["msgtype"], "markdown");
  EXPECT_EQ(j["markdown"]["content"], NotificationText(OneFiring(), TextStyle::kMarkdown));
}

TEST(NotifierTest, RealCurlReportsStatusAndBodyOfAFailure) {
  auto server = std::make_unique<LocalServer>([](int fd) {
    ReadUntil(fd, HttpRequestComplete);
    WriteAll(fd,
             "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
             "exploded!");
  });
  auto notifier = MakeNotifier(
      Channel("webhook", "http://127.0.0.1:" + std::to_string(server->port()) + "/hook"));
  ASSERT_TRUE(notifier.ok());
  Status s = (*notifier)->Send(OneFiring());
  server.reset();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("HTTP 500: exploded!"), std::string::npos) << s.message();
}

TEST(NotifierTest, RealCurlConnectionRefusedKeepsTheTokenOutOfTheError) {
  // Bind a port, then close it, so nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  ChannelConfig c = Channel("slack", "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) +
                                         "/services/T000/B000/SECRETTOKEN");
  c.timeout_seconds = 2;
  auto notifier = MakeNotifier(c);
  ASSERT_TRUE(notifier.ok());
  Status s = (*notifier)->Send(OneFiring());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(s.message().find("SECRETTOKEN"), std::string::npos) << s.message();
}

TEST(NotifierTest, RealCurlSmtpDeliversToALocalServer) {
  std::string mail_from, data;
  std::vector<std::string> rcpt;
  auto server = std::make_unique<LocalServer>([&](int fd) {
    WriteAll(fd, "220 localhost ESMTP test\r\n");
    std::string pending;
    bool in_data = false;
    while (true) {
      std::string chunk = ReadUntil(fd, [&](const std::string& d) {
        return in_data ? (pending + d).find("\r\n.\r\n") != std::string::npos
                       : (pending + d).find("\r\n") != std::string::npos;
      });
      if (chunk.empty()) return;
      pending += chunk;
      while (true) {
        if (in_data) {
          size_t end = pending.find("\r\n.\r\n");
          if (end == std::string::npos) break;
          data = pending.substr(0, end + 2);
          pending.erase(0, end + 5);
          in_data = false;
          WriteAll(fd, "250 queued\r\n");
          continue;
        }
        size_t eol = pending.find("\r\n");
        if (eol == std::string::npos) break;
        std::string line = pending.substr(0, eol);
        pending.erase(0, eol + 2);
        if (line.rfind("EHLO", 0) == 0) {
          WriteAll(fd, "250-localhost\r\n250 8BITMIME\r\n");
        } else if (line.rfind("MAIL FROM:", 0) == 0) {
          mail_from = line.substr(10);
          WriteAll(fd, "250 ok\r\n");
        } else if (line.rfind("RCPT TO:", 0) == 0) {
          rcpt.push_back(line.substr(8));
          WriteAll(fd, "250 ok\r\n");
        } else if (line == "DATA") {
          in_data = true;
          WriteAll(fd, "354 go ahead\r\n");
        } else if (line == "QUIT") {
          WriteAll(fd, "221 bye\r\n");
          return;
        } else {
          WriteAll(fd, "502 not implemented\r\n");
        }
      }
    }
  });
  ChannelConfig c = Email();
  c.smtp_url = "smtp://127.0.0.1:" + std::to_string(server->port());
  c.starttls = false;
  auto notifier = MakeNotifier(c);
  ASSERT_TRUE(notifier.ok());
  Status s = (*notifier)->Send(OneFiring());
  server.reset();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(mail_from.substr(0, 20), "<alerts@example.com>");
  EXPECT_EQ(rcpt, (std::vector<std::string>{"<oncall@example.com>", "<lead@example.com>"}));
  EXPECT_NE(data.find("Subject: [FIRING:1] glmq queue_depth (critical)\r\n"), std::string::npos)
      << data;
  EXPECT_NE(data.find("127 jobs queued"), std::string::npos);
}

}  // namespace
}  // namespace glmq
