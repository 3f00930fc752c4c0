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

TEST_F(LocalFileStoreTest, KeepsWhatWasUploadedAndReadsItBackInPieces) {
  std::string bytes;
  for (int i = 0; i < 5000; ++i) bytes += "{\"custom_id\":\"" + std::to_string(i) + "\"}\n";
  const FileInfo info = Put("team-a", bytes);
  EXPECT_EQ(info.id.rfind("file-", 0), 0u);
  EXPECT_EQ(info.bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_GT(info.created_at, 0);

  std::string back;
  for (;;) {
    auto piece = store_->Read("team-a", info.id, static_cast<int64_t>(back.size()), 4096);
    ASSERT_TRUE(piece.ok());
    if (piece->empty()) break;
    back += *piece;
  }
  EXPECT_EQ(back, bytes);
  EXPECT_EQ(*store_->Get("team-a", info.id), info);
}

// Another tenant's file is as unknown as one that never was.
TEST_F(LocalFileStoreTest, AnotherTenantsFileIsNotFound) {
  const FileInfo info = Put("team-a", "x\n");
  EXPECT_EQ(store_->Get("team-b", info.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Read("team-b", info.id, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("team-b", info.id).code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->List("team-b", {})->files.empty());
  EXPECT_TRUE(store_->Get("team-a", info.id).ok());
}

TEST_F(LocalFileStoreTest, ListsNewestFirstInPagesAndByPurpose) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Put("t", "line\n").id);
  auto first = store_->List("t", {.limit = 2});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->files.size(), 2u);
  EXPECT_TRUE(first->has_more);
  EXPECT_EQ(first->files[0].id, ids[4]);
  EXPECT_EQ(first->files[1].id, ids[3]);
  auto rest = store_->List("t", {.after = ids[3], .limit = 10});
  ASSERT_EQ(rest->files.size(), 3u);
  EXPECT_FALSE(rest->has_more);
  EXPECT_EQ(rest->files[2].id, ids[0]);
  auto ascending = store_->List("t", {.after = ids[1], .limit = 10, .ascending = true});
  ASSERT_EQ(ascending->files.size(), 3u);
  EXPECT_EQ(ascending->files[0].id, ids[2]);
  EXPECT_TRUE(store_->List("t", {.purpose = "batch_output"})->files.empty());
  EXPECT_EQ(store_->List("t", {.after = "file-unknown"}).status().code(), StatusCode::kNotFound);
}

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

TEST_F(LocalFileStoreTest, ExpiredFilesAreDeleted) {
  const FileInfo old_file = Put("t", "a\n", /*keep_ms=*/1000);
  const FileInfo kept = Put("t", "b\n");
  EXPECT_EQ(old_file.expires_at, old_file.created_at + 1000);
  EXPECT_EQ(kept.expires_at, 0);
  EXPECT_EQ(*store_->DeleteExpired(old_file.created_at + 999), 0);
  EXPECT_EQ(*store_->DeleteExpired(old_file.created_at + 1000), 1);
  EXPECT_EQ(store_->Get("t", old_file.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Get("t", kept.id).ok());
  EXPECT_EQ(FilesOnDisk(), 1u);
}

}  // namespace
}  // namespace glmq
