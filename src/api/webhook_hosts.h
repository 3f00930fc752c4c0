// Where webhooks may go: the host of a webhook_url, and --webhook-allow-hosts patterns.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace glmq {

// Whether `host` matches one of `patterns`: a host name or address as written, "*.example.com"
// for any name under example.com (not example.com itself), or "*" for any. No patterns:
// every host.
bool WebhookHostAllowed(std::string_view host, const std::vector<std::string>& patterns);
// The host of `url` when `patterns` leave it out; nullopt when they allow it, or when there
// are none (then the URL is not parsed at all).
std::optional<std::string> RefusedWebhookHost(std::string_view url,
                                              const std::vector<std::string>& patterns);

}  // namespace glmq
