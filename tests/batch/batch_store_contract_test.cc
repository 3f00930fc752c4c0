// The BatchStore contract: the same tests against LocalBatchStore (an SQLite file) and
// RedisBatchStore (a real redis-server, a fresh key prefix per test; skipped when
// redis-server is not installed).
#include <gtest/gtest.h>

#include <filesystem>

#include "batch/local_batch_store.h"
#include "batch/redis_batch_store.h"
#include "store/redis_server.h"

namespace glmq {
namespace {

enum class Backend { kLocal, kRedis };

class BatchStoreContractTest : public ::testing::TestWithParam<Backend> {
 public:
  static void TearDownTestSuite() { redis_.Stop(); }

 protected:
  void SetUp() override {
    if (GetParam() == Backend::kRedis) {
      if (RedisServer::FindBinary().empty()) GTEST_SKIP() << "redis-server is not installed";
      std::string why;
      RedisServer* redis = redis_.Get(&why);
      ASSERT_NE(redis, nullptr) << why;
      auto store = RedisBatchStore::Open(redis->url(), redis_.NextPrefix("batches"));
      ASSERT_TRUE(store.ok()) << store.status().message();
      store_ = std::move(*store);
      return;
    }
    static int files = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("glmq-batches-" + std::to_string(::getpid()) + "-" + std::to_string(++files) + ".db");
    auto store = LocalBatchStore::Open(path_.string());
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    if (path_.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path_.string() + suffix);
  }

  Batch Make(const std::string& tenant) {
    Batch b;
    b.id = NewBatchId();
    b.tenant = tenant;
    b.endpoint = "/v1/chat/completions";
    b.input_file_id = "file-x";
    b.completion_window = "24h";
    b.created_at = 1;
    b.expires_at = 2;
    EXPECT_TRUE(store_->Create(b).ok());
    return b;
  }

  static inline SuiteRedisServer redis_;
  std::filesystem::path path_;
  std::unique_ptr<BatchStore> store_;
};

TEST_P(BatchStoreContractTest, CountsFollowTheLinesAndAResultIsWrittenOnce) {
  const Batch b = Make("t");
  std::vector<BatchLine> lines;
  for (int i = 1; i <= 4; ++i) {
    BatchLine line;
    line.line = i;
    line.custom_id = "c" + std::to_string(i);
    line.job_id = "j";
    lines.push_back(line);
  }
  lines[3].result = R"({"refused":true})";  // refused before it ran
  EXPECT_EQ(*store_->AddLines(b.id, lines), std::vector<bool>(4, true));
  // Again, as a resumed runner does: nothing added, nothing changed.
  EXPECT_EQ(*store_->AddLines(b.id, lines), std::vector<bool>(4, false));
  auto pending = store_->Pending(b.id, 0, 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].custom_id, "c1");

  BatchLine done = (*pending)[0];
  done.result = "answer";
  done.ok = true;
  done.usage = {.input_tokens = 10, .cached_tokens = 4, .output_tokens = 3};
  EXPECT_TRUE(*store_->SetResult(b.id, done));
  done.result = "another answer";
  EXPECT_FALSE(*store_->SetResult(b.id, done));  // never twice
  BatchLine failed = (*pending)[1];
  failed.result = "error";
  EXPECT_TRUE(*store_->SetResult(b.id, failed));

  auto got = store_->Get("t", b.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->total, 4);
  EXPECT_EQ(got->completed, 1);
  EXPECT_EQ(got->failed, 2);
  EXPECT_EQ(got->usage, (BatchUsage{10, 4, 3}));
  auto all = store_->Lines(b.id, 0, 10);
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].result, "answer");
  EXPECT_EQ(store_->Pending(b.id, 0, 10)->size(), 1u);
  EXPECT_EQ(store_->Pending(b.id, 2, 10)->at(0).line, 3);
}

// Results written together: each line once, a line already answered left as it was.
TEST_P(BatchStoreContractTest, ResultsWrittenTogetherAreEachWrittenOnce) {
  const Batch b = Make("t");
  std::vector<BatchLine> lines(3);
  for (int i = 0; i < 3; ++i) {
    lines[i].line = i + 1;
    lines[i].custom_id = "c" + std::to_string(i + 1);
    lines[i].job_id = "j" + std::to_string(i + 1);
  }
  ASSERT_TRUE(store_->AddLines(b.id, lines).ok());
  lines[0].result = "first";
  lines[0].ok = true;
  ASSERT_TRUE(*store_->SetResult(b.id, lines[0]));
  for (BatchLine& l : lines) {
    l.result = "answer " + l.custom_id;
    l.ok = true;
    l.usage = {.input_tokens = 5, .cached_tokens = 1, .output_tokens = 2};
  }
  auto written = store_->SetResults(b.id, lines);
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(*written, (std::vector<bool>{false, true, true}));
  const auto all = store_->Lines(b.id, 0, 10);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].result, "first");
  EXPECT_EQ((*all)[2].result, "answer c3");
  const Batch got = *store_->Get("t", b.id);
  EXPECT_EQ(got.completed, 3);
  EXPECT_EQ(got.usage, (BatchUsage{10, 2, 4}));
  EXPECT_TRUE(store_->Pending(b.id, 0, 10)->empty());
  auto counts = store_->CountByStatus();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[BatchStatus::kValidating], 1);
}

TEST_P(BatchStoreContractTest, AnUpdateFromAStatusItLeftIsAConflict) {
  Batch b = Make("t");
  b.status = BatchStatus::kInProgress;
  ASSERT_TRUE(store_->Update(b, BatchStatus::kValidating).ok());
  b.status = BatchStatus::kCancelling;
  EXPECT_EQ(store_->Update(b, BatchStatus::kValidating).code(), StatusCode::kConflict);
  EXPECT_EQ(store_->Get("t", b.id)->status, BatchStatus::kInProgress);
  ASSERT_EQ(store_->Active()->size(), 1u);
  b.status = BatchStatus::kCompleted;
  ASSERT_TRUE(store_->Update(b, BatchStatus::kInProgress).ok());
  EXPECT_TRUE(store_->Active()->empty());
}

// An ended batch goes with its lines once its end is past the retention; one still running
// stays however old.
TEST_P(BatchStoreContractTest, EndedBatchesAreDeletedWithTheirLines) {
  Batch ended = Make("t");
  Batch running = Make("t");
  BatchLine line;
  line.line = 1;
  line.custom_id = "c";
  ASSERT_TRUE(store_->AddLines(ended.id, {line}).ok());
  ASSERT_TRUE(store_->AddLines(running.id, {line}).ok());
  running.status = BatchStatus::kInProgress;
  ASSERT_TRUE(store_->Update(running, BatchStatus::kValidating).ok());
  ended.status = BatchStatus::kCompleted;
  const TimeMs before_end = NowMs();
  ASSERT_TRUE(store_->Update(ended, BatchStatus::kValidating).ok());
  EXPECT_EQ(*store_->DeleteEnded(before_end - 1), 0);
  EXPECT_EQ(*store_->DeleteEnded(NowMs() + 1), 1);
  EXPECT_EQ(store_->Get("t", ended.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Lines(ended.id, 0, 10)->empty());
  EXPECT_TRUE(store_->Get("t", running.id).ok());
  EXPECT_EQ(store_->Lines(running.id, 0, 10)->size(), 1u);
}

TEST_P(BatchStoreContractTest, ATenantListsItsOwnNewestFirstAndSeesNoOtherTenants) {
  const Batch first = Make("a");
  const Batch other = Make("b");
  const Batch second = Make("a");
  auto page = store_->List("a", "", 1);
  ASSERT_EQ(page->batches.size(), 1u);
  EXPECT_EQ(page->batches[0].id, second.id);
  EXPECT_TRUE(page->has_more);
  auto rest = store_->List("a", second.id, 10);
  ASSERT_EQ(rest->batches.size(), 1u);
  EXPECT_EQ(rest->batches[0].id, first.id);
  EXPECT_FALSE(rest->has_more);
  EXPECT_EQ(store_->Get("a", other.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->List("a", other.id, 10).status().code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Stores, BatchStoreContractTest,
                         ::testing::Values(Backend::kLocal, Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kLocal ? "Local" : "Redis";
                         });

}  // namespace
}  // namespace glmq
