// Where webhooks may go: the host of a webhook_url, --webhook-allow-hosts patterns, and
// whether it may reach addresses that are not public (--webhook-allow-private): by default
// a webhook connects to public addresses only (net/address_policy.h), so that a client
// cannot make glmq POST its answers to this machine, its network or a cloud metadata
// service.
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

// Whether a webhook to `host` may connect to addresses that are not public: with
// `allow_private`, or when a pattern other than "*" names the host.
bool WebhookMayReachPrivate(std::string_view host, const std::vector<std::string>& patterns,
                            bool allow_private);
// The host of `url` when it is an address that is not public (or "localhost") and may not
// be reached; nullopt otherwise. A name's addresses are checked when the webhook connects.
std::optional<std::string> PrivateWebhookHost(std::string_view url,
                                              const std::vector<std::string>& patterns,
                                              bool allow_private);

}  // namespace glmq
