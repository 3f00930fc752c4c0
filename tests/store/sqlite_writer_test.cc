// GroupCommitWriter on a real SQLite file: a write that fails leaves none of its changes and
// takes none of the others' with it, whether it ran in its own savepoint or shared one with
// writes that may run again.
#include "store/sqlite_writer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace glmq::sqlite {
namespace {

namespace fs = std::filesystem;

class GroupCommitWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "glmq_writer_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto db = Connection::OpenDurable(dir_ + "/w.db", 1000);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t (x INTEGER PRIMARY KEY)").ok());
    auto writer = GroupCommitWriter::Start(
        std::move(*db),
        [this](const std::string& id, JobState, ChangeOrigin) {
          std::lock_guard lock(mu_);
          published_.push_back(id);
        },
        nullptr);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    writer_ = std::move(*writer);
  }
  void TearDown() override {
    writer_.reset();
    fs::remove_all(dir_);
  }

  // A write that inserts x, says so, and then fails when x is `fails_at`; runs[x] counts
  // the times it ran.
  GroupCommitWriter::WriteFn InsertX(int x, int fails_at) {
    return [this, x, fails_at](WriteContext& ctx) -> Status {
      runs_[x] += 1;
      static constexpr char kInsert[] = "INSERT INTO t (x) VALUES (?1)";
      GLMQ_ASSIGN_OR_RETURN(Statement insert, ctx.db.Prepare(kInsert));
      insert.BindInt(1, x);
      GLMQ_RETURN_IF_ERROR(insert.Run());
      ctx.Publish(std::to_string(x), JobState::kQueued);
      if (x == fails_at) return InvalidArgument("write " + std::to_string(x) + " refuses");
      return Status::Ok();
    };
  }

  // The rows of t, read inside a write (the writer owns the connection).
  std::vector<int64_t> Rows() {
    std::vector<int64_t> rows;
    Status s = writer_->Write([&rows](WriteContext& ctx) -> Status {
      static constexpr char kSelect[] = "SELECT x FROM t ORDER BY x";
      GLMQ_ASSIGN_OR_RETURN(Statement select, ctx.db.Prepare(kSelect));
      for (;;) {
        GLMQ_ASSIGN_OR_RETURN(bool row, select.Step());
        if (!row) return Status::Ok();
        rows.push_back(select.Int(0));
      }
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return rows;
  }

  std::string dir_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::mutex mu_;
  std::vector<std::string> published_;
  int runs_[5] = {};
};

TEST_F(GroupCommitWriterTest, AFailedWriteAmongSharedOnesLosesOnlyItsOwnChanges) {
  std::vector<GroupCommitWriter::WriteFn> fns;
  for (int x = 0; x < 5; ++x) fns.push_back(InsertX(x, /*fails_at=*/2));
  const std::vector<Status> statuses =
      writer_->WriteAll(std::move(fns), GroupCommitWriter::Rerun::kSafe);

  ASSERT_EQ(statuses.size(), 5u);
  for (int x = 0; x < 5; ++x) {
    EXPECT_EQ(statuses[x].ok(), x != 2) << x << ": " << statuses[x].ToString();
  }
  EXPECT_EQ(statuses[2].code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Rows(), (std::vector<int64_t>{0, 1, 3, 4}));
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(published_, (std::vector<std::string>{"0", "1", "3", "4"}));
  }
  // The shared run was undone once: those before the failed one ran again together, the
  // failed one alone, and those after it for the first time.
  EXPECT_EQ(writer_->reruns(), 1);
  EXPECT_EQ(runs_[0], 2);
  EXPECT_EQ(runs_[1], 2);
  EXPECT_EQ(runs_[2], 2);
  EXPECT_EQ(runs_[3], 1);
  EXPECT_EQ(runs_[4], 1);
}

TEST_F(GroupCommitWriterTest, WritesThatMayNotRunAgainRunOnceEachInItsOwnSavepoint) {
  std::vector<GroupCommitWriter::WriteFn> fns;
  for (int x = 0; x < 5; ++x) fns.push_back(InsertX(x, /*fails_at=*/2));
  const std::vector<Status> statuses = writer_->WriteAll(std::move(fns));

  for (int x = 0; x < 5; ++x) EXPECT_EQ(statuses[x].ok(), x != 2) << x;
  EXPECT_EQ(Rows(), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(writer_->reruns(), 0);
  for (int x = 0; x < 5; ++x) EXPECT_EQ(runs_[x], 1) << x;
}

TEST_F(GroupCommitWriterTest, SharedWritesThatAllSucceedRunOnce) {
  std::vector<GroupCommitWriter::WriteFn> fns;
  for (int x = 0; x < 5; ++x) fns.push_back(InsertX(x, /*fails_at=*/-1));
  const std::vector<Status> statuses =
      writer_->WriteAll(std::move(fns), GroupCommitWriter::Rerun::kSafe);

  for (const Status& s : statuses) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Rows(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(writer_->reruns(), 0);
  for (int x = 0; x < 5; ++x) EXPECT_EQ(runs_[x], 1) << x;
}

}  // namespace
}  // namespace glmq::sqlite
