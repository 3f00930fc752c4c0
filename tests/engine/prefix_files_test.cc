#include "engine/prefix_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace glmq {
namespace {

namespace fs = std::filesystem;

class PrefixFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        (fs::temp_directory_path() / ("glmq-prefix-files-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Saves an entry as the engine does: the KV file (here `kv_bytes` of filler), then Commit.
  void Save(PrefixFiles& files, const std::vector<int32_t>& tokens, size_t kv_bytes = 100,
            const std::string& keep = {}, const std::string& partition = "") {
    std::ofstream(files.PathFor(partition, tokens)) << std::string(kv_bytes, 'k');
    ASSERT_TRUE(files.Commit(partition, tokens, static_cast<int64_t>(kv_bytes), keep).ok());
  }

  std::string dir_;
};

std::vector<int32_t> Tokens(int32_t first, size_t n) {
  std::vector<int32_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = first + static_cast<int32_t>(i);
  return t;
}

TEST_F(PrefixFilesTest, FindsTheLongestCommonPrefix) {
  auto files = PrefixFiles::Open(dir_, 1 << 20);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  Save(**files, Tokens(0, 100));
  Save(**files, Tokens(1000, 50));
  std::vector<int32_t> query = Tokens(0, 60);
  query.push_back(-1);
  auto m = (*files)->Find("", query, query.size());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->reuse, 60u);
  EXPECT_EQ(m->tokens, 100u);
  EXPECT_EQ(m->kv_path, (*files)->PathFor("", Tokens(0, 100)));
  EXPECT_EQ((*files)->Find("", query, 10)->reuse, 10u);  // capped
  EXPECT_FALSE((*files)->Find("", Tokens(5000, 10), 10).has_value());
}

TEST_F(PrefixFilesTest, ReopensWhatWasSavedAndDropsInterruptedSaves) {
  {
    auto files = PrefixFiles::Open(dir_, 1 << 20);
    ASSERT_TRUE(files.ok());
    Save(**files, Tokens(0, 100));
    // A save cut short: its KV was written, its tokens never were.
    std::ofstream((*files)->PathFor("", Tokens(7, 9))) << "partial";
  }
  auto files = PrefixFiles::Open(dir_, 1 << 20);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ((*files)->entries(), 1u);
  EXPECT_EQ((*files)->Find("", Tokens(0, 100), 100)->reuse, 100u);
  EXPECT_FALSE(fs::exists((*files)->PathFor("", Tokens(7, 9))));
}

TEST_F(PrefixFilesTest, DropsTheLeastRecentlyUsedOverBudget) {
  // Each entry: 100 bytes of KV + 40 of tokens; room for two.
  auto files = PrefixFiles::Open(dir_, 300);
  ASSERT_TRUE(files.ok());
  Save(**files, Tokens(0, 10));
  Save(**files, Tokens(100, 10));
  (*files)->Touch((*files)->PathFor("", Tokens(0, 10)));  // the first is used again
  Save(**files, Tokens(200, 10));
  EXPECT_EQ((*files)->entries(), 2u);
  EXPECT_LE((*files)->bytes(), 300);
  EXPECT_TRUE((*files)->Find("", Tokens(0, 10), 10).has_value());
  EXPECT_FALSE((*files)->Find("", Tokens(100, 10), 10).has_value());
  EXPECT_FALSE(fs::exists((*files)->PathFor("", Tokens(100, 10))));
  (*files)->Forget((*files)->PathFor("", Tokens(0, 10)));
  EXPECT_EQ((*files)->entries(), 1u);
  EXPECT_FALSE(fs::exists((*files)->PathFor("", Tokens(0, 10))));
}

TEST_F(PrefixFilesTest, AnEntryAboutToBeLoadedIsNotDropped) {
  auto files = PrefixFiles::Open(dir_, 300);  // room for two
  ASSERT_TRUE(files.ok());
  Save(**files, Tokens(0, 10));  // the oldest, but about to be loaded
  Save(**files, Tokens(100, 10));
  Save(**files, Tokens(200, 10), 100, (*files)->PathFor("", Tokens(0, 10)));
  EXPECT_TRUE((*files)->Find("", Tokens(0, 10), 10).has_value());
  EXPECT_FALSE((*files)->Find("", Tokens(100, 10), 10).has_value());
  EXPECT_TRUE(fs::exists((*files)->PathFor("", Tokens(0, 10))));
}

TEST_F(PrefixFilesTest, AnEntryIsFoundOnlyInItsOwnPartitionAfterARestartToo) {
  {
    auto files = PrefixFiles::Open(dir_, 1 << 20);
    ASSERT_TRUE(files.ok());
    Save(**files, Tokens(0, 100), 100, "", "finance");
    EXPECT_TRUE((*files)->Find("finance", Tokens(0, 100), 100).has_value());
    EXPECT_FALSE((*files)->Find("legal", Tokens(0, 100), 100).has_value());
    EXPECT_FALSE((*files)->Find("", Tokens(0, 100), 100).has_value());
  }
  auto files = PrefixFiles::Open(dir_, 1 << 20);
  ASSERT_TRUE(files.ok());
  EXPECT_EQ((*files)->entries(), 1u);
  auto m = (*files)->Find("finance", Tokens(0, 100), 100);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->kv_path, (*files)->PathFor("finance", Tokens(0, 100)));
  EXPECT_FALSE((*files)->Find("legal", Tokens(0, 100), 100).has_value());
  // The same tokens in two partitions are two entries.
  Save(**files, Tokens(0, 100), 100, "", "legal");
  EXPECT_EQ((*files)->entries(), 2u);
  EXPECT_NE((*files)->PathFor("legal", Tokens(0, 100)), m->kv_path);
}

}  // namespace
}  // namespace glmq
