// glmq's one wrapper of libcurl: every request glmq makes goes through it. HTTP for alert
// notifications and webhooks (alert/transport.h), the remote engine (engine/openai_engine)
// and the command-line client; SMTP for e-mail alerts. One easy handle per call, so any
// thread may call at any time, many at once.
//
// Errors: an answer with any HTTP status is a success (the caller judges it); an error means
// none came back: kDeadlineExceeded on a timeout, kCancelled when `abort` was set,
// kInvalidArgument when retrying cannot help (a malformed URL, an unsupported scheme, a
// refused login), kUnavailable otherwise (refused, DNS, TLS). Error messages never quote a
// URL's path or query, which for chat robots hold the access token (RedactUrl).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace glmq::net {

struct HttpCall {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Sent as the body when `has_body`: the caller keeps it alive for the call (no copy).
  std::string_view body;
  bool has_body = false;
  // Sent as multipart/form-data instead of `body` when not empty: each part a field's value,
  // or (with `file_path`) a file's bytes, read from disk as they are sent.
  struct FormPart {
    std::string name;
    std::string value;
    std::string file_path;
    std::string filename;  // the part's filename (default: file_path's last component)
  };
  std::vector<FormPart> form;
  double timeout_seconds = 10;  // the whole call; <= 0: none
  double connect_timeout_seconds = 10;
  // The body kept; the rest is read and dropped, so the exchange completes normally.
  size_t max_response_bytes = std::numeric_limits<size_t>::max();
  // Streaming: each piece of the body as it arrives, with the status; false stops the
  // transfer (the call then succeeds with what came). The body is not collected then.
  std::function<bool(std::string_view piece, long status)> on_data;
  // Looked at while the call runs: once true, the call ends with kCancelled.
  const std::atomic<bool>* abort = nullptr;
  std::string user_agent = "glmq";
  // Connect only to public unicast addresses (net/address_policy.h), checked on each
  // address as it is dialled, so a name that resolves to a private one is refused too:
  // for URLs a client gave. A refusal is kInvalidArgument naming the address. Through a
  // proxy, the proxy's address is the one checked.
  bool public_addresses_only = false;
};

struct HttpAnswer {
  long status = 0;
  std::string body;
};

Result<HttpAnswer> Fetch(const HttpCall& call);

struct MailCall {
  std::string smtp_url;  // smtp://host:587 or smtps://host:465
  std::string username;  // empty: no AUTH
  std::string password;
  std::string mail_from;                // bare address, for MAIL FROM
  std::vector<std::string> recipients;  // bare addresses, for RCPT TO
  bool require_tls = true;              // STARTTLS (or smtps://) or fail
  double timeout_seconds = 10;          // <= 0: 10
  std::string message;                  // RFC 5322, CRLF line ends
};

Status SendMail(const MailCall& call);

// The host of a URL as libcurl parses it (so the host a check looks at is the host a call
// connects to), lower-cased, without brackets or a trailing dot; "" if it has none.
std::string UrlHost(std::string_view url);

// "https://oapi.dingtalk.com/robot/send?access_token=x" -> "https://oapi.dingtalk.com/...":
// what may go into logs and error messages.
std::string RedactUrl(const std::string& url);

}  // namespace glmq::net
