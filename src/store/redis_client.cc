#include "store/redis_client.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "core/percent.h"

namespace glmq::redis {
namespace {

using Clock = std::chrono::steady_clock;

// A pooled connection idle this long is PINGed before use: after a Redis restart every idle
// connection is dead, and finding out on a PING costs nothing but a round trip, while
// finding out on a write leaves its outcome unknown.
constexpr auto kIdleCheck = std::chrono::seconds(2);
// The subscriber's thread also wakes this often to look at its stop flag, in case the
// eventfd could not be made.
constexpr int kSubscriberPollMs = 100;
constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);

timeval ToTimeval(double seconds) {
  if (seconds <= 0) seconds = 5;
  timeval tv;
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - std::floor(seconds)) * 1e6);
  return tv;
}

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
  }
  return out;
}

Reply TakeReply(void* raw) {
  auto* r = static_cast<redisReply*>(raw);
  Reply out = Convert(r);
  freeReplyObject(r);
  return out;
}

bool ParseInt(std::string_view s, int* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

Status CheckOk(const Result<Reply>& reply, std::string_view what) {
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return Unavailable(std::string(what) + ": " + reply->str);
  return Status::Ok();
}

}  // namespace

// A script's refusal ("GLMQ_<CODE> message") or Redis's own error, as a Status.
Status ErrorReplyStatus(const std::string& error) {
  struct Mapping {
    std::string_view tag;
    StatusCode code;
  };
  static constexpr Mapping kScriptErrors[] = {{"GLMQ_NOTFOUND ", StatusCode::kNotFound},
                                              {"GLMQ_CONFLICT ", StatusCode::kConflict},
                                              {"GLMQ_INVALID ", StatusCode::kInvalidArgument}};
  for (const Mapping& m : kScriptErrors) {
    if (size_t at = error.find(m.tag); at != std::string::npos) {
      std::string message = error.substr(at + m.tag.size());
      // Redis may append where in the script the error came from.
      if (size_t script = message.find(" script:"); script != std::string::npos) {
        message.resize(script);
      }
      return Status(m.code, std::move(message));
    }
  }
  // Redis is up but cannot take the command now: loading its files after a restart, a
  // replica, a failed background save, a script running too long.
  for (std::string_view transient :
       {"LOADING", "READONLY", "MISCONF", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN"}) {
    if (error.rfind(transient, 0) == 0) return Unavailable("redis: " + error);
  }
  // maxmemory reached: the store is full, as a disk can be.
  if (error.rfind("OOM", 0) == 0) return StorageFull("redis: " + error);
  return Internal("redis: " + error);
}

Result<std::unique_ptr<Pool>> Pool::ForUrl(std::string_view url, int size, double timeout_seconds) {
  GLMQ_ASSIGN_OR_RETURN(Endpoint endpoint, Endpoint::Parse(url));
  return std::make_unique<Pool>(std::move(endpoint), size, timeout_seconds);
}

Result<std::string> LoadScript(Pool& pool, std::string_view source) {
  GLMQ_ASSIGN_OR_RETURN(Reply reply, pool.Command({"SCRIPT", "LOAD", source}, Retry::kOnce));
  if (reply.is_error()) return ErrorReplyStatus(reply.str);
  return std::move(reply.str);
}

Result<Endpoint> Endpoint::Parse(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument("redis URL must look like redis://[:password@]host:port[/db], not '" +
                           std::string(url) + "'");
  }
  std::string_view rest = url.substr(kScheme.size());
  Endpoint e;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = userinfo.find(':');
    std::string_view user = colon == std::string_view::npos ? "" : userinfo.substr(0, colon);
    std::string_view password =
        colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1);
    GLMQ_ASSIGN_OR_RETURN(e.username, PercentDecode(user, /*plus_is_space=*/false));
    GLMQ_ASSIGN_OR_RETURN(e.password, PercentDecode(password, /*plus_is_space=*/false));
  }
  std::string_view hostport = rest;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && (!ParseInt(db, &e.db) || e.db < 0)) {
      return InvalidArgument("redis URL: bad database number '" + std::string(db) + "'");
    }
  }
  if (hostport.empty()) return InvalidArgument("redis URL has no host: " + std::string(url));
  size_t colon = hostport.rfind(':');
  if (!hostport.empty() && hostport.front() == '[') {  // [::1]:6379
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return InvalidArgument("redis URL: bad IPv6 host");
    e.host = std::string(hostport.substr(1, close - 1));
    colon = hostport.size() > close + 1 && hostport[close + 1] == ':' ? close + 1
                                                                      : std::string_view::npos;
  } else {
    e.host = std::string(hostport.substr(0, colon));
  }
  if (colon != std::string_view::npos) {
    std::string_view port = hostport.substr(colon + 1);
    if (!ParseInt(port, &e.port) || e.port <= 0 || e.port > 65535) {
      return InvalidArgument("redis URL: bad port '" + std::string(port) + "'");
    }
  }
  if (e.host.empty()) return InvalidArgument("redis URL has no host: " + std::string(url));
  return e;
}

std::string Endpoint::Describe() const {
  return host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

// --- Connection

Result<std::unique_ptr<Connection>> Connection::Open(const Endpoint& endpoint,
                                                     double timeout_seconds) {
  const timeval tv = ToTimeval(timeout_seconds);
  redisContext* ctx = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, tv);
  if (ctx == nullptr) return Unavailable("redis " + endpoint.Describe() + ": out of memory");
  if (ctx->err != 0) {
    std::string message = "redis " + endpoint.Describe() + ": cannot connect: " + ctx->errstr;
    redisFree(ctx);
    return Unavailable(std::move(message));
  }
  redisSetTimeout(ctx, tv);
  redisEnableKeepAlive(ctx);
  std::unique_ptr<Connection> connection(new Connection(ctx));
  if (!endpoint.password.empty()) {
    Args auth = {"AUTH"};
    if (!endpoint.username.empty()) auth.push_back(endpoint.username);
    auth.push_back(endpoint.password);
    GLMQ_RETURN_IF_ERROR(CheckOk(connection->Command(auth), "redis AUTH"));
  }
  if (endpoint.db != 0) {
    const std::string db = std::to_string(endpoint.db);
    GLMQ_RETURN_IF_ERROR(CheckOk(connection->Command({"SELECT", db}), "redis SELECT " + db));
  }
  return connection;
}

Connection::~Connection() { redisFree(ctx_); }

Status Connection::Failure(std::string_view what) {
  broken_ = true;
  return Unavailable("redis: " + std::string(what) + ": " +
                     (ctx_->err != 0 ? std::string(ctx_->errstr) : std::string("connection lost")));
}

Status Connection::Append(const Args& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()) !=
      REDIS_OK) {
    return Failure("cannot queue a command");
  }
  return Status::Ok();
}

Status Connection::Send(const Args& args) {
  if (broken_) return Unavailable("redis: connection is broken");
  GLMQ_RETURN_IF_ERROR(Append(args));
  int done = 0;
  while (!done) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) return Failure("write");
  }
  last_used_ = Clock::now();
  return Status::Ok();
}

Result<Reply> Connection::Command(const Args& args) {
  GLMQ_ASSIGN_OR_RETURN(std::vector<Reply> replies, Pipeline({args}));
  return std::move(replies.front());
}

Result<std::vector<Reply>> Connection::Pipeline(const std::vector<Args>& commands) {
  if (broken_) return Unavailable("redis: connection is broken");
  for (const Args& args : commands) GLMQ_RETURN_IF_ERROR(Append(args));
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return Failure("no reply");
    replies.push_back(TakeReply(raw));
  }
  last_used_ = Clock::now();
  return replies;
}

Result<std::optional<Reply>> Connection::Receive(int wait_ms, int wake_fd) {
  if (broken_) return Unavailable("redis: connection is broken");
  void* raw = nullptr;
  if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) return Failure("protocol");
  if (raw != nullptr) return std::optional<Reply>(TakeReply(raw));
  pollfd p[2] = {{ctx_->fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int n = poll(p, wake_fd >= 0 ? 2 : 1, wait_ms);
  if (n == 0 || (n < 0 && errno == EINTR)) return std::optional<Reply>();
  if (n < 0) return Failure("poll");
  if (p[0].revents == 0) return std::optional<Reply>();  // woken
  if (redisBufferRead(ctx_) != REDIS_OK) return Failure("read");
  if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) return Failure("protocol");
  if (raw == nullptr) return std::optional<Reply>();  // part of a message so far
  return std::optional<Reply>(TakeReply(raw));
}

// --- Pool

Pool::Pool(Endpoint endpoint, int size, double timeout_seconds)
    : endpoint_(std::move(endpoint)),
      size_(std::max(1, size)),
      timeout_seconds_(timeout_seconds > 0 ? timeout_seconds : 5) {}

Pool::~Pool() = default;

Result<std::unique_ptr<Connection>> Pool::Acquire() {
  std::unique_ptr<Connection> connection;
  {
    std::unique_lock lock(mu_);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(timeout_seconds_));
    if (!returned_.wait_until(lock, deadline, [&] { return !idle_.empty() || lent_ < size_; })) {
      return Unavailable("redis " + endpoint_.Describe() + ": all " + std::to_string(size_) +
                         " connections stayed busy");
    }
    ++lent_;
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (connection && Clock::now() - connection->last_used() > kIdleCheck) {
    auto pong = connection->Command({"PING"});
    if (!pong.ok()) connection.reset();
  }
  if (!connection) {
    auto opened = Connection::Open(endpoint_, timeout_seconds_);
    if (!opened.ok()) {
      Return(nullptr);
      return opened.status();
    }
    connection = std::move(opened).value();
  }
  return connection;
}

void Pool::Return(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(mu_);
    --lent_;
    if (connection && !connection->broken()) {
      idle_.push_back(std::move(connection));
    } else if (connection) {
      // One broken connection usually means Redis went away: the idle ones died with it.
      idle_.clear();
    }
  }
  returned_.notify_one();
}

template <typename T, typename Fn>
Result<T> Pool::WithConnection(Retry retry, Fn&& fn) {
  for (int attempt = 0;; ++attempt) {
    GLMQ_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection, Acquire());
    Result<T> result = fn(*connection);
    const bool broke = connection->broken();
    Return(std::move(connection));
    if (!broke || retry == Retry::kNo || attempt > 0) {
      if (broke && retry == Retry::kNo) {
        return Unavailable(result.status().message() +
                           " (the command may or may not have been applied)");
      }
      return result;
    }
  }
}

Result<Reply> Pool::Command(const Args& args, Retry retry) {
  return WithConnection<Reply>(retry, [&](Connection& c) { return c.Command(args); });
}

Result<std::vector<Reply>> Pool::Pipeline(const std::vector<Args>& commands, Retry retry) {
  return WithConnection<std::vector<Reply>>(retry,
                                            [&](Connection& c) { return c.Pipeline(commands); });
}

Result<Reply> Pool::Eval(const std::string& sha, std::string_view source, const Args& args,
                         Retry retry) {
  return WithConnection<Reply>(retry, [&](Connection& c) -> Result<Reply> {
    Args command = {"EVALSHA", sha, "0"};
    command.insert(command.end(), args.begin(), args.end());
    GLMQ_ASSIGN_OR_RETURN(Reply reply, c.Command(command));
    if (!reply.is_error() || reply.str.rfind("NOSCRIPT", 0) != 0) return reply;
    // EVAL both runs the script and caches it again under the same SHA1.
    command[0] = "EVAL";
    command[1] = source;
    return c.Command(command);
  });
}

// --- Subscriber

Subscriber::Subscriber(Endpoint endpoint, std::string channel, double timeout_seconds,
                       Callback on_message)
    : endpoint_(std::move(endpoint)),
      channel_(std::move(channel)),
      timeout_seconds_(timeout_seconds > 0 ? timeout_seconds : 5),
      on_message_(std::move(on_message)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Subscriber::~Subscriber() {
  stopping_ = true;
  cv_.notify_all();
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

Status Subscriber::Start() {
  thread_ = std::thread([this] { Loop(); });
  std::unique_lock lock(mu_);
  const bool subscribed = cv_.wait_for(lock, std::chrono::duration<double>(timeout_seconds_),
                                       [&] { return subscriptions_ > 0; });
  if (subscribed) return Status::Ok();
  return Unavailable("redis " + endpoint_.Describe() + ": cannot subscribe to " + channel_ +
                     (last_error_.empty() ? "" : ": " + last_error_));
}

void Subscriber::Loop() {
  auto backoff = std::chrono::milliseconds(50);
  while (!stopping_) {
    const int64_t before = subscriptions_.load();
    Session();
    if (stopping_) break;
    if (subscriptions_.load() != before) backoff = std::chrono::milliseconds(50);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff, [&] { return stopping_.load(); });
    backoff =
        std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
  }
}

void Subscriber::Session() {
  auto set_error = [&](const Status& status) {
    std::lock_guard lock(mu_);
    if (last_error_ != status.message()) {
      spdlog::warn("redis events: {}; reconnecting", status.message());
    }
    last_error_ = status.message();
  };
  auto opened = Connection::Open(endpoint_, timeout_seconds_);
  if (!opened.ok()) {
    set_error(opened.status());
    return;
  }
  std::unique_ptr<Connection> connection = std::move(opened).value();
  if (Status sent = connection->Send({"SUBSCRIBE", channel_}); !sent.ok()) {
    set_error(sent);
    return;
  }
  while (!stopping_) {
    auto received = connection->Receive(kSubscriberPollMs, wake_fd_);
    if (!received.ok()) {
      set_error(received.status());
      return;
    }
    if (!received->has_value()) continue;
    const Reply& reply = **received;
    // Pushed messages are ["message", channel, payload]; the ack is ["subscribe", channel, n].
    if (!reply.is_array() || reply.elements.size() < 3) continue;
    const std::string& kind = reply.elements[0].str;
    if (kind == "message") {
      try {
        on_message_(reply.elements[2].str);
      } catch (const std::exception& e) {
        spdlog::error("redis events: handler threw: {}", e.what());
      } catch (...) {
        spdlog::error("redis events: handler threw");
      }
    } else if (kind == "subscribe") {
      {
        std::lock_guard lock(mu_);
        if (!last_error_.empty()) spdlog::info("redis events: subscribed again to {}", channel_);
        last_error_.clear();
        ++subscriptions_;
      }
      cv_.notify_all();
    }
  }
}

}  // namespace glmq::redis
