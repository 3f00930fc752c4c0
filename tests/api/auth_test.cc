#include "api/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace glmq {
namespace {

constexpr char kKey[] = "k3y-0123456789abcdef";
constexpr char kOther[] = "another-key-fedcba9876";

std::string WriteFile(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("glmq-auth-test-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(ApiKeysTest, AcceptsOnlyItsKeysAsBearerTokens) {
  auto keys = ApiKeys::Load({kKey}, "");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 1u);
  EXPECT_TRUE(keys->Accepts(std::string("Bearer ") + kKey));
  EXPECT_TRUE(keys->Accepts(std::string("bearer ") + kKey));  // the scheme in any case
  EXPECT_TRUE(keys->Accepts(std::string("Bearer ") + kKey + " "));
  EXPECT_FALSE(keys->Accepts(kKey));  // no scheme
  EXPECT_FALSE(keys->Accepts(std::string("Basic ") + kKey));
  EXPECT_FALSE(keys->Accepts(std::string("Bearer ") + kOther));
  EXPECT_FALSE(keys->Accepts(std::string("Bearer ") + kKey + "x"));
  EXPECT_FALSE(keys->Accepts("Bearer "));
  EXPECT_FALSE(keys->Accepts(""));
}

TEST(ApiKeysTest, NoKeysMeansEmpty) {
  auto keys = ApiKeys::Load({}, "");
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->empty());
}

TEST(ApiKeysTest, ReadsAFileOfKeysWithComments) {
  const std::string file =
      WriteFile("keys", std::string("# team a\n  ") + kOther + "  \n\n#" + kKey + "\n");
  auto keys = ApiKeys::Load({kKey}, file);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_TRUE(keys->Accepts(std::string("Bearer ") + kOther));
  EXPECT_TRUE(keys->Accepts(std::string("Bearer ") + kKey));
  std::filesystem::remove(file);
}

TEST(ApiKeysTest, RefusesWeakKeysAndUnusableFiles) {
  EXPECT_EQ(ApiKeys::Load({"short"}, "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ApiKeys::Load({"has a space in it, sixteen+"}, "").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ApiKeys::Load({}, "/nonexistent/keys").status().code(), StatusCode::kInvalidArgument);
  const std::string empty = WriteFile("empty", "# nothing\n\n");
  EXPECT_EQ(ApiKeys::Load({}, empty).status().code(), StatusCode::kInvalidArgument);
  const std::string weak = WriteFile("weak", std::string(kKey) + "\nshort\n");
  const Status s = ApiKeys::Load({}, weak).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("line 2"), std::string::npos) << s.message();
  std::filesystem::remove(empty);
  std::filesystem::remove(weak);
}

}  // namespace
}  // namespace glmq
