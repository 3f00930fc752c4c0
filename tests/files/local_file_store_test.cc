// What LocalFileStore does beside the FileStore contract (file_store_contract_test.cc): the
// bytes on disk go with their file, and bytes a crash left without a row go at open.
#include "files/local_file_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace glmq {
namespace {

class LocalFileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("glmq-files-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto store = LocalFileStore::Open(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  FileInfo Put(const std::string& tenant, const std::string& bytes, int64_t keep_ms = 0) {
    auto upload = store_->Begin({.tenant = tenant, .filename = "in.jsonl", .purpose = "batch"});
    EXPECT_TRUE(upload.ok());
    for (size_t i = 0; i < bytes.size(); i += 1000) {
      EXPECT_TRUE((*upload)->Append(std::string_view(bytes).substr(i, 1000)).ok());
    }
    auto info = (*upload)->Commit(keep_ms);
    EXPECT_TRUE(info.ok()) << info.status().message();
    return *info;
  }

  size_t FilesOnDisk() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      n += e.path().filename().string().rfind("file-", 0) == 0;
    }
    return n;
  }

  std::filesystem::path dir_;
  std::unique_ptr<LocalFileStore> store_;
};

TEST_F(LocalFileStoreTest, DeleteRemovesTheRowAndTheBytes) {
  const FileInfo info = Put("t", "x\n");
  EXPECT_EQ(FilesOnDisk(), 1u);
  EXPECT_TRUE(store_->Delete("t", info.id).ok());
  EXPECT_EQ(store_->Get("t", info.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(FilesOnDisk(), 0u);
  EXPECT_EQ(store_->Delete("t", info.id).code(), StatusCode::kNotFound);
}

// An upload dropped before Commit leaves nothing, and bytes a crash left without a row go
// when the store opens again.
TEST_F(LocalFileStoreTest, AnUploadThatDoesNotCommitLeavesNothing) {
  {
    auto upload = store_->Begin({.tenant = "t", .filename = "a", .purpose = "batch"});
    ASSERT_TRUE((*upload)->Append("partial").ok());
    EXPECT_EQ(FilesOnDisk(), 1u);
  }
  EXPECT_EQ(FilesOnDisk(), 0u);
  EXPECT_TRUE(store_->List("t", {})->files.empty());

  const FileInfo kept = Put("t", "kept\n");
  std::FILE* orphan = std::fopen((dir_ / "file-0123456789abcdef01234567").c_str(), "w");
  std::fputs("cut by a crash", orphan);
  std::fclose(orphan);
  store_.reset();
  auto reopened = LocalFileStore::Open(dir_.string());
  ASSERT_TRUE(reopened.ok());
  store_ = std::move(*reopened);
  EXPECT_EQ(FilesOnDisk(), 1u);
  EXPECT_EQ(*store_->Read("t", kept.id, 0, 100), "kept\n");
}

// An expired file's bytes go with its row (the expiry itself: file_store_contract_test.cc).
TEST_F(LocalFileStoreTest, AnExpiredFilesBytesAreRemoved) {
  const FileInfo old_file = Put("t", "a\n", /*keep_ms=*/1000);
  Put("t", "b\n");
  EXPECT_EQ(FilesOnDisk(), 2u);
  EXPECT_EQ(*store_->DeleteExpired(old_file.created_at + 1000), 1);
  EXPECT_EQ(FilesOnDisk(), 1u);
}

}  // namespace
}  // namespace glmq
