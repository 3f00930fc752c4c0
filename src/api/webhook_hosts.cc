#include "api/webhook_hosts.h"

#include <curl/curl.h>

#include <cctype>

namespace glmq {

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

bool WebhookHostAllowed(std::string_view host, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return true;
  if (host.empty()) return false;
  for (const std::string& p : patterns) {
    if (p == "*" || p == host) return true;
    if (p.size() > 2 && p.compare(0, 2, "*.") == 0) {
      const std::string_view suffix = std::string_view(p).substr(1);  // ".example.com"
      if (host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix) {
        return true;
      }
    }
  }
  return false;
}

std::optional<std::string> RefusedWebhookHost(std::string_view url,
                                              const std::vector<std::string>& patterns) {
  if (patterns.empty()) return std::nullopt;
  std::string host = UrlHost(url);
  if (WebhookHostAllowed(host, patterns)) return std::nullopt;
  return host;
}

}  // namespace glmq
