#include "crypto/crypto.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

TEST(CryptoTest, KnownAnswers) {
  // RFC 4231, test case 2.
  const std::string mac = HmacSha256("Jefe", "what do ya want for nothing?");
  EXPECT_EQ(HexEncode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x0f\xab\xff", 4)), "000fabff");
  EXPECT_EQ(UrlEncode("a b/+=~._-\xE4"), "a%20b%2F%2B%3D~._-%E4");
}

TEST(CryptoTest, Sha256OfKnownTexts) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("abc").size(), 32u);
}

TEST(CryptoTest, HexDecodesWhatHexEncodes) {
  EXPECT_EQ(HexDecode("00ff7fA0"), std::string("\x00\xff\x7f\xa0", 4));
  EXPECT_EQ(HexDecode(HexEncode("glmq")), "glmq");
  EXPECT_EQ(HexDecode(""), "");
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

TEST(CryptoTest, RandomHexIsFreshEachTime) {
  const std::string a = RandomHex(24), b = RandomHex(24);
  EXPECT_EQ(a.size(), 48u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(HexDecode(a).has_value());
}

}  // namespace
}  // namespace glmq
