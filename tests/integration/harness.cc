// The integration tests' harness (harness.h). About 500 lines: the server process, the
// libcurl client and the waits on a job are one small toolbox, read together.
#include "integration/harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <thread>

namespace glmq::integration {
namespace {

constexpr auto kStartTimeout = seconds(30);
constexpr auto kExitTimeout = seconds(30);
constexpr int kStartAttempts = 3;

void EnsureCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t AppendHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  // A new status line (after "100 Continue") starts a new set of headers.
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string value = line.substr(colon + 1);
  const size_t first = value.find_first_not_of(" \t");
  const size_t last = value.find_last_not_of(" \t\r\n");
  value = first == std::string::npos ? "" : value.substr(first, last - first + 1);
  (*headers)[name] = value;
  return size * n;
}

// Removes the model's directory when the test binary exits.
class ModelDir {
 public:
  ModelDir() : dir_(ScratchDir("glmq-it-model")), path_(dir_ + "/test-model.gguf") {
    const std::string command = "'" + GlmqBin() + "' make-test-model --out '" + path_ + "' > '" +
                                dir_ + "/make-test-model.log' 2>&1";
    if (std::system(command.c_str()) != 0 || !std::filesystem::exists(path_)) {
      std::cerr << "harness: `" << command << "` failed\n";
    }
  }
  ~ModelDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace

std::string GlmqBin() {
  const char* env = std::getenv("GLMQ_BIN");
  return env != nullptr && *env != '\0' ? env : "/work/main/build/glmq";
}

const std::string& TestModelPath() {
  static ModelDir model;
  return model.path();
}

std::string HttpResult::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpResult::Describe() const {
  std::string out = "HTTP " + std::to_string(status);
  if (!error.empty()) out += " (" + error + ")";
  out += ": " + (body.size() > 2000 ? body.substr(0, 2000) + "..." : body);
  return out;
}

HttpResult HttpClient::Get(const std::string& path, seconds timeout) const {
  return Request("GET", path, std::nullopt, timeout);
}

HttpResult HttpClient::Post(const std::string& path, const std::string& body,
                            seconds timeout) const {
  return Request("POST", path, body, timeout);
}

HttpResult HttpClient::Delete(const std::string& path, seconds timeout) const {
  return Request("DELETE", path, std::nullopt, timeout);
}

HttpResult HttpClient::Request(const std::string& method, const std::string& path,
                               const std::optional<std::string>& body, seconds timeout) const {
  return Send(method, path, body, {}, timeout);
}

HttpResult HttpClient::Request(const std::string& method, const std::string& path,
                               const std::string& body,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               seconds timeout) const {
  return Send(method, path, body, headers, timeout);
}

HttpResult HttpClient::Send(const std::string& method, const std::string& path,
                            const std::optional<std::string>& body,
                            const std::vector<std::pair<std::string, std::string>>& extra,
                            seconds timeout) const {
  EnsureCurl();
  HttpResult result;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    result.error = "curl_easy_init failed";
    return result;
  }
  const std::string url = base_url_ + path;
  curl_slist* headers = nullptr;
  if (body) headers = curl_slist_append(headers, "Content-Type: application/json");
  for (const auto& [name, value] : default_headers_) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  for (const auto& [name, value] : extra) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count() * 1000));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  if (headers != nullptr) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  } else {
    // A response may still have arrived (a server that answers, then closes early).
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
    result.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  result.body_json = json::parse(result.body, nullptr, /*allow_exceptions=*/false);
  result.is_json = !result.body_json.is_discarded();
  if (!result.is_json) result.body_json = nullptr;
  return result;
}

Server::Server(std::vector<std::string> extra_flags) : Server("serve", std::move(extra_flags)) {}

Server::Server(std::string subcommand, std::vector<std::string> extra_flags)
    : subcommand_(std::move(subcommand)), extra_flags_(std::move(extra_flags)) {
  root_ = ScratchDir("glmq-it");
  data_dir_ = root_ + "/data";
  log_path_ = root_ + "/" + subcommand_ + ".log";
}

Server::~Server() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- glmq server log (" << log_path_ << "), last lines ----\n"
              << LogTail() << "---- end of server log; files kept in " << root_ << " ----\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::string Server::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string Server::LogTail(size_t max_lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(std::move(line));
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

bool Server::LogsListening() const {
  std::ifstream in(log_path_);
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string banner =
      "==== harness: starting glmq " + subcommand_ + " on port " + std::to_string(port_) + " ====";
  const size_t start = log.rfind(banner);
  if (start == std::string::npos) return false;
  // serve, gateway and worker each log their URL once they listen.
  const std::string url = "http://127.0.0.1:" + std::to_string(port_);
  for (size_t at = log.find(url, start); at != std::string::npos; at = log.find(url, at + 1)) {
    const size_t after = at + url.size();
    if (after == log.size() || !std::isdigit(static_cast<unsigned char>(log[after]))) return true;
  }
  return false;
}

bool Server::ReapIfExited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return true;
  }
  return false;
}

bool Server::Start() {
  start_error_.clear();
  if (pid_ > 0) {
    start_error_ = "already running";
    return false;
  }
  if (root_.empty() || TestModelPath().empty() || !std::filesystem::exists(TestModelPath())) {
    start_error_ = "no temp dir or no test model";
    return false;
  }
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    std::string why;
    if (StartOnce(why)) return true;
    start_error_ += why + "; ";
    // Another process may have taken the port between FreePort() and the bind: try again.
    if (why.find("cannot listen") == std::string::npos) break;
  }
  start_error_ += "log tail:\n" + LogTail();
  return false;
}

bool Server::StartOnce(std::string& why) {
  port_ = FreePort();
  if (port_ == 0) {
    why = "no free port";
    return false;
  }
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    why = "cannot open " + log_path_;
    return false;
  }
  const std::string banner = "==== harness: starting glmq " + subcommand_ + " on port " +
                             std::to_string(port_) + " ====\n";
  (void)!::write(log_fd, banner.data(), banner.size());

  std::vector<std::string> args = {GlmqBin(), subcommand_, "--model", TestModelPath(),
                                   "--host",  "127.0.0.1", "--port",  std::to_string(port_)};
  if (subcommand_ == "serve") {
    args.push_back("--data-dir");
    args.push_back(data_dir_);
  }
  args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    why = std::string("fork failed: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // Die with the test binary, even when it is killed (a CTest timeout).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;

  const HttpClient http(base_url());
  const auto deadline = Clock::now() + kStartTimeout;
  while (Clock::now() < deadline) {
    if (ReapIfExited()) {
      const std::string tail = LogTail(5);
      why = "glmq " + subcommand_ + " exited before it was healthy" +
            std::string(tail.find("cannot listen") != std::string::npos ? " (cannot listen)" : "");
      return false;
    }
    // Healthy, and the one answering is ours: under parallel tests another process may
    // have been given the same free port and answer on it while ours has yet to try it.
    if (http.Get("/healthz", seconds(2)).status == 200 && LogsListening()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  why = "not healthy within 30 s";
  Kill(SIGKILL);
  return false;
}

int Server::Kill(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  const auto deadline = Clock::now() + kExitTimeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

bool PollUntil(const std::function<bool()>& condition, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

bool IsTerminalState(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" || state == "expired";
}

json WaitForJob(const Server& server, const std::string& id,
                const std::function<bool(const json&)>& done, milliseconds timeout) {
  json last = nullptr;
  PollUntil(
      [&] {
        HttpResult r = server.Get("/v1/jobs/" + id);
        if (r.status != 200 || !r.is_json) return false;
        last = r.body_json;
        return done(last);
      },
      timeout);
  return last;
}

json WaitForTerminal(const Server& server, const std::string& id, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  json last = nullptr;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return last;
    const double wait_s = std::min<double>(left.count() / 1000.0, 30.0);
    char wait[32];
    std::snprintf(wait, sizeof(wait), "%.3f", std::max(wait_s, 0.001));
    HttpResult r = server.client().Get("/v1/jobs/" + id + "?wait=" + wait, seconds(45));
    if (r.status == 200 && r.is_json) {
      last = r.body_json;
      if (IsTerminalState(last.value("state", ""))) return last;
    } else {
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
}

json WaitForState(const Server& server, const std::string& id, const std::string& state,
                  milliseconds timeout) {
  return WaitForJob(
      server, id, [&state](const json& j) { return j.value("state", "") == state; }, timeout);
}

std::string SubmitJob(const Server& server, const json& body, HttpResult* out) {
  HttpResult r = server.Post("/v1/jobs", body);
  std::string id;
  if (r.status == 202 && r.is_json && r.body_json.contains("id") && r.body_json["id"].is_string()) {
    id = r.body_json["id"].get<std::string>();
  }
  if (out != nullptr) *out = std::move(r);
  return id;
}

bool IsErrorBody(const HttpResult& r) {
  if (!r.is_json || !r.body_json.is_object() || r.body_json.size() != 1) return false;
  auto it = r.body_json.find("error");
  if (it == r.body_json.end() || !it->is_object()) return false;
  auto code = it->find("code");
  auto message = it->find("message");
  return code != it->end() && code->is_string() && !code->get<std::string>().empty() &&
         message != it->end() && message->is_string() && !message->get<std::string>().empty();
}

std::string RawExchange(uint16_t port, const std::string& request, milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

std::string FillerText(size_t bytes) {
  static constexpr char kSentence[] = "The quick brown fox jumps over the lazy dog. ";
  std::string out;
  while (out.size() < bytes) out += kSentence;
  out.resize(bytes);
  return out;
}

std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = fread(chunk.data(), 1, chunk.size(), pipe)) > 0) output.append(chunk.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::pair<long, json> UploadForm(const Server& server, const std::string& key,
                                 const std::vector<std::string>& fields) {
  std::string command = "curl -sS -w '\\n%{http_code}' " + server.base_url() + "/v1/files";
  if (!key.empty()) command += " -H 'Authorization: Bearer " + key + "'";
  for (const std::string& f : fields) command += " -F '" + f + "'";
  const auto [code, out] = RunCommand(command);
  const size_t nl = out.rfind('\n');
  if (code != 0 || nl == std::string::npos) return {0, json(out)};
  return {std::stol(out.substr(nl + 1)), json::parse(out.substr(0, nl), nullptr, false)};
}

double MetricSample(const Server& process, const std::string& series) {
  const std::string text = process.Get("/metrics").body;
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace glmq::integration
