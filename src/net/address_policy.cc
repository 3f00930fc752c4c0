#include "net/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace glmq::net {
namespace {

struct Range4 {
  uint32_t base;
  int bits;
};

constexpr uint32_t V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

// IANA's special-purpose IPv4 registry, less the globally reachable entries, plus
// multicast and the rest of class E.
constexpr std::array<Range4, 16> kNotPublic4 = {{
    {V4(0, 0, 0, 0), 8},        // "this network", unspecified
    {V4(10, 0, 0, 0), 8},       // private
    {V4(100, 64, 0, 0), 10},    // carrier-grade NAT
    {V4(127, 0, 0, 0), 8},      // loopback
    {V4(169, 254, 0, 0), 16},   // link-local (cloud metadata at 169.254.169.254)
    {V4(172, 16, 0, 0), 12},    // private
    {V4(192, 0, 0, 0), 24},     // IETF protocol assignments
    {V4(192, 0, 2, 0), 24},     // documentation
    {V4(192, 88, 99, 0), 24},   // 6to4 relay anycast (deprecated)
    {V4(192, 168, 0, 0), 16},   // private
    {V4(198, 18, 0, 0), 15},    // benchmarking
    {V4(198, 51, 100, 0), 24},  // documentation
    {V4(203, 0, 113, 0), 24},   // documentation
    {V4(224, 0, 0, 0), 4},      // multicast
    {V4(240, 0, 0, 0), 4},      // reserved, broadcast
    {V4(255, 255, 255, 255), 32},
}};

bool IsPublic4(uint32_t a) {
  for (const Range4& r : kNotPublic4) {
    const uint32_t mask = r.bits == 0 ? 0 : ~uint32_t{0} << (32 - r.bits);
    if ((a & mask) == r.base) return false;
  }
  return true;
}

uint32_t Read4(const uint8_t* p) { return V4(p[0], p[1], p[2], p[3]); }

bool IsPublic6(const uint8_t* a) {
  static constexpr uint8_t kZero[16] = {};
  // ::/96 (unspecified, loopback, the deprecated IPv4-compatible form) and ::ffff:0:0/96
  // (IPv4-mapped): what the IPv4 part says, and :: and ::1 are not public.
  if (std::memcmp(a, kZero, 10) == 0) {
    if (a[10] == 0xff && a[11] == 0xff) return IsPublic4(Read4(a + 12));
    if (a[10] == 0 && a[11] == 0) return Read4(a + 12) > 1 && IsPublic4(Read4(a + 12));
    return false;
  }
  // 64:ff9b::/96 (NAT64): the IPv4 address it translates to.
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a, kNat64, 12) == 0) return IsPublic4(Read4(a + 12));
  // 2002::/16 (6to4): the IPv4 address in bits 16-47.
  if (a[0] == 0x20 && a[1] == 0x02) return IsPublic4(Read4(a + 2));
  if ((a[0] & 0xfe) == 0xfc) return false;                  // fc00::/7 unique local
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return false;  // fe80::/10 link-local
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return false;  // fec0::/10 site-local
  if (a[0] == 0xff) return false;                           // multicast
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return false;  // docs
  if (a[0] == 0x01 && std::memcmp(a + 1, kZero, 7) == 0) return false;  // 100::/64 discard
  // Global unicast is 2000::/3; anything else is unassigned.
  return (a[0] & 0xe0) == 0x20;
}

}  // namespace

bool IsPublicAddress(const sockaddr* address) {
  if (address == nullptr) return false;
  if (address->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, address, sizeof(in));
    return IsPublic4(ntohl(in.sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 in{};
    std::memcpy(&in, address, sizeof(in));
    return IsPublic6(in.sin6_addr.s6_addr);
  }
  return false;
}

std::optional<bool> IsPublicHost(std::string_view host) {
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return IsPublic4(ntohl(v4.s_addr));
  // A zone ("fe80::1%eth0") is link-local whatever it names.
  if (text.find('%') != std::string::npos) return false;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IsPublic6(v6.s6_addr);
  return std::nullopt;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::string AddressText(const sockaddr* address) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (address == nullptr) return "?";
  if (address->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, address, sizeof(in));
    if (inet_ntop(AF_INET, &in.sin_addr, buf, sizeof(buf)) != nullptr) return buf;
  } else if (address->sa_family == AF_INET6) {
    sockaddr_in6 in{};
    std::memcpy(&in, address, sizeof(in));
    if (inet_ntop(AF_INET6, &in.sin6_addr, buf, sizeof(buf)) != nullptr) return buf;
  }
  return "?";
}

}  // namespace glmq::net
