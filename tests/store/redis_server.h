// RedisServer: a real `redis-server` for tests, on a free localhost port, with its own
// temporary data directory (removed when the object goes).
//
// The defaults make a durable-enough, quiet server: AOF on with `appendfsync everysec`, no
// RDB snapshots, no protected mode, logs in the data directory. Arguments given to Start
// come after the defaults and win (`{"--appendonly", "no", "--save", ""}` makes it
// volatile). Restart keeps the port, the directory and the arguments, so what the server
// wrote to disk is loaded again.
//
// The server gets SIGKILL if the thread that started it exits (PR_SET_PDEATHSIG), so a
// crashed test leaves no server behind; start it from the test's own thread.
//
// Not thread-safe: one thread drives a RedisServer.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace glmq {

class RedisServer {
 public:
  // Path of redis-server on $PATH (or $GLMQ_REDIS_SERVER), "" when it is not installed.
  static std::string FindBinary();

  RedisServer();
  ~RedisServer();  // kills the server (SIGKILL) and removes the directory
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts the server and waits (up to 20 s) until it answers PING, data loaded. The first
  // call picks a free port; later calls reuse it. False with last_error() set on failure
  // (no binary, no port, the server exited: its log tail is in the message).
  bool Start(std::vector<std::string> extra_args = {});

  // Sends `signal` and, unless it is SIGSTOP or SIGCONT, waits (up to 20 s) for the process
  // to end. Returns the raw wait status (>= 0), or -1 when no server runs or it would not
  // end.
  int Kill(int signal);
  // SIGTERM: a clean shutdown, which with AOF on flushes the file.
  int Stop();

  // Starts again on the same port, directory and arguments. A running server is killed
  // with SIGKILL first.
  bool Restart();

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  // redis://127.0.0.1:PORT
  std::string url() const;
  const std::string& dir() const { return dir_; }
  const std::string& last_error() const { return last_error_; }
  // The last `max_bytes` of the server's log file.
  std::string LogTail(size_t max_bytes = 4000) const;

  // Sends one inline command (e.g. "CONFIG SET appendonly no") and returns the first line
  // of the reply ("+OK", "-ERR ...", ":1"), or "" when the server cannot be reached.
  // Enough for test setup; use a real client for anything else.
  std::string Command(const std::string& inline_command) const;

 private:
  bool Launch();
  bool WaitReady();

  std::string binary_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::vector<std::string> args_;
  std::string last_error_;
};

// One redis-server for the tests of a suite (the contract tests of a store on Redis): the
// first test to ask starts it, the suite's TearDownTestSuite stops it, and each test keys
// its data under a prefix of its own. A test checks RedisServer::FindBinary() first, to
// skip where redis-server is not installed.
class SuiteRedisServer {
 public:
  // The running server; nullptr with `why` set when it could not start.
  RedisServer* Get(std::string* why);
  // `name`, a number no earlier call gave, and ':'.
  std::string NextPrefix(const std::string& name);
  void Stop() { server_.reset(); }

 private:
  std::unique_ptr<RedisServer> server_;
  int prefixes_ = 0;
};

}  // namespace glmq
