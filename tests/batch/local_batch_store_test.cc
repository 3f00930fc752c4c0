#include "batch/local_batch_store.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace glmq {
namespace {

class LocalBatchStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("glmq-batches-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    auto store = LocalBatchStore::Open(path_.string());
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
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

  std::filesystem::path path_;
  std::unique_ptr<LocalBatchStore> store_;
};

TEST_F(LocalBatchStoreTest, CountsFollowTheLinesAndAResultIsWrittenOnce) {
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
  ASSERT_TRUE(store_->AddLines(b.id, lines).ok());
  ASSERT_TRUE(store_->AddLines(b.id, lines).ok());  // again, as a resumed runner does
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

TEST_F(LocalBatchStoreTest, AnUpdateFromAStatusItLeftIsAConflict) {
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
TEST_F(LocalBatchStoreTest, EndedBatchesAreDeletedWithTheirLines) {
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

TEST_F(LocalBatchStoreTest, ATenantListsItsOwnNewestFirstAndSeesNoOtherTenants) {
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

}  // namespace
}  // namespace glmq
