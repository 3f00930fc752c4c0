#include "api/webhook_hosts.h"

#include <cctype>

#include "net/address_policy.h"
#include "net/curl.h"

namespace glmq {

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
  std::string host = net::UrlHost(url);
  if (WebhookHostAllowed(host, patterns)) return std::nullopt;
  return host;
}

bool WebhookMayReachPrivate(std::string_view host, const std::vector<std::string>& patterns,
                            bool allow_private) {
  if (allow_private) return true;
  for (const std::string& p : patterns) {
    if (p != "*" && WebhookHostAllowed(host, {p})) return true;
  }
  return false;
}

std::optional<std::string> PrivateWebhookHost(std::string_view url,
                                              const std::vector<std::string>& patterns,
                                              bool allow_private) {
  std::string host = net::UrlHost(url);
  if (WebhookMayReachPrivate(host, patterns, allow_private)) return std::nullopt;
  constexpr std::string_view kLocal = ".localhost";
  const bool local = host == "localhost" ||
                     (host.size() > kLocal.size() &&
                      host.compare(host.size() - kLocal.size(), kLocal.size(), kLocal) == 0);
  const std::optional<bool> is_public = net::IsPublicHost(host);
  if (local || (is_public && !*is_public)) return host;
  return std::nullopt;
}

}  // namespace glmq
