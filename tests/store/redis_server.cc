#include "store/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/free_port.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kReadyTimeout = std::chrono::seconds(20);
constexpr auto kExitTimeout = std::chrono::seconds(20);
constexpr int kSocketTimeoutMs = 2000;
constexpr int kPortAttempts = 5;

bool WaitFd(int fd, short events, Clock::time_point deadline) {
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

std::string RedisServer::FindBinary() {
  if (const char* forced = getenv("GLMQ_REDIS_SERVER"); forced && *forced) {
    return access(forced, X_OK) == 0 ? forced : "";
  }
  const char* path = getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/redis-server";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  for (const char* fallback : {"/usr/bin/redis-server", "/usr/sbin/redis-server"}) {
    if (access(fallback, X_OK) == 0) return fallback;
  }
  return "";
}

RedisServer::RedisServer() : binary_(FindBinary()) {
  std::string pattern = (fs::temp_directory_path() / "glmq_redis_XXXXXX").string();
  if (mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
}

RedisServer::~RedisServer() {
  if (pid_ > 0) Kill(SIGKILL);
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

bool RedisServer::Start(std::vector<std::string> extra_args) {
  last_error_.clear();
  if (binary_.empty()) {
    last_error_ = "redis-server is not installed (apt-get install redis-server)";
    return false;
  }
  if (dir_.empty()) {
    last_error_ = "cannot create a temporary directory for redis-server";
    return false;
  }
  if (pid_ > 0) {
    last_error_ = "redis-server is already running on port " + std::to_string(port_);
    return false;
  }
  args_ = std::move(extra_args);
  if (port_ != 0) return Launch() && WaitReady();
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    port_ = FreePort();
    if (port_ == 0) {
      last_error_ = std::string("cannot find a free port: ") + strerror(errno);
      return false;
    }
    if (Launch() && WaitReady()) return true;
    // Most likely someone else bound the port first; try another.
    if (pid_ > 0) Kill(SIGKILL);
  }
  port_ = 0;
  return false;
}

bool RedisServer::Restart() {
  if (pid_ > 0) Kill(SIGKILL);
  last_error_.clear();
  return Launch() && WaitReady();
}

bool RedisServer::Launch() {
  std::vector<std::string> args = {
      binary_,        "--port",    std::to_string(port_),
      "--bind",       "127.0.0.1", "--dir",
      dir_,           "--logfile", "redis.log",
      "--daemonize",  "no",        "--protected-mode",
      "no",           "--save",    "",
      "--appendonly", "yes",       "--appendfsync",
      "everysec",
  };
  args.insert(args.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    last_error_ = std::string("fork: ") + strerror(errno);
    return false;
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      dup2(null_fd, STDIN_FILENO);
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  return true;
}

bool RedisServer::WaitReady() {
  const auto deadline = Clock::now() + kReadyTimeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      last_error_ = "redis-server exited (status " + std::to_string(status) + ") on port " +
                    std::to_string(port_) + ": " + LogTail(1500);
      return false;
    }
    // "-LOADING" while it reads its files; "-NOAUTH" once up with --requirepass.
    const std::string pong = Command("PING");
    if (pong == "+PONG" || pong.rfind("-NOAUTH", 0) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  last_error_ = "redis-server did not answer PING on port " + std::to_string(port_) +
                " within 20 s: " + LogTail(1500);
  Kill(SIGKILL);
  return false;
}

int RedisServer::Kill(int signal) {
  if (pid_ <= 0) return -1;
  if (kill(pid_, signal) != 0) return -1;
  if (signal == SIGSTOP || signal == SIGCONT) return 0;
  const auto deadline = Clock::now() + kExitTimeout;
  while (Clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return r == pid_ ? status : 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

int RedisServer::Stop() { return Kill(SIGTERM); }

std::string RedisServer::LogTail(size_t max_bytes) const {
  std::ifstream in(fs::path(dir_) / "redis.log", std::ios::binary);
  if (!in) return "(no log)";
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

std::string RedisServer::Command(const std::string& inline_command) const {
  if (port_ == 0) return "";
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  const auto deadline = Clock::now() + std::chrono::milliseconds(kSocketTimeoutMs);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  std::string reply;
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  bool connected = rc == 0;
  if (!connected && errno == EINPROGRESS && WaitFd(fd, POLLOUT, deadline)) {
    int err = 0;
    socklen_t len = sizeof(err);
    connected = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  if (connected) {
    const std::string request = inline_command + "\r\n";
    size_t sent = 0;
    while (sent < request.size() && WaitFd(fd, POLLOUT, deadline)) {
      ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0 && errno != EAGAIN && errno != EINTR) break;
      if (n > 0) sent += static_cast<size_t>(n);
    }
    while (sent == request.size() && reply.find("\r\n") == std::string::npos &&
           WaitFd(fd, POLLIN, deadline)) {
      char buf[512];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
      if (n > 0) reply.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t end = reply.find("\r\n");
  return end == std::string::npos ? "" : reply.substr(0, end);
}

RedisServer* SuiteRedisServer::Get(std::string* why) {
  if (!server_) {
    auto server = std::make_unique<RedisServer>();
    if (!server->Start()) {
      *why = server->last_error();
      return nullptr;
    }
    server_ = std::move(server);
  }
  return server_.get();
}

std::string SuiteRedisServer::NextPrefix(const std::string& name) {
  return name + std::to_string(++prefixes_) + ":";
}

}  // namespace glmq
