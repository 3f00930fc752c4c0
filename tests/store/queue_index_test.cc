#include "store/queue_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace glmq {
namespace {

using WorkAhead = JobStore::WorkAhead;

QueuedJob MakeQueued(int64_t order_key, TimeMs created_at, int64_t seq, int64_t prompt_tokens,
                     int64_t max_tokens, std::string tenant = "") {
  return {.key = {.order_key = order_key, .created_at = created_at, .seq = seq},
          .prompt_tokens = prompt_tokens,
          .max_tokens = max_tokens,
          .tenant = std::move(tenant)};
}

QueueChange Enter(std::string id, const QueuedJob& job) {
  return {std::move(id), job, std::nullopt};
}
QueueChange Leave(std::string id) { return {std::move(id), std::nullopt, std::nullopt}; }
QueueChange Served(std::string tenant, int64_t prompt_tokens, int64_t output_tokens) {
  return {.id = {},
          .job = std::nullopt,
          .served = ServiceCharge{.tenant = std::move(tenant),
                                  .prompt_tokens = prompt_tokens,
                                  .output_tokens = output_tokens}};
}

// The plain answers, counted over every queued job as the SQL queries do.
class Model {
 public:
  void Apply(const QueueChange& change) {
    jobs_.erase(change.id);
    if (change.job) jobs_[change.id] = *change.job;
  }

  WorkAhead WorkBefore(int64_t order_key) const {
    WorkAhead work;
    for (const auto& [id, job] : jobs_) {
      if (job.key.order_key >= order_key) continue;
      work.jobs += 1;
      work.prompt_tokens += job.prompt_tokens;
      work.max_tokens += job.max_tokens;
    }
    return work;
  }

  std::optional<int64_t> Position(const std::string& id) const {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return std::nullopt;
    int64_t ahead = 0;
    for (const auto& [other_id, job] : jobs_) ahead += job.key < it->second.key ? 1 : 0;
    return ahead + 1;
  }

  std::vector<std::pair<std::string, QueuedJob>> Jobs() const {
    return {jobs_.begin(), jobs_.end()};
  }

 private:
  std::map<std::string, QueuedJob> jobs_;
};

void ExpectWork(const WorkAhead& got, const WorkAhead& want, const std::string& what) {
  EXPECT_EQ(got.jobs, want.jobs) << what;
  EXPECT_EQ(got.prompt_tokens, want.prompt_tokens) << what;
  EXPECT_EQ(got.max_tokens, want.max_tokens) << what;
}

TEST(QueueIndexTest, EmptyIndexHasNothingAhead) {
  QueueIndex index;
  ExpectWork(index.WorkBefore(0), {}, "empty");
  ExpectWork(index.WorkBefore(std::numeric_limits<int64_t>::max()), {}, "empty, max key");
  EXPECT_EQ(index.Position("job_a"), std::nullopt);
  EXPECT_EQ(index.size(), 0);
  EXPECT_TRUE(index.CheckAgainst({}).ok());
}

TEST(QueueIndexTest, OrdersByKeyThenCreatedAtThenSeq) {
  QueueIndex index;
  index.Apply({Enter("j30", MakeQueued(30, 1, 1, 3000, 300)),
               Enter("j10", MakeQueued(10, 2, 2, 1000, 100)),
               Enter("j20b", MakeQueued(20, 9, 3, 2500, 250)),
               Enter("j20a", MakeQueued(20, 4, 4, 2000, 200)),
               Enter("j20a_twin", MakeQueued(20, 4, 5, 1, 1))});
  EXPECT_EQ(index.Position("j10"), 1);
  EXPECT_EQ(index.Position("j20a"), 2);
  EXPECT_EQ(index.Position("j20a_twin"), 3);  // same key and time: the later insert
  EXPECT_EQ(index.Position("j20b"), 4);
  EXPECT_EQ(index.Position("j30"), 5);

  ExpectWork(index.WorkBefore(25), {4, 1000 + 2000 + 1 + 2500, 100 + 200 + 1 + 250}, "key 25");
  ExpectWork(index.WorkBefore(20), {1, 1000, 100}, "key 20: strictly lower keys only");
  ExpectWork(index.WorkBefore(10), {}, "key 10");
  EXPECT_EQ(index.JobsBefore({.order_key = 20, .created_at = 5, .seq = 0}), 3);

  index.Apply({Leave("j10")});
  EXPECT_EQ(index.Position("j10"), std::nullopt);
  EXPECT_EQ(index.Position("j20a"), 1);
  EXPECT_EQ(index.size(), 4);
}

TEST(QueueIndexTest, ExtremeKeysAndLargeSums) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  QueueIndex index;
  index.Apply({Enter("low", MakeQueued(kMin, kMin, kMin, 1'000'000'000'000, 7)),
               Enter("high", MakeQueued(kMax, kMax, kMax, 1'000'000'000'000, 9))});
  ExpectWork(index.WorkBefore(kMin), {}, "nothing is below the lowest key");
  ExpectWork(index.WorkBefore(kMax), {1, 1'000'000'000'000, 7}, "all but the highest");
  EXPECT_EQ(index.Position("high"), 2);
}

TEST(QueueIndexTest, ReenteringReplacesAndLeavingTwiceIsHarmless) {
  QueueIndex index;
  index.Apply({Enter("a", MakeQueued(5, 1, 1, 10, 1)), Enter("b", MakeQueued(7, 1, 2, 20, 2))});
  // A job that is queued again (a reaped lease) keeps its id and may carry a new key.
  index.Apply({Enter("a", MakeQueued(9, 1, 1, 10, 1))});
  EXPECT_EQ(index.Position("a"), 2);
  EXPECT_EQ(index.size(), 2);
  index.Apply({Leave("b"), Leave("b"), Leave("never_seen")});
  EXPECT_EQ(index.Position("a"), 1);
  EXPECT_TRUE(index.CheckAgainst({{"a", MakeQueued(9, 1, 1, 10, 1)}}).ok());
}

TEST(QueueIndexTest, ResetReplacesEverything) {
  QueueIndex index;
  index.Apply({Enter("old", MakeQueued(1, 1, 1, 1, 1))});
  std::vector<std::pair<std::string, QueuedJob>> jobs;
  for (int i = 0; i < 100; ++i) {
    jobs.emplace_back("job" + std::to_string(i), MakeQueued(i % 7, i % 3, i, i, 2 * i));
  }
  index.Reset(jobs);
  EXPECT_EQ(index.size(), 100);
  EXPECT_EQ(index.Position("old"), std::nullopt);
  EXPECT_TRUE(index.CheckAgainst(jobs).ok());
}

TEST(QueueIndexTest, CheckAgainstReportsDrift) {
  QueueIndex index;
  const QueuedJob a = MakeQueued(5, 1, 1, 10, 1);
  const QueuedJob b = MakeQueued(6, 1, 2, 20, 2);
  index.Apply({Enter("a", a), Enter("b", b)});
  EXPECT_TRUE(index.CheckAgainst({{"b", b}, {"a", a}}).ok());

  // A missed LeftQueue, a missed JoinedQueue and a stale size are all caught.
  EXPECT_EQ(index.CheckAgainst({{"a", a}}).code(), StatusCode::kInternal);
  EXPECT_EQ(index.CheckAgainst({{"a", a}, {"b", b}, {"c", MakeQueued(7, 1, 3, 1, 1)}}).code(),
            StatusCode::kInternal);
  QueuedJob stale = b;
  stale.prompt_tokens += 1;
  EXPECT_EQ(index.CheckAgainst({{"a", a}, {"b", stale}}).code(), StatusCode::kInternal);
  EXPECT_EQ(index.CheckAgainst({{"a", a}, {"c", b}}).code(), StatusCode::kInternal);
}

// Thousands of random changes, with few distinct keys so ties are common; after each one
// the index must give the model's answers, and its tree must stay sound.
TEST(QueueIndexTest, RandomChangesMatchAPlainCount) {
  std::mt19937_64 rng(20240611);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  QueueIndex index;
  Model model;
  std::vector<std::string> ids;  // every id ever used, queued or not
  int64_t next_seq = 1;
  for (int step = 0; step < 5000; ++step) {
    std::vector<QueueChange> batch;
    const int64_t batch_size = uniform(1, 4);
    for (int64_t i = 0; i < batch_size; ++i) {
      if (ids.empty() || uniform(0, 99) < 55) {
        // Mostly new jobs; now and then a known id enters again and replaces its entry.
        std::string id = ids.empty() || uniform(0, 9) > 1 ? "job" + std::to_string(next_seq)
                                                          : ids[uniform(0, ids.size() - 1)];
        const int64_t seq = next_seq++;
        // A known id may come back under another tenant: its old tenant's queue lets it go.
        batch.push_back(
            Enter(id, MakeQueued(uniform(-5, 25), uniform(0, 3), seq, uniform(0, 100'000),
                                 uniform(1, 4096), "tenant" + std::to_string(uniform(0, 2)))));
        ids.push_back(std::move(id));
      } else {
        batch.push_back(Leave(ids[uniform(0, ids.size() - 1)]));
      }
    }
    index.Apply(batch);
    for (const QueueChange& change : batch) model.Apply(change);

    for (int q = 0; q < 4; ++q) {
      const int64_t key = uniform(-7, 27);
      ExpectWork(index.WorkBefore(key), model.WorkBefore(key),
                 "step " + std::to_string(step) + ", key " + std::to_string(key));
      const std::string& id = ids[uniform(0, ids.size() - 1)];
      EXPECT_EQ(index.Position(id), model.Position(id)) << "step " << step << ", " << id;
    }
    if (step % 50 == 0 || step == 4999) {
      Status status = index.CheckAgainst(model.Jobs());
      ASSERT_TRUE(status.ok()) << "step " << step << ": " << status.ToString();
    }
    if (HasFailure()) return;
  }
}

TEST(QueueIndexTest, FairShareHeadsTheBackloggedTenantWithTheLeastServiceCounted) {
  QueueIndex index;
  // Tenant a's three jobs sort before b's one in the global order; all are the same size.
  index.Apply({Enter("a1", MakeQueued(1, 0, 1, 100, 10, "a")),
               Enter("a2", MakeQueued(2, 0, 2, 100, 10, "a")),
               Enter("a3", MakeQueued(3, 0, 3, 100, 10, "a")),
               Enter("b1", MakeQueued(9, 0, 4, 100, 10, "b"))});
  ASSERT_TRUE(index.Head());
  EXPECT_EQ(index.Head()->key.seq, 1) << "a tie between equal jobs goes to the lesser name";
  // a1 claimed: a is charged 100 + 2 x 10.
  index.Apply({Leave("a1"), Served("a", 100, 10)});
  EXPECT_EQ(index.ServiceOf("a"), 120);
  EXPECT_EQ(index.Head()->key.seq, 4) << "b has had less service";
  index.Apply({Leave("b1"), Served("b", 50, 10)});
  EXPECT_EQ(index.ServiceOf("b"), 70);
  // b has nothing queued: a alone gets every claim, whatever its counter.
  EXPECT_EQ(index.Head()->key.seq, 2);
  index.Apply({Leave("a2"), Served("a", 100, 10)});
  EXPECT_EQ(index.Head()->key.seq, 3);

  // b comes back after idling: lifted to a's counter (240), not left at 70; of the tie,
  // b's smaller job goes first.
  index.Apply({Enter("b2", MakeQueued(20, 0, 5, 50, 10, "b"))});
  EXPECT_EQ(index.ServiceOf("b"), 240);
  EXPECT_EQ(index.Head()->key.seq, 5);
  // A refund (a job used less than its max_tokens) lowers a counter.
  index.Apply({Served("a", 0, -5)});
  EXPECT_EQ(index.ServiceOf("a"), 230);
  EXPECT_EQ(index.Head()->key.seq, 3);

  // A job that moves within its tenant's queue does not lift it.
  index.Apply({Enter("b2", MakeQueued(21, 0, 5, 60, 10, "b"))});
  EXPECT_EQ(index.ServiceOf("b"), 240);

  // Weights divide the charge.
  index.SetWeights({{"b", 4}});
  index.Apply({Served("b", 40, 0)});
  EXPECT_EQ(index.ServiceOf("b"), 250);

  // Off: the global order, whoever was served.
  index.SetFairShare(false);
  EXPECT_EQ(index.Head()->key.seq, 3);
  index.Apply({Served("a", 1000, 0)});
  EXPECT_EQ(index.Head()->key.seq, 3);
  index.SetFairShare(true);
  EXPECT_EQ(index.Head()->key.seq, 5);
}

TEST(QueueTreeTest, StaysSoundThroughInsertsAndErasesInKeyOrder) {
  // Ascending inserts and erases from the front are the queue's usual traffic.
  QueueTree tree;
  for (int64_t i = 0; i < 20'000; ++i) tree.Insert(MakeQueued(i, 0, i, 1, 2));
  ASSERT_TRUE(tree.CheckInvariants().ok());
  for (int64_t i = 0; i < 15'000; ++i) {
    ASSERT_TRUE(tree.Erase({.order_key = i, .created_at = 0, .seq = i}));
  }
  EXPECT_FALSE(tree.Erase({.order_key = 0, .created_at = 0, .seq = 0}));
  EXPECT_EQ(tree.size(), 5'000);
  ASSERT_TRUE(tree.CheckInvariants().ok());
  const WorkAhead below = tree.Below({.order_key = 17'500, .created_at = 0, .seq = 0});
  EXPECT_EQ(below.jobs, 2'500);
  EXPECT_EQ(below.prompt_tokens, 2'500);
  EXPECT_EQ(below.max_tokens, 5'000);
  const std::vector<QueuedJob> in_order = tree.InOrder();
  ASSERT_EQ(in_order.size(), 5'000u);
  EXPECT_EQ(in_order.front().key.order_key, 15'000);
  EXPECT_EQ(in_order.back().key.order_key, 19'999);
}

}  // namespace
}  // namespace glmq
