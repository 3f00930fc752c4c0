#include "alert/transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <mutex>

namespace glmq {
namespace {

constexpr size_t kMaxResponseBytes = 64 * 1024;

void GlobalInitOnce() {
  // curl_global_init is not thread-safe in every libcurl build; do it before any sender runs.
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

// On failure curl_slist_append returns null and leaves the list as it was.
void Append(SlistPtr& list, const std::string& item) {
  if (curl_slist* head = curl_slist_append(list.get(), item.c_str())) {
    (void)list.release();
    list.reset(head);
  }
}

long TimeoutMs(double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0) return 10000;
  return static_cast<long>(std::ceil(seconds * 1000));
}

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  size_t n = size * count;
  if (body->size() < kMaxResponseBytes) {
    body->append(data, std::min(n, kMaxResponseBytes - body->size()));
  }
  return n;  // read and discard the rest, so the exchange completes normally
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

class CurlHttpTransport : public HttpTransport {
 public:
  Result<HttpPostResponse> Post(const HttpPostRequest& request) override {
    CurlPtr curl(curl_easy_init());
    if (!curl) return Internal("curl_easy_init failed");
    SlistPtr headers;
    for (const std::string& h : request.headers) {
      Append(headers, h);
    }
    // Without "Expect:" libcurl waits for a 100 Continue that some servers never send.
    Append(headers, "Expect:");
    char errbuf[CURL_ERROR_SIZE] = {0};
    HttpPostResponse response;
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TimeoutMs(request.timeout_seconds));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // sender threads must not get SIGALRM
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "glmq-alert");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) return CurlError(rc, errbuf, "POST " + RedactUrl(request.url));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }
};

struct UploadCursor {
  const std::string* data;
  size_t offset = 0;
};

size_t ReadMessage(char* buffer, size_t size, size_t count, void* user) {
  auto* cursor = static_cast<UploadCursor*>(user);
  size_t n = std::min(size * count, cursor->data->size() - cursor->offset);
  std::copy_n(cursor->data->data() + cursor->offset, n, buffer);
  cursor->offset += n;
  return n;
}

class CurlMailTransport : public MailTransport {
 public:
  Status Send(const MailRequest& request) override {
    CurlPtr curl(curl_easy_init());
    if (!curl) return Internal("curl_easy_init failed");
    SlistPtr recipients;
    for (const std::string& r : request.recipients) {
      Append(recipients, "<" + r + ">");
    }
    std::string mail_from = "<" + request.mail_from + ">";
    UploadCursor cursor{&request.message};
    char errbuf[CURL_ERROR_SIZE] = {0};
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.smtp_url.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients.get());
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadMessage);
    curl_easy_setopt(c, CURLOPT_READDATA, &cursor);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.message.size()));
    if (!request.username.empty()) {
      curl_easy_setopt(c, CURLOPT_USERNAME, request.username.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, request.password.c_str());
    }
    curl_easy_setopt(c, CURLOPT_USE_SSL, request.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TimeoutMs(request.timeout_seconds));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) return CurlError(rc, errbuf, "SMTP " + RedactUrl(request.smtp_url));
    return Status::Ok();
  }
};

}  // namespace

std::shared_ptr<HttpTransport> MakeCurlHttpTransport() {
  GlobalInitOnce();
  return std::make_shared<CurlHttpTransport>();
}

std::shared_ptr<MailTransport> MakeCurlMailTransport() {
  GlobalInitOnce();
  return std::make_shared<CurlMailTransport>();
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

}  // namespace glmq
