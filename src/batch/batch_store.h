// BatchStore: where batches and their lines are kept. A batch's counts and usage are not
// stored apart: Get adds them up from its lines, so they never disagree with the output.
// A line's result is written once (SetResult refuses a second), which is what keeps an
// answer from appearing twice in the output file, whichever runner records it.
//
// Error contract: kNotFound for a batch the tenant does not have; kConflict for an Update
// from a status the batch is no longer in; kStorageFull / kInternal for the store's own
// failures. Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "batch/batch.h"
#include "core/status.h"

namespace glmq {

struct BatchPage {
  std::vector<Batch> batches;  // newest first
  bool has_more = false;
};

class BatchStore {
 public:
  virtual ~BatchStore() = default;
  virtual Status Create(const Batch& batch) = 0;
  virtual Result<Batch> Get(const std::string& tenant, const std::string& id) = 0;
  // Get of whichever tenant's batch it is: for glmq's own use (its webhook), never a
  // client's.
  virtual Result<Batch> Find(const std::string& id) = 0;
  // Newest first, after the batch `after` (none: from the newest).
  virtual Result<BatchPage> List(const std::string& tenant, const std::string& after,
                                 int32_t limit) = 0;
  // Every batch not in a terminal status, of every tenant: the runner's work.
  virtual Result<std::vector<Batch>> Active() = 0;
  // How many batches are in each status (those retained), for the metrics.
  virtual Result<std::map<BatchStatus, int64_t>> CountByStatus() = 0;
  // Writes the batch's status, errors, times and file ids if its status is still `from`.
  virtual Status Update(const Batch& batch, BatchStatus from) = 0;

  // Deletes the batches that reached a terminal status at or before `before`, with their
  // lines (their files go by the file store's own expiry); returns how many.
  virtual Result<int64_t> DeleteEnded(TimeMs before) = 0;

  // Adds lines; a line already there is left as it is (a runner that resumes adds them
  // again). A line with a result set is one refused before it ran. For each line, whether it
  // was added now.
  virtual Result<std::vector<bool>> AddLines(const std::string& batch_id,
                                             const std::vector<BatchLine>& lines) = 0;
  // Lines without a result, in line order after `after_line`.
  virtual Result<std::vector<BatchLine>> Pending(const std::string& batch_id, int64_t after_line,
                                                 int32_t limit) = 0;
  // Sets the results of lines that have none, in one write: for each line, false when it
  // had one already (nothing written for it).
  virtual Result<std::vector<bool>> SetResults(const std::string& batch_id,
                                               const std::vector<BatchLine>& lines) = 0;
  // SetResults of one line.
  Result<bool> SetResult(const std::string& batch_id, const BatchLine& line) {
    GLMQ_ASSIGN_OR_RETURN(std::vector<bool> written, SetResults(batch_id, {line}));
    return static_cast<bool>(written.at(0));
  }
  // All lines in line order after `after_line`, results included: what the files are made of.
  virtual Result<std::vector<BatchLine>> Lines(const std::string& batch_id, int64_t after_line,
                                               int32_t limit) = 0;
};

}  // namespace glmq
