#include "api/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto/crypto.h"
#include "store/sqlite_store.h"
#include "store/store_test_support.h"

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
  EXPECT_TRUE(keys->Authenticate(std::string("Bearer ") + kKey).has_value());
  EXPECT_TRUE(
      keys->Authenticate(std::string("bearer ") + kKey).has_value());  // the scheme in any case
  EXPECT_TRUE(keys->Authenticate(std::string("Bearer ") + kKey + " ").has_value());
  EXPECT_FALSE(keys->Authenticate(kKey).has_value());  // no scheme
  EXPECT_FALSE(keys->Authenticate(std::string("Basic ") + kKey).has_value());
  EXPECT_FALSE(keys->Authenticate(std::string("Bearer ") + kOther).has_value());
  EXPECT_FALSE(keys->Authenticate(std::string("Bearer ") + kKey + "x").has_value());
  EXPECT_FALSE(keys->Authenticate("Bearer ").has_value());
  EXPECT_FALSE(keys->Authenticate("").has_value());
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
  EXPECT_TRUE(keys->Authenticate(std::string("Bearer ") + kOther).has_value());
  EXPECT_TRUE(keys->Authenticate(std::string("Bearer ") + kKey).has_value());
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

TEST(ApiKeysTest, AKeysFileLineNamesTheTenantAndRoleOfItsKey) {
  const std::string digest = Sha256Hex(kOther);
  auto parsed = ApiKeys::Parse(std::string("finance submit ") + kKey +
                                   " name=ci\nlegal read sha256:" + digest +
                                   "\ndefault admin glmq_0123456789abcdef0123\n" + "# x\n",
                               "keys");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ApiKeys keys;
  keys.Add(*parsed);
  ASSERT_EQ(keys.size(), 3u);
  auto finance = keys.Authenticate(std::string("Bearer ") + kKey);
  ASSERT_TRUE(finance.has_value());
  EXPECT_EQ(finance->tenant, "finance");
  EXPECT_EQ(finance->role, Role::kSubmit);
  EXPECT_TRUE(finance->May(Role::kRead));
  EXPECT_FALSE(finance->May(Role::kAdmin));
  EXPECT_TRUE(finance->Sees("finance"));
  EXPECT_FALSE(finance->Sees("legal"));
  auto legal = keys.Authenticate(std::string("Bearer ") + kOther);  // by its digest alone
  ASSERT_TRUE(legal.has_value());
  EXPECT_EQ(legal->tenant, "legal");
  EXPECT_EQ(legal->role, Role::kRead);
  EXPECT_FALSE(legal->May(Role::kSubmit));
  auto admin = keys.Authenticate("Bearer glmq_0123456789abcdef0123");
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(admin->tenant, "");  // "default" is the implicit tenant
  EXPECT_TRUE(admin->Sees("finance"));

  for (const char* bad :
       {"finance owner k3y-0123456789abcdef", "fin:ance read k3y-0123456789abcdef", "finance read",
        "finance read sha256:abc", "finance read k3y-0123456789abcdef colour=blue"}) {
    const Status s = ApiKeys::Parse(std::string("# first\n") + bad + "\n", "keys").status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("keys line 2"), std::string::npos) << s.message();
  }
}

TEST(ApiKeysTest, NewKeysAreLongAndDistinct) {
  const std::string a = NewApiKey(), b = NewApiKey();
  EXPECT_EQ(a.rfind("glmq_", 0), 0u);
  EXPECT_EQ(a.size(), 5u + 48u);
  EXPECT_NE(a, b);
}

TEST(KeyRingTest, WithoutKeysEveryoneIsAnAdminOfTheImplicitTenant) {
  KeyRing ring({}, "", nullptr);
  ASSERT_TRUE(ring.Refresh().ok());
  EXPECT_FALSE(ring.required());
  auto caller = ring.Authenticate("");
  ASSERT_TRUE(caller.has_value());
  EXPECT_TRUE(caller->admin());
  EXPECT_EQ(caller->tenant, "");
}

TEST(KeyRingTest, AChangedKeysFileCountsAtTheNextRefresh) {
  const std::string file = WriteFile("ring", std::string("finance submit ") + kKey + "\n");
  KeyRing ring({}, file, nullptr);
  ASSERT_TRUE(ring.Refresh().ok());
  EXPECT_TRUE(ring.required());
  EXPECT_TRUE(ring.Authenticate(std::string("Bearer ") + kKey).has_value());
  EXPECT_FALSE(ring.Authenticate(std::string("Bearer ") + kOther).has_value());

  // Revoked: the key leaves the file, another comes.
  std::ofstream(file) << "legal read " << kOther << "\n# " << kKey << " revoked\n";
  ASSERT_TRUE(ring.Refresh().ok());
  EXPECT_FALSE(ring.Authenticate(std::string("Bearer ") + kKey).has_value());
  auto legal = ring.Authenticate(std::string("Bearer ") + kOther);
  ASSERT_TRUE(legal.has_value());
  EXPECT_EQ(legal->tenant, "legal");

  // A file that no longer parses keeps the keys in force.
  std::ofstream(file) << "legal reader " << kOther << "\n";
  EXPECT_FALSE(ring.Refresh().ok());
  EXPECT_TRUE(ring.Authenticate(std::string("Bearer ") + kOther).has_value());

  // Emptied: still required (revoking every key does not open the API).
  std::ofstream(file) << "# none\n";
  ASSERT_TRUE(ring.Refresh().ok());
  EXPECT_TRUE(ring.required());
  EXPECT_FALSE(ring.Authenticate(std::string("Bearer ") + kOther).has_value());
  EXPECT_FALSE(ring.Authenticate("").has_value());
  std::filesystem::remove(file);
}

TEST(ApiKeysTest, ATenantLineSetsItsWeightAndRetention) {
  TenantLimitOverrides overrides;
  auto parsed = ApiKeys::Parse(
      "tenant legal weight=3 retention_hours=0.5\ntenant default retention_hours=0\n", "keys",
      &overrides);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const JobStore::TenantSettings settings = SettingsOf(overrides);
  EXPECT_EQ(settings.weights, (TenantWeights{{"legal", 3}}));
  EXPECT_EQ(settings.retention_ms, (std::map<std::string, int64_t>{{"", 0}, {"legal", 1'800'000}}));
  EXPECT_FALSE(ApiKeys::Parse("tenant legal retention_hours=-1\n", "keys").ok());
  EXPECT_FALSE(ApiKeys::Parse("tenant legal retain=1\n", "keys").ok());
}

TEST(KeyRingTest, AKeysFilesTenantWeightsReachTheStoresFairShare) {
  std::string dir = (std::filesystem::temp_directory_path() / "glmq_keyring_XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto store = SqliteJobStore::Open(dir + "/jobs.db", nullptr);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string file =
      WriteFile("weights", std::string("finance submit ") + kKey + "\ntenant legal weight=3\n");
  KeyRing ring({}, file, store->get());
  ASSERT_TRUE(ring.Refresh().ok());
  for (int i = 0; i < 4; ++i) {
    InsertTestJob(**store, /*order_key=*/i, /*created_at=*/1000 + i);  // the implicit tenant
    Job legal = MakeTestJob(/*order_key=*/100 + i, /*created_at=*/2000 + i);
    legal.tenant = "legal";
    ASSERT_TRUE((*store)->Insert(legal).ok());
  }
  // Equal jobs, the implicit tenant's first in the global order: with weight 3, legal takes
  // three of the first four claims.
  int legal_claims = 0;
  for (int i = 0; i < 4; ++i) legal_claims += MustClaim(**store, "w").tenant == "legal" ? 1 : 0;
  EXPECT_EQ(legal_claims, 3);

  // A weight of 0 does not parse: the file is refused, the weights in force stay.
  std::ofstream(file) << "finance submit " << kKey << "\ntenant legal weight=0\n";
  const Status refused = ring.Refresh();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("weight"), std::string::npos) << refused.message();
  std::filesystem::remove(file);
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace glmq
