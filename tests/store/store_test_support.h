// Jobs for store tests, shared by the SQLite-only tests and the contract suite that runs on
// every JobStore.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/job.h"
#include "store/job_store.h"

namespace glmq {

// A queued job with a fresh id, a small text and the given place and size.
inline Job MakeTestJob(int64_t order_key, TimeMs created_at, int64_t prompt_tokens = 100,
                       int32_t max_tokens = 50) {
  Job job;
  job.id = NewJobId();
  job.order_key = order_key;
  job.created_at = created_at;
  job.prompt_tokens = prompt_tokens;
  job.request.text = "document " + job.id;
  job.request.question = "what?";
  job.request.sampling.max_tokens = max_tokens;
  return job;
}

inline Job InsertTestJob(JobStore& store, int64_t order_key, TimeMs created_at,
                         int64_t prompt_tokens = 100, int32_t max_tokens = 50) {
  Job job = MakeTestJob(order_key, created_at, prompt_tokens, max_tokens);
  Status status = store.Insert(job);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return job;
}

inline Job MustGet(JobStore& store, const std::string& id) {
  auto job = store.Get(id);
  EXPECT_TRUE(job.ok()) << job.status().ToString();
  return job.ok() ? std::move(job).value() : Job{};
}

inline Job MustClaim(JobStore& store, const std::string& worker, int64_t lease_ms = 30000) {
  auto claimed = store.ClaimNext(worker, lease_ms);
  EXPECT_TRUE(claimed.ok()) << claimed.status().ToString();
  EXPECT_TRUE(claimed.ok() && claimed->has_value()) << "queue is empty";
  return claimed.ok() && claimed->has_value() ? std::move(**claimed) : Job{};
}

// The helpers above as members of a fixture that holds one store, which it names through
// store().
class StoreTestHelpers {
 protected:
  virtual ~StoreTestHelpers() = default;
  virtual JobStore& store() = 0;

  static Job MakeJob(int64_t order_key, TimeMs created_at, int64_t prompt_tokens = 100,
                     int32_t max_tokens = 50) {
    return MakeTestJob(order_key, created_at, prompt_tokens, max_tokens);
  }
  Job Insert(int64_t order_key, TimeMs created_at, int64_t prompt_tokens = 100,
             int32_t max_tokens = 50) {
    return InsertTestJob(store(), order_key, created_at, prompt_tokens, max_tokens);
  }
  Job MustGet(const std::string& id) { return glmq::MustGet(store(), id); }
  Job MustClaim(const std::string& worker, int64_t lease_ms = 30000) {
    return glmq::MustClaim(store(), worker, lease_ms);
  }
};

}  // namespace glmq
