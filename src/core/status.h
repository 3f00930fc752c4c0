// Status and Result<T>: the error type used at every boundary of glmq.
//
// A fallible call returns Status (or Result<T>); the caller decides. Exceptions are for
// broken invariants only. StatusCode is closed: api/ maps each code to one HTTP status.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace glmq {

enum class StatusCode {
  kOk,
  kInvalidArgument,    // malformed or out-of-range input (400)
  kNotFound,           // unknown id (404)
  kConflict,           // state does not allow the operation (409)
  kTooLarge,           // body over the configured limit (413)
  kUnprocessable,      // well-formed but can never be served, e.g. too long (422)
  kResourceExhausted,  // temporarily out of capacity (429/503)
  kUnavailable,        // a dependency is down (503)
  kStorageFull,        // the store's disk is full: nothing was written (507)
  kCancelled,
  kDeadlineExceeded,
  kInternal,  // a bug or an I/O failure (500)
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status Conflict(std::string m) { return Status(StatusCode::kConflict, std::move(m)); }
inline Status Unprocessable(std::string m) {
  return Status(StatusCode::kUnprocessable, std::move(m));
}
inline Status Unavailable(std::string m) { return Status(StatusCode::kUnavailable, std::move(m)); }
inline Status StorageFull(std::string m) { return Status(StatusCode::kStorageFull, std::move(m)); }
inline Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  // Ok when the result holds a value.
  const Status& status() const {
    static const Status kOk = Status::Ok();
    return value_ ? kOk : status_;
  }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_ = Internal("result holds no value");
};

}  // namespace glmq

#define GLMQ_CONCAT_INNER(a, b) a##b
#define GLMQ_CONCAT(a, b) GLMQ_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define GLMQ_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::glmq::Status glmq_status_ = (expr);        \
    if (!glmq_status_.ok()) return glmq_status_; \
  } while (0)

// `GLMQ_ASSIGN_OR_RETURN(auto x, Fallible());`
#define GLMQ_ASSIGN_OR_RETURN(lhs, expr)                 \
  auto GLMQ_CONCAT(glmq_result_, __LINE__) = (expr);     \
  if (!GLMQ_CONCAT(glmq_result_, __LINE__).ok())         \
    return GLMQ_CONCAT(glmq_result_, __LINE__).status(); \
  lhs = std::move(GLMQ_CONCAT(glmq_result_, __LINE__)).value()
