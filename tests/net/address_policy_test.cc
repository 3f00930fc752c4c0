#include "net/address_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "api/webhook_hosts.h"

namespace glmq::net {
namespace {

bool PublicText(const std::string& text) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  if (inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
    return IsPublicAddress(reinterpret_cast<const sockaddr*>(&v4));
  }
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr), 1) << text;
  return IsPublicAddress(reinterpret_cast<const sockaddr*>(&v6));
}

TEST(AddressPolicyTest, OnlyPublicUnicastAddressesArePublic) {
  for (const char* a : {"0.0.0.0",          "10.1.2.3",        "100.64.0.1",  "127.0.0.1",
                        "127.255.255.254",  "169.254.169.254", "172.16.0.1",  "172.31.255.255",
                        "192.0.0.8",        "192.0.2.1",       "192.168.1.1", "198.18.0.1",
                        "198.51.100.7",     "203.0.113.9",     "224.0.0.1",   "239.255.255.250",
                        "240.0.0.1",        "255.255.255.255", "::",          "::1",
                        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1",
                        "2002:7f00:1::",    "2002:a00:1::1",   "fc00::1",     "fd12:3456::1",
                        "fe80::1",          "fec0::1",         "ff02::1",     "2001:db8::1",
                        "100::1",           "4000::1"}) {
    EXPECT_FALSE(PublicText(a)) << a;
  }
  for (const char* a :
       {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2606:4700:4700::1111",
        "2a00:1450::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"}) {
    EXPECT_TRUE(PublicText(a)) << a;
  }
  EXPECT_FALSE(IsPublicAddress(nullptr));
}

TEST(AddressPolicyTest, LiteralAddressesAreJudgedAndNamesLeftToTheConnection) {
  EXPECT_EQ(IsPublicHost("127.0.0.1"), false);
  EXPECT_EQ(IsPublicHost("::ffff:127.0.0.1"), false);
  EXPECT_EQ(IsPublicHost("fe80::1%eth0"), false);
  EXPECT_EQ(IsPublicHost("8.8.8.8"), true);
  EXPECT_EQ(IsPublicHost("hooks.example.com"), std::nullopt);
}

}  // namespace
}  // namespace glmq::net

namespace glmq {
namespace {

// What a submit refuses: the address forms a URL can spell a private address in (libcurl's
// parser turns 2130706433 and 0x7f.1 into 127.0.0.1), and localhost.
TEST(WebhookHostsTest, AWebhookUrlToAPrivateAddressIsRefusedUnlessAllowed) {
  for (const char* url :
       {"http://127.0.0.1:8080/hook", "http://[::ffff:127.0.0.1]/", "http://2130706433/",
        "http://0x7f.1/", "http://localhost/", "http://LOCALHOST./x", "http://a.localhost/",
        "http://169.254.169.254/latest/meta-data", "http://[::1]:9/", "http://10.0.0.5/"}) {
    EXPECT_NE(PrivateWebhookHost(url, {}, false), std::nullopt) << url;
    EXPECT_EQ(PrivateWebhookHost(url, {}, true), std::nullopt) << url;
  }
  for (const char* url : {"https://hooks.example.com/x", "http://8.8.8.8/"}) {
    EXPECT_EQ(PrivateWebhookHost(url, {}, false), std::nullopt) << url;
  }
  // An allow list that names the host lets it be private; "*" names none.
  EXPECT_EQ(PrivateWebhookHost("http://127.0.0.1:9/", {"127.0.0.1"}, false), std::nullopt);
  EXPECT_NE(PrivateWebhookHost("http://127.0.0.1:9/", {"*"}, false), std::nullopt);
}

}  // namespace
}  // namespace glmq

namespace glmq::net {
namespace {

TEST(AddressPolicyTest, LoopbackHostsAreThisMachineAlone) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h :
       {"0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com", "", "::ffff:127.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

}  // namespace
}  // namespace glmq::net
