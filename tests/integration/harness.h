// Black-box harness for the integration tests: a generated test model, a real `glmq serve`
// process on a free port with its own data directory, and a small libcurl client.
//
// Every wait here is bounded in time; nothing sleeps without a condition to poll.
#pragma once

#include <stdlib.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/free_port.h"
#include "support/scratch_dir.h"

namespace glmq::integration {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The glmq binary: $GLMQ_BIN (set by CTest), else the default build output.
std::string GlmqBin();

// The test model, generated once per test binary by `glmq make-test-model` into a temp
// directory that is removed at exit.
const std::string& TestModelPath();

struct HttpResult {
  long status = 0;    // 0 when no response came (connection refused, timeout)
  std::string error;  // libcurl's message when status is 0
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  json body_json;  // the parsed body, or null when it is not JSON
  bool is_json = false;

  std::string Header(const std::string& lower_name) const;
  // For assertion messages.
  std::string Describe() const;
};

// One libcurl easy handle per request: simple, and safe to use from several threads.
class HttpClient {
 public:
  explicit HttpClient(std::string base_url) : base_url_(std::move(base_url)) {}

  HttpResult Get(const std::string& path, seconds timeout = seconds(60)) const;
  HttpResult Post(const std::string& path, const std::string& body,
                  seconds timeout = seconds(60)) const;
  HttpResult Post(const std::string& path, const json& body, seconds timeout = seconds(60)) const {
    return Post(path, body.dump(), timeout);
  }
  HttpResult Delete(const std::string& path, seconds timeout = seconds(60)) const;
  HttpResult Request(const std::string& method, const std::string& path,
                     const std::optional<std::string>& body, seconds timeout) const;
  // With extra request headers (name, value).
  HttpResult Request(const std::string& method, const std::string& path, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     seconds timeout = seconds(60)) const;

  const std::string& base_url() const { return base_url_; }
  // A header every request of this client sends (e.g. Authorization).
  void SetHeader(std::string name, std::string value) {
    default_headers_.emplace_back(std::move(name), std::move(value));
  }

 private:
  HttpResult Send(const std::string& method, const std::string& path,
                  const std::optional<std::string>& body,
                  const std::vector<std::pair<std::string, std::string>>& headers,
                  seconds timeout) const;

  std::string base_url_;
  std::vector<std::pair<std::string, std::string>> default_headers_;
};

// A `glmq serve` child process. Output goes to `<root>/server.log`; on a failed test the
// destructor prints its tail. The process is SIGKILLed in the destructor if still running.
class Server {
 public:
  // `extra_flags` are appended to `glmq serve --model ... --host ... --port ... --data-dir ...`.
  explicit Server(std::vector<std::string> extra_flags = {});
  // `glmq <subcommand> --model ... --host ... --port ...` + `extra_flags`: a gateway or a
  // worker (its port serves /healthz and /metrics).
  Server(std::string subcommand, std::vector<std::string> extra_flags);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the process and waits (up to 30 s) for GET /healthz == 200. Returns false, with a
  // reason in `start_error()`, when it does not come up.
  bool Start();
  // Sends `signal` and waits (bounded) for the process to exit. Returns its wait status, or
  // -1 if it was not running or had to be SIGKILLed after the grace period.
  int Kill(int signal);
  // Starts again on the same data directory (on a new free port).
  bool Restart() { return Start(); }

  bool running() const { return pid_ > 0; }
  // Whether the process still runs (reaps it if it exited).
  bool Alive() { return !ReapIfExited(); }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& start_error() const { return start_error_; }
  std::string base_url() const;
  HttpClient client() const { return HttpClient(base_url()); }
  std::string LogTail(size_t max_lines = 40) const;

  HttpResult Get(const std::string& path) const { return client().Get(path); }
  HttpResult Post(const std::string& path, const json& body) const {
    return client().Post(path, body);
  }
  HttpResult PostRaw(const std::string& path, const std::string& body) const {
    return client().Post(path, body);
  }
  HttpResult Delete(const std::string& path) const { return client().Delete(path); }

 private:
  bool StartOnce(std::string& why);
  // Whether this attempt's log says the process listens on port_.
  bool LogsListening() const;
  bool ReapIfExited();

  std::string subcommand_ = "serve";
  std::vector<std::string> extra_flags_;
  std::string root_;
  std::string data_dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string start_error_;
};

// Polls GET /v1/jobs/{id} (every 50 ms, or by long-poll where it can) until `done` holds for
// the job's JSON or `timeout` passes. Returns the last JSON seen (null if none).
json WaitForJob(const Server& server, const std::string& id,
                const std::function<bool(const json&)>& done, milliseconds timeout);
// Waits for one of the terminal states, using the server's ?wait= long-poll.
json WaitForTerminal(const Server& server, const std::string& id, milliseconds timeout);
// Waits for the job to be in `state`.
json WaitForState(const Server& server, const std::string& id, const std::string& state,
                  milliseconds timeout);
// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
bool PollUntil(const std::function<bool()>& condition, milliseconds timeout);

bool IsTerminalState(const std::string& state);

// POST /v1/jobs; returns the job id on 202, else empty (and the response in `out`).
std::string SubmitJob(const Server& server, const json& body, HttpResult* out = nullptr);

// Checks the error shape {"error":{"code":<string>,"message":<non-empty string>}}.
bool IsErrorBody(const HttpResult& r);

// Sends `request` on a raw socket and reads whatever comes back until the server closes or
// `timeout` passes. Never sends more than `request`.
std::string RawExchange(uint16_t port, const std::string& request, milliseconds timeout);

// A plain-ASCII text of roughly `bytes` bytes.
std::string FillerText(size_t bytes);

// An environment variable set while this lives (every server started meanwhile inherits
// it: the fault switches, GLMQ_FAULT_*), unset after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// Runs `command` through the shell; returns its exit code and what it printed (stdout and
// stderr).
std::pair<int, std::string> RunCommand(const std::string& command);

// POST /v1/files with curl's -F (multipart/form-data), as the API's users upload: `fields`
// as curl takes them ("purpose=batch", "file=@/path"), with `key` as the bearer key unless
// empty. Returns the status and the parsed body (discarded when it is not JSON).
std::pair<long, json> UploadForm(const Server& server, const std::string& key,
                                 const std::vector<std::string>& fields);
// One sample of a process's /metrics, e.g. `glmq_jobs_submitted_total{class="short"}`; -1
// when the series is missing.
double MetricSample(const Server& process, const std::string& series);

}  // namespace glmq::integration
