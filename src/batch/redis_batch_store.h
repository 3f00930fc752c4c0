// RedisBatchStore: the batches of `glmq gateway`, in the Redis the gateways and workers share,
// so that a batch outlives any one gateway and its runner may move to another (the holder of
// the "batches" lease). Same contract as LocalBatchStore (batch_store.h).
//
// Key layout (P = prefix, the job store's):
//   P batch:<id>           hash: tenant, status, record (EncodeBatch), seq, ended_at, and the
//                          counts of its lines: total, completed, failed, input_tokens,
//                          cached_tokens, output_tokens (each changed by the same script
//                          that changes a line, so they never disagree with the lines)
//   P batch_seq            counter: creation order (listings page by it)
//   P batches:<tenant>     zset: the tenant's batches, score seq, member id
//   P batches_active       zset: batches not in a terminal status, score seq, member id
//   P batches_ended        zset: terminal batches, score ended_at, member id
//   P batch_statuses       hash: status -> how many batches are in it
//   P batch_lines:<id>     zset: every line's number (score and member)
//   P batch_pending:<id>   zset: the numbers of lines without a result
//   P batch_line:<id>      hash: number -> {custom_id, job_id} (JSON)
//   P batch_result:<id>    hash: number -> {result, ok, usage} (JSON), written once
// Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "batch/batch_store.h"

namespace glmq {

namespace redis {
class Pool;
struct Reply;
}  // namespace redis

class RedisBatchStore : public BatchStore {
 public:
  // `url` as RedisStoreOptions::url; `prefix` the job store's.
  static Result<std::unique_ptr<RedisBatchStore>> Open(const std::string& url,
                                                       const std::string& prefix);
  ~RedisBatchStore() override;

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
  enum Script { kCreate, kUpdate, kDelete, kAddLines, kSetResults, kScriptCount };
  RedisBatchStore(std::unique_ptr<redis::Pool> pool, std::string prefix);
  // Runs a script with ARGV = prefix, then `args`; an error reply becomes its Status.
  Result<redis::Reply> RunForReply(Script script, const std::vector<std::string_view>& args,
                                   bool retry);
  // RunForReply, for scripts that answer an integer.
  Result<int64_t> Run(Script script, const std::vector<std::string_view>& args, bool retry);
  // The batches whose ids are given, in that order (ones deleted meanwhile left out).
  Result<std::vector<Batch>> Read(const std::vector<std::string>& ids);
  // The lines numbered in `numbers`, with their results.
  Result<std::vector<BatchLine>> ReadLines(const std::string& batch_id,
                                           const std::vector<std::string>& numbers);
  Result<std::vector<std::string>> Numbers(const std::string& zset, int64_t after_line,
                                           int32_t limit);
  std::string Key(std::string_view what, std::string_view id = {}) const;

  std::unique_ptr<redis::Pool> pool_;
  const std::string prefix_;
  std::string shas_[kScriptCount];
};

}  // namespace glmq
