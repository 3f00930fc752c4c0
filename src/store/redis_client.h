// A small Redis client over hiredis (blocking API, RESP2): a URL parser, a connection, a
// thread-safe pool of connections, and a subscriber thread for one pub/sub channel.
//
// The Redis stores use it (RedisJobStore, RedisFileStore, RedisBatchStore); nothing outside
// this client sees hiredis.
//
// Errors: a failed Status means the connection broke (refused, reset, timed out) or the
// pool could not lend one in time, always kUnavailable. An error *reply* (e.g. "-LOADING",
// or one a script raised) is a Reply of type kError, for the caller to interpret.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"

struct redisContext;

namespace glmq::redis {

// Decimal text of an integer, as commands and scripts take their arguments.
inline std::string Str(int64_t v) { return std::to_string(v); }

// a + b clamped to int64's range: expiries computed from caller-given durations.
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return out;
}

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username;  // Redis 6 ACL user; empty: the default user
  std::string password;  // empty: no AUTH
  int db = 0;

  // redis://[[user]:password@]host[:port][/db]; user and password may be %-encoded.
  static Result<Endpoint> Parse(std::string_view url);
  // host:port/db, never the password: for logs and error messages.
  std::string Describe() const;
};

// A reply, copied out of hiredis's reply tree.
struct Reply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // kString, kStatus, kError
  std::vector<Reply> elements;

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  bool is_array() const { return type == Type::kArray; }
};

// One command: its words, sent binary-safe (a 10 MB document is one word).
using Args = std::vector<std::string_view>;

// One connection. Not thread-safe.
class Connection {
 public:
  // Connects, authenticates and selects the database, each step bounded by
  // `timeout_seconds`, which also bounds every later read and write.
  static Result<std::unique_ptr<Connection>> Open(const Endpoint& endpoint, double timeout_seconds);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result<Reply> Command(const Args& args);
  // Several commands in one round trip; replies in order.
  Result<std::vector<Reply>> Pipeline(const std::vector<Args>& commands);

  // For pub/sub: writes a command without reading, and reads one pushed message, waiting at
  // most `wait_ms` (nullopt when none came, or when `wake_fd`, if >= 0, became readable).
  Status Send(const Args& args);
  Result<std::optional<Reply>> Receive(int wait_ms, int wake_fd = -1);

  // True once an I/O or protocol error left the connection unusable.
  bool broken() const { return broken_; }
  std::chrono::steady_clock::time_point last_used() const { return last_used_; }

 private:
  explicit Connection(redisContext* ctx) : ctx_(ctx) {}
  Status Failure(std::string_view what);
  // Queues one command in hiredis's output buffer (nothing is written yet).
  Status Append(const Args& args);

  redisContext* ctx_;
  bool broken_ = false;
  std::chrono::steady_clock::time_point last_used_ = std::chrono::steady_clock::now();
};

// Whether a command may be sent again on a fresh connection after the first one broke
// without an answer. Only for commands whose second run does what the first would have:
// reads, and writes that set rather than add.
enum class Retry { kNo, kOnce };

// A fixed-size pool of connections, opened lazily and replaced when they break. Any thread
// may call any method; a caller holds a connection for one command or pipeline.
class Pool {
 public:
  Pool(Endpoint endpoint, int size, double timeout_seconds);
  // A pool for the redis:// `url` (Endpoint::Parse); connects on first use.
  static Result<std::unique_ptr<Pool>> ForUrl(std::string_view url, int size,
                                              double timeout_seconds);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Result<Reply> Command(const Args& args, Retry retry);
  Result<std::vector<Reply>> Pipeline(const std::vector<Args>& commands, Retry retry);

  // Runs a Lua script by its SHA1 (EVALSHA), sending the source (EVAL) when Redis has
  // forgotten it: after a restart or SCRIPT FLUSH. No keys are declared (see redis_store.h).
  Result<Reply> Eval(const std::string& sha, std::string_view source, const Args& args,
                     Retry retry);

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  Result<std::unique_ptr<Connection>> Acquire();
  void Return(std::unique_ptr<Connection> connection);
  // Runs `fn` on a pooled connection; on a broken connection, once more on a fresh one
  // when `retry` allows.
  template <typename T, typename Fn>
  Result<T> WithConnection(Retry retry, Fn&& fn);

  const Endpoint endpoint_;
  const int size_;
  const double timeout_seconds_;

  std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  int lent_ = 0;                                   // guarded by mu_; connections out now
};

// An error reply as a Status: a script's refusal "GLMQ_NOTFOUND|CONFLICT|INVALID message" as
// that code; a Redis that cannot take writes now (LOADING, READONLY, MISCONF, ...) as
// kUnavailable; maxmemory reached (OOM) as kStorageFull; anything else kInternal.
Status ErrorReplyStatus(const std::string& error);

// Loads a Lua script (SCRIPT LOAD); returns the SHA1 Pool::Eval runs it by.
Result<std::string> LoadScript(Pool& pool, std::string_view source);

// Listens on one channel from its own thread and connection, and calls `on_message` with
// each message's payload. When the connection breaks (Redis restarted), it reconnects and
// subscribes again with a growing backoff (up to 1 s); messages published meanwhile are
// lost, as pub/sub always loses them.
class Subscriber {
 public:
  using Callback = std::function<void(std::string_view payload)>;

  Subscriber(Endpoint endpoint, std::string channel, double timeout_seconds, Callback on_message);
  // Stops the thread.
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Starts the thread and waits until the first subscription is confirmed, so nothing
  // published after Start returns is missed; kUnavailable if it is not within the timeout.
  Status Start();

  // How many times the subscription was (re)established; for tests.
  int64_t subscriptions() const { return subscriptions_.load(); }

 private:
  void Loop();
  // Subscribes and reads until the connection breaks or Stop.
  void Session();

  const Endpoint endpoint_;
  const std::string channel_;
  const double timeout_seconds_;
  const Callback on_message_;

  std::atomic<bool> stopping_{false};
  int wake_fd_ = -1;  // an eventfd the destructor signals, so the thread stops at once
  std::atomic<int64_t> subscriptions_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::string last_error_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace glmq::redis
