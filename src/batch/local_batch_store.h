// LocalBatchStore: the batches of `glmq serve`, in an SQLite database of the data directory
// (batches.db): one row a batch (its record as JSON beside its status), one a line.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "batch/batch_store.h"

namespace glmq {

namespace sqlite {
class Connection;
}

class LocalBatchStore : public BatchStore {
 public:
  static Result<std::unique_ptr<LocalBatchStore>> Open(const std::string& path);
  ~LocalBatchStore() override;

  Status Create(const Batch& batch) override;
  Result<Batch> Get(const std::string& tenant, const std::string& id) override;
  Result<Batch> Find(const std::string& id) override;
  Result<BatchPage> List(const std::string& tenant, const std::string& after,
                         int32_t limit) override;
  Result<std::vector<Batch>> Active() override;
  Result<std::map<BatchStatus, int64_t>> CountByStatus() override;
  Status Update(const Batch& batch, BatchStatus from) override;
  Result<int64_t> DeleteEnded(TimeMs before) override;
  Result<std::vector<bool>> AddLines(const std::string& batch_id,
                                     const std::vector<BatchLine>& lines) override;
  Result<std::vector<BatchLine>> Pending(const std::string& batch_id, int64_t after_line,
                                         int32_t limit) override;
  Result<std::vector<bool>> SetResults(const std::string& batch_id,
                                       const std::vector<BatchLine>& lines) override;
  Result<std::vector<BatchLine>> Lines(const std::string& batch_id, int64_t after_line,
                                       int32_t limit) override;

 private:
  explicit LocalBatchStore(std::unique_ptr<sqlite::Connection> db);
  // A batch's lines in order after `after_line`, all or only those without a result.
  // Holds mu_.
  Result<std::vector<BatchLine>> SelectLines(const std::string& batch_id, int64_t after_line,
                                             int32_t limit, bool pending_only);
  // Adds the counts and usage of its lines to a batch read from its row. Holds mu_.
  Status AddCounts(Batch& batch);

  std::mutex mu_;  // guards db_
  std::unique_ptr<sqlite::Connection> db_;
};

}  // namespace glmq
