// How notifiers (and webhooks) reach the outside: an HTTP POST and an SMTP submission,
// behind interfaces so that tests substitute fakes. The real ones go through net/curl.h,
// one easy handle per call, so one transport may serve several sender threads at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "net/curl.h"

namespace glmq {

struct HttpPostRequest {
  std::string url;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  double timeout_seconds = 10;
  // A URL a client gave: connect to public addresses only (net::HttpCall's).
  bool public_addresses_only = false;
};

struct HttpPostResponse {
  long status = 0;
  std::string body;  // the first 64 KiB at most
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Any HTTP status is a response; an error means none came back: kDeadlineExceeded on a
  // timeout, kUnavailable otherwise (refused, DNS, TLS). Errors never quote the URL's path or
  // query, which for chat robots hold the access token.
  virtual Result<HttpPostResponse> Post(const HttpPostRequest& request) = 0;
};

// An SMTP submission (net/curl.h).
using MailRequest = net::MailCall;

class MailTransport {
 public:
  virtual ~MailTransport() = default;
  // kInvalidArgument when retrying cannot help (bad URL, login refused), kDeadlineExceeded on
  // a timeout, kUnavailable otherwise.
  virtual Status Send(const MailRequest& request) = 0;
};

std::shared_ptr<HttpTransport> MakeCurlHttpTransport();
std::shared_ptr<MailTransport> MakeCurlMailTransport();

}  // namespace glmq
