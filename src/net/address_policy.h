// Which addresses a call to a URL that a client gave (a job's webhook_url) may reach: public
// unicast ones only. Everything else -- loopback, private and carrier-grade NAT ranges,
// link-local (cloud metadata services live there), multicast, broadcast, unspecified,
// documentation and reserved ranges, and IPv6 forms that embed such an IPv4 address
// (mapped, compatible, NAT64, 6to4) -- reaches this machine or its network rather than
// the Internet. The check belongs at connect time, on the address actually dialled
// (HttpCall::public_addresses_only), so that a name resolving to a private address, at
// any lookup, is refused too; IsPublicHost also answers for literal addresses in a URL, to
// refuse them when the job is submitted.
#pragma once

#include <optional>
#include <string>
#include <string_view>

struct sockaddr;

namespace glmq::net {

// False for an address that is not public unicast, and for a family other than IPv4/IPv6.
bool IsPublicAddress(const sockaddr* address);

// For a host as UrlHost gives it: whether it is a public address, or nullopt when it is a
// name rather than an address (names are checked when the call connects).
std::optional<bool> IsPublicHost(std::string_view host);

// Whether a listening address (--host) is reachable from this machine alone: 127.0.0.0/8,
// ::1 and "localhost". A name other than localhost counts as reachable from elsewhere.
bool IsLoopbackHost(std::string_view host);

// "127.0.0.1", "::1": for messages.
std::string AddressText(const sockaddr* address);

}  // namespace glmq::net
