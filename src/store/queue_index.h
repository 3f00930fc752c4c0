// QueueIndex: an in-memory copy of the queue's order and sizes, so that the questions every
// submit asks (how much work is ahead of this order key? where is this job?) cost O(log n)
// instead of a scan of every queued job ahead.
//
// It answers exactly what the database would only while every change to the set of queued
// jobs reaches it: SqliteJobStore fills it at Open and its writer thread applies the changes
// of each transaction once it commits. A missed change makes the numbers drift silently, so
// CheckAgainst compares it with the database's queued rows (tests, debugging).
//
// It also keeps each tenant's queue and the service counters of fair share
// (store/service_counters.h): with fair share on, the head is the first job of the
// backlogged tenant with the least service counted; positions and the work before a key
// stay those of the global order (an approximation under fair share).
//
// Threads: any thread may call any method; one mutex guards the whole index, held for
// O(log n) per question and per change (plus O(tenants) where fair share picks one).
#pragma once

#include <algorithm>
#include <compare>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "store/job_store.h"
#include "store/service_counters.h"

namespace glmq {

// Where a queued job sorts. The queue runs in (order_key, created_at, seq) order; seq is
// the store's insertion counter, so no two jobs share a key.
struct QueueKey {
  int64_t order_key = 0;
  TimeMs created_at = 0;
  int64_t seq = 0;

  auto operator<=>(const QueueKey&) const = default;
};

struct QueuedJob {
  QueueKey key;
  int64_t prompt_tokens = 0;
  int64_t max_tokens = 0;
  std::string tenant;
  int64_t shared_prompt_tokens = 0;  // Job::shared_prompt_tokens

  // The prompt tokens it will read: what the sums of work count.
  int64_t prompt_tokens_to_read() const {
    return std::max<int64_t>(0, prompt_tokens - shared_prompt_tokens);
  }

  bool operator==(const QueuedJob&) const = default;
};

// Service a tenant received (a claim: its prompt and max_tokens) or is refunded (its end:
// the max_tokens it did not use, negative), for fair share's counters.
struct ServiceCharge {
  std::string tenant;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
};

// One job entering or leaving the queued state, or (`served` set, `id` empty) a charge.
struct QueueChange {
  std::string id;
  std::optional<QueuedJob> job;  // set: the job entered the queue; empty: it left
  std::optional<ServiceCharge> served;
};

// An order-statistics treap over QueueKey. Each node keeps the job count and token sums of
// its subtree, so the totals below any key come from one root-to-leaf walk. Not
// thread-safe: QueueIndex owns one under its mutex.
class QueueTree {
 public:
  QueueTree() = default;

  // `job.key` must not be present already.
  void Insert(const QueuedJob& job);
  // False when `key` is absent.
  bool Erase(const QueueKey& key);
  void Clear();

  // Jobs whose key is below `key`, and their token sums.
  JobStore::WorkAhead Below(const QueueKey& key) const;
  // The job with the lowest key; nullopt when empty. O(log n).
  std::optional<QueuedJob> Min() const;
  // The first job in key order, among the first `scan`, whose prompt is shorter than
  // `prompt_tokens_below`; nullopt when none is.
  std::optional<QueuedJob> FirstShorter(int64_t prompt_tokens_below, int scan) const;
  int64_t size() const { return size_; }

  // Every job, in queue order. Assumes a sound tree: CheckInvariants first if in doubt.
  std::vector<QueuedJob> InOrder() const;
  // Checks the search order, the heap order of priorities and every subtree total; kInternal
  // naming the first broken one.
  Status CheckInvariants() const;

 private:
  static constexpr int32_t kNil = -1;

  struct Node {
    QueuedJob job;
    JobStore::WorkAhead subtree;  // this node and everything under it
    uint64_t priority = 0;
    int32_t left = kNil;
    int32_t right = kNil;
  };

  int32_t NewNode(const QueuedJob& job);
  void Pull(int32_t node);
  const JobStore::WorkAhead& Totals(int32_t node) const;
  int32_t InsertAt(int32_t node, int32_t fresh);
  int32_t EraseAt(int32_t node, const QueueKey& key, bool* erased);
  // Splits `node` into the keys below `key` (`*below`) and the rest (`*rest`).
  void Split(int32_t node, const QueueKey& key, int32_t* below, int32_t* rest);
  // Joins two treaps whose keys are all lower in `low` than in `high`.
  int32_t Merge(int32_t low, int32_t high);
  // Calls `visit(job)` for each job in key order until it returns false.
  template <typename Visit>
  void WalkInOrder(Visit visit) const;
  // Checks `node`'s subtree, whose keys must lie strictly between `lower` and `upper` (null:
  // unbounded) and whose priorities must not exceed `max_priority`; counts its nodes.
  Status CheckSubtree(int32_t node, const QueueKey* lower, const QueueKey* upper,
                      uint64_t max_priority, int64_t* count) const;

  // Nodes live in one vector, linked by index: no allocation per job once it has grown,
  // and freed slots are reused.
  std::vector<Node> nodes_;
  std::vector<int32_t> free_slots_;
  int32_t root_ = kNil;
  int64_t size_ = 0;
  uint64_t next_priority_seed_ = 0;
};

class QueueIndex {
 public:
  QueueIndex() = default;
  QueueIndex(const QueueIndex&) = delete;
  QueueIndex& operator=(const QueueIndex&) = delete;

  // Replaces the whole content with `jobs` (id, job): the queued jobs of the database.
  void Reset(const std::vector<std::pair<std::string, QueuedJob>>& jobs);
  // Applies the changes of one commit, in order, under one lock, so readers never see half
  // a commit. A job that enters while present replaces its old entry, and one that leaves
  // while absent changes nothing.
  void Apply(const std::vector<QueueChange>& changes);

  // Queued work with an order key strictly below `order_key`.
  JobStore::WorkAhead WorkBefore(int64_t order_key) const;
  // Queued jobs that sort before `key` (which need not be queued itself), and their work.
  int64_t JobsBefore(const QueueKey& key) const;
  JobStore::WorkAhead WorkBefore(const QueueKey& key) const;
  // The job that runs next: with fair share on, the first of the backlogged tenant with
  // the least service counted (of equal ones, the smaller job); otherwise the first in the
  // global order. `prompt_tokens_below` > 0: only a job with a shorter prompt (with fair
  // share, the least served tenant whose first job is that short; without, the global first
  // if it is). `pass_over_from` > 0: jobs at least that long are passed over, as
  // JobStore::ClaimLimit says. nullopt when there is none.
  std::optional<QueuedJob> Head(int64_t prompt_tokens_below = 0, int64_t pass_over_from = 0) const;
  // Claims pick the tenant first (default), or take the global order.
  void SetFairShare(bool on);
  void SetWeights(TenantWeights weights);
  // A tenant's service counter (tests, debugging).
  double ServiceOf(const std::string& tenant) const;
  // 1-based place of a queued job; nullopt when `id` is not in the index.
  std::optional<int64_t> Position(const std::string& id) const;
  int64_t size() const;

  // kInternal unless the index holds exactly `queued` (any order) and answers Position and
  // WorkBefore for each of them as a plain count over `queued` would. O(n log n).
  Status CheckAgainst(std::vector<std::pair<std::string, QueuedJob>> queued) const;

 private:
  // mu_ held. `moving`: the job is added back at once (QueueIndex::Apply's replacement).
  void Add(const std::string& id, const QueuedJob& job);
  void Remove(std::unordered_map<std::string, QueuedJob>::iterator it, bool moving);

  mutable std::mutex mu_;
  std::unordered_map<std::string, QueuedJob> by_id_;  // guarded by mu_
  QueueTree tree_;                                    // guarded by mu_
  // Each backlogged tenant's queued jobs by key (the id); a tenant without any is erased.
  std::map<std::string, std::map<QueueKey, std::string>> tenant_queues_;  // guarded by mu_
  ServiceCounters counters_;                                              // guarded by mu_
  bool fair_share_ = true;                                                // guarded by mu_
};

}  // namespace glmq
