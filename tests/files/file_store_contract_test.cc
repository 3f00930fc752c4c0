// The FileStore contract: the same tests against LocalFileStore (a temp directory) and
// RedisFileStore (a real redis-server, a fresh key prefix per test; skipped when
// redis-server is not installed). What only one of them does is tested beside it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "files/local_file_store.h"
#include "files/redis_file_store.h"
#include "store/redis_server.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

enum class Backend { kLocal, kRedis };

class FileStoreContractTest : public ::testing::TestWithParam<Backend> {
 public:
  static void TearDownTestSuite() { redis_.Stop(); }

 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRedis) {
      if (RedisServer::FindBinary().empty()) GTEST_SKIP() << "redis-server is not installed";
      std::string why;
      RedisServer* redis = redis_.Get(&why);
      ASSERT_NE(redis, nullptr) << why;
      auto store = RedisFileStore::Open(redis->url(), redis_.NextPrefix("files"));
      ASSERT_TRUE(store.ok()) << store.status().message();
      store_ = std::move(*store);
    } else {
      std::string pattern = (fs::temp_directory_path() / "glmq_files_XXXXXX").string();
      ASSERT_NE(mkdtemp(pattern.data()), nullptr);
      dir_ = pattern;
      auto store = LocalFileStore::Open(dir_.string());
      ASSERT_TRUE(store.ok()) << store.status().message();
      store_ = std::move(*store);
    }
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  FileInfo Put(const std::string& tenant, const std::string& bytes, int64_t keep_ms = 0,
               size_t piece = 1000) {
    auto upload = store_->Begin({.tenant = tenant, .filename = "in.jsonl", .purpose = "batch"});
    EXPECT_TRUE(upload.ok());
    for (size_t i = 0; i < bytes.size(); i += piece) {
      EXPECT_TRUE((*upload)->Append(std::string_view(bytes).substr(i, piece)).ok());
    }
    auto info = (*upload)->Commit(keep_ms);
    EXPECT_TRUE(info.ok()) << info.status().message();
    return *info;
  }

  std::string ReadAll(const std::string& tenant, const std::string& id, size_t piece) {
    std::string back;
    for (;;) {
      auto got = store_->Read(tenant, id, static_cast<int64_t>(back.size()), piece);
      EXPECT_TRUE(got.ok()) << got.status().message();
      if (!got.ok() || got->empty()) return back;
      back += *got;
    }
  }

  static inline SuiteRedisServer redis_;
  fs::path dir_;
  std::unique_ptr<FileStore> store_;
};

TEST_P(FileStoreContractTest, KeepsWhatWasUploadedAndReadsItBackInPieces) {
  std::string bytes;
  for (int i = 0; i < 5000; ++i) bytes += "{\"custom_id\":\"" + std::to_string(i) + "\"}\n";
  const FileInfo info = Put("team-a", bytes);
  EXPECT_EQ(info.id.rfind("file-", 0), 0u);
  EXPECT_EQ(info.bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_GT(info.created_at, 0);
  EXPECT_EQ(ReadAll("team-a", info.id, 4096), bytes);
  EXPECT_EQ(*store_->Get("team-a", info.id), info);
  EXPECT_EQ(*store_->Read("team-a", info.id, info.bytes, 10), "");
}

// Past the Redis store's chunk size, pieces written and read across chunk boundaries.
TEST_P(FileStoreContractTest, AFileOfSeveralMegabytesComesBackWhole) {
  std::string bytes(RedisFileStore::kChunkBytes * 2 + 12345, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + (i * 7) % 26);
  const FileInfo info = Put("t", bytes, 0, /*piece=*/300'001);
  EXPECT_EQ(info.bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(ReadAll("t", info.id, 700'000), bytes);
  const int64_t across = static_cast<int64_t>(RedisFileStore::kChunkBytes) - 5;
  EXPECT_EQ(*store_->Read("t", info.id, across, 10), bytes.substr(static_cast<size_t>(across), 10));
}

TEST_P(FileStoreContractTest, AnEmptyFileIsAFileWithNoBytes) {
  const FileInfo info = Put("t", "");
  EXPECT_EQ(info.bytes, 0);
  EXPECT_EQ(*store_->Read("t", info.id, 0, 10), "");
  EXPECT_TRUE(store_->Get("t", info.id).ok());
}

// Another tenant's file is as unknown as one that never was.
TEST_P(FileStoreContractTest, AnotherTenantsFileIsNotFound) {
  const FileInfo info = Put("team-a", "x\n");
  EXPECT_EQ(store_->Get("team-b", info.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Read("team-b", info.id, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("team-b", info.id).code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->List("team-b", {})->files.empty());
  EXPECT_TRUE(store_->Get("team-a", info.id).ok());
}

TEST_P(FileStoreContractTest, ListsNewestFirstInPagesAndByPurpose) {
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
  EXPECT_EQ(store_->List("t", {.purpose = "batch", .limit = 4})->files.size(), 4u);
  EXPECT_EQ(store_->List("t", {.after = "file-unknown"}).status().code(), StatusCode::kNotFound);
}

TEST_P(FileStoreContractTest, DeleteRemovesTheFile) {
  const FileInfo info = Put("t", "x\n");
  EXPECT_TRUE(store_->Delete("t", info.id).ok());
  EXPECT_EQ(store_->Get("t", info.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Read("t", info.id, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->List("t", {})->files.empty());
  EXPECT_EQ(store_->Delete("t", info.id).code(), StatusCode::kNotFound);
}

TEST_P(FileStoreContractTest, AnUploadThatDoesNotCommitIsNeverListed) {
  {
    auto upload = store_->Begin({.tenant = "t", .filename = "a", .purpose = "batch"});
    ASSERT_TRUE((*upload)->Append(std::string(RedisFileStore::kChunkBytes + 1, 'p')).ok());
  }
  EXPECT_TRUE(store_->List("t", {})->files.empty());
}

TEST_P(FileStoreContractTest, ExpiredFilesAreDeleted) {
  const FileInfo old_file = Put("t", "a\n", /*keep_ms=*/1000);
  const FileInfo kept = Put("t", "b\n");
  EXPECT_EQ(old_file.expires_at, old_file.created_at + 1000);
  EXPECT_EQ(kept.expires_at, 0);
  EXPECT_EQ(*store_->DeleteExpired(old_file.created_at + 999), 0);
  EXPECT_EQ(*store_->DeleteExpired(old_file.created_at + 1000), 1);
  EXPECT_EQ(store_->Get("t", old_file.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Get("t", kept.id).ok());
  EXPECT_EQ(*store_->DeleteExpired(old_file.created_at + 1000), 0);
}

// Chunks of an upload live a day until its commit makes them last as long as the file, so a
// gateway killed mid-upload leaves nothing for good; one dropped without a commit removes
// its chunks at once.
TEST(RedisFileStoreTest, AnUnfinishedUploadsChunksExpireAndADroppedOnesGoAtOnce) {
  if (RedisServer::FindBinary().empty()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer redis;
  ASSERT_TRUE(redis.Start()) << redis.last_error();
  auto store = RedisFileStore::Open(redis.url(), "p:");
  ASSERT_TRUE(store.ok()) << store.status().message();
  const std::string two_chunks(RedisFileStore::kChunkBytes * 2, 'x');
  {
    auto dropped = (*store)->Begin({.tenant = "t", .filename = "a", .purpose = "batch"});
    ASSERT_TRUE((*dropped)->Append(two_chunks).ok());
    EXPECT_EQ(redis.Command("DBSIZE"), ":2");
  }
  EXPECT_EQ(redis.Command("DBSIZE"), ":0");
  auto upload = (*store)->Begin({.tenant = "t", .filename = "a", .purpose = "batch"});
  ASSERT_TRUE((*upload)->Append(two_chunks).ok());
  ASSERT_TRUE((*upload)->Append("tail").ok());
  // The least time to live among the chunks (-1: none has one).
  const std::string least_ttl =
      "EVAL \"local m = nil for _, k in ipairs(redis.call('KEYS', 'p:file_chunk:*')) do "
      "local t = redis.call('PTTL', k) if m == nil or t < m then m = t end end return m\" 0";
  const std::string before = redis.Command(least_ttl);
  ASSERT_EQ(before.rfind(':', 0), 0u) << before;
  EXPECT_GT(std::stoll(before.substr(1)), 0);
  EXPECT_LE(std::stoll(before.substr(1)), RedisFileStore::kUploadTtlMs);
  auto info = (*upload)->Commit(0);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(redis.Command(least_ttl), ":-1");
  EXPECT_EQ(redis.Command("EXISTS p:file_chunk:" + info->id + ":2"), ":1");
  EXPECT_EQ(*(*store)->Read("t", info->id, info->bytes - 4, 10), "tail");
}

INSTANTIATE_TEST_SUITE_P(Stores, FileStoreContractTest,
                         ::testing::Values(Backend::kLocal, Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kLocal ? "Local" : "Redis";
                         });

}  // namespace
}  // namespace glmq
