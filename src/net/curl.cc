#include "net/curl.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <mutex>

#include "net/address_policy.h"

namespace glmq::net {
namespace {

void GlobalInitOnce() {
  // curl_global_init is not thread-safe in every libcurl build: once, before any call.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;
struct MimeDeleter {
  void operator()(curl_mime* m) const { curl_mime_free(m); }
};
using MimePtr = std::unique_ptr<curl_mime, MimeDeleter>;

// On failure curl_slist_append returns null and leaves the list as it was.
void Append(SlistPtr& list, const std::string& item) {
  if (curl_slist* head = curl_slist_append(list.get(), item.c_str())) {
    (void)list.release();
    list.reset(head);
  }
}

long Milliseconds(double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0) return 0;
  return static_cast<long>(std::ceil(seconds * 1000));
}

Status CurlError(CURLcode code, const char* errbuf, const std::string& what) {
  std::string message = what + ": " + curl_easy_strerror(code);
  if (errbuf[0] != '\0') message += std::string(" (") + errbuf + ")";
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return Status(StatusCode::kDeadlineExceeded, message);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_LOGIN_DENIED:
      return InvalidArgument(message);
    default:
      return Unavailable(message);
  }
}

struct Transfer {
  const HttpCall* call;
  CURL* curl;
  HttpAnswer answer;
  bool stopped = false;  // on_data said stop
  std::string refused;   // an address public_addresses_only kept the call from
};

// CURLOPT_OPENSOCKETFUNCTION for public_addresses_only: the socket for a public address,
// none for any other (libcurl then tries the next address, or fails to connect).
curl_socket_t OpenPublicSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  if (!IsPublicAddress(&address->addr)) {
    t->refused = AddressText(&address->addr);
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->call->on_data) {
    long status = 0;  // the head is read before any of the body
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (!t->call->on_data(std::string_view(data, n), status)) {
      t->stopped = true;
      return 0;
    }
    return n;
  }
  std::string& body = t->answer.body;
  if (body.size() < t->call->max_response_bytes) {
    body.append(data, std::min(n, t->call->max_response_bytes - body.size()));
  }
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort = static_cast<const std::atomic<bool>*>(user);
  return abort->load() ? 1 : 0;
}

}  // namespace

Result<HttpAnswer> Fetch(const HttpCall& call) {
  GlobalInitOnce();
  CurlPtr curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  CURL* c = curl.get();
  SlistPtr headers;
  for (const std::string& h : call.headers) Append(headers, h);
  // Without "Expect:" libcurl waits for a 100 Continue that some servers never send.
  Append(headers, "Expect:");
  char errbuf[CURL_ERROR_SIZE] = {0};
  Transfer t{&call, c, {}, false, {}};
  curl_easy_setopt(c, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  MimePtr form;
  if (!call.form.empty()) {
    form.reset(curl_mime_init(c));
    for (const HttpCall::FormPart& p : call.form) {
      curl_mimepart* part = curl_mime_addpart(form.get());
      curl_mime_name(part, p.name.c_str());
      if (p.file_path.empty()) {
        curl_mime_data(part, p.value.data(), p.value.size());
        continue;
      }
      if (curl_mime_filedata(part, p.file_path.c_str()) != CURLE_OK) {
        return InvalidArgument("cannot read " + p.file_path);
      }
      if (!p.filename.empty()) curl_mime_filename(part, p.filename.c_str());
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, form.get());
  } else if (call.has_body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, Milliseconds(call.timeout_seconds));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, Milliseconds(call.connect_timeout_seconds));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads must not get SIGALRM
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, call.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (call.public_addresses_only) {
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenPublicSocket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
  }
  if (call.abort != nullptr) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, call.abort);
  }
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.answer.status);
  if (rc == CURLE_WRITE_ERROR && t.stopped) return std::move(t.answer);
  if (rc == CURLE_ABORTED_BY_CALLBACK && call.abort != nullptr && call.abort->load()) {
    return Status(StatusCode::kCancelled, call.method + " " + RedactUrl(call.url) + ": aborted");
  }
  if (rc != CURLE_OK && !t.refused.empty()) {
    return InvalidArgument(call.method + " " + RedactUrl(call.url) + ": refused to connect to " +
                           t.refused + ", which is not a public address");
  }
  if (rc != CURLE_OK) return CurlError(rc, errbuf, call.method + " " + RedactUrl(call.url));
  return std::move(t.answer);
}

namespace {

struct UploadCursor {
  std::string_view data;
  size_t offset = 0;
};

size_t ReadMessage(char* buffer, size_t size, size_t count, void* user) {
  auto* cursor = static_cast<UploadCursor*>(user);
  const size_t n = std::min(size * count, cursor->data.size() - cursor->offset);
  std::copy_n(cursor->data.data() + cursor->offset, n, buffer);
  cursor->offset += n;
  return n;
}

}  // namespace

Status SendMail(const MailCall& call) {
  GlobalInitOnce();
  CurlPtr curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  SlistPtr recipients;
  for (const std::string& r : call.recipients) Append(recipients, "<" + r + ">");
  const std::string mail_from = "<" + call.mail_from + ">";
  UploadCursor cursor{call.message};
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, call.smtp_url.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadMessage);
  curl_easy_setopt(c, CURLOPT_READDATA, &cursor);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(call.message.size()));
  if (!call.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, call.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, call.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_USE_SSL, call.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   Milliseconds(call.timeout_seconds > 0 ? call.timeout_seconds : 10));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return CurlError(rc, errbuf, "SMTP " + RedactUrl(call.smtp_url));
  return Status::Ok();
}

std::string UrlHost(std::string_view url) {
  // libcurl's own parser: the host checked is the host the sender's libcurl connects to.
  CURLU* parsed = curl_url();
  if (parsed == nullptr) return "";
  std::string host;
  char* part = nullptr;
  if (curl_url_set(parsed, CURLUPART_URL, std::string(url).c_str(), 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_HOST, &part, 0) == CURLUE_OK) {
    host = part;
    curl_free(part);
  }
  curl_url_cleanup(parsed);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {  // [IPv6]
    host = host.substr(1, host.size() - 2);
  }
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!host.empty() && host.back() == '.') host.pop_back();  // "example.com." is example.com
  return host;
}

std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t host_end = url.find_first_of("/?#", host_start);
  std::string authority = url.substr(
      host_start, host_end == std::string::npos ? std::string::npos : host_end - host_start);
  // user:password@host keeps only the host.
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  std::string out = url.substr(0, host_start) + authority;
  if (host_end != std::string::npos) out += "/...";
  return out;
}

}  // namespace glmq::net
