// ServiceCounters: fair share between tenants by the Virtual Token Counter (VTC: Sheng et
// al., "Fairness in Serving Large Language Models", OSDI 2024).
//
// Each tenant has a counter of the service it received, in weighted tokens divided by its
// weight: (kPromptWeight x prompt tokens + kOutputWeight x generated tokens) / weight. The
// next job comes from the backlogged tenant (one with queued work) whose counter is least;
// within a tenant the queue's own order holds. Between tenants with equal counters (a
// tenant that turned backlogged is lifted to the least one) the smaller next job goes first,
// as the queue's own order puts short work first. A tenant that turns backlogged is lifted to
// the least counter of the backlogged ones (or, when none is, to the greatest counter of
// all), so idling earns no credit to spend later and a newcomer cannot starve the others.
// With one tenant backlogged it gets every claim: the policy is work-conserving.
//
// A claim charges the prompt and all of max_tokens; the job's end refunds the generated
// tokens it did not use. Between two backlogged tenants the service received then differs
// by at most about 2 x the largest charge of one job (the VTC bound).
//
// The counters are soft state: SQLite keeps them in memory (they start even after a
// restart), Redis keeps the same arithmetic in its claim script (store/redis_scripts.cc).
//
// Not thread-safe: QueueIndex owns one under its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace glmq {

// Per-tenant shares; a tenant not named has weight 1. Weights are positive.
using TenantWeights = std::map<std::string, double>;

class ServiceCounters {
 public:
  // VTC's weights of a prompt token and a generated token (the paper's w_p, w_q). Also in
  // the Redis claim and complete scripts.
  static constexpr double kPromptWeight = 1;
  static constexpr double kOutputWeight = 2;

  // What this much service costs `tenant`'s counter. `output_tokens` may be negative (a
  // refund).
  double Cost(const std::string& tenant, int64_t prompt_tokens, int64_t output_tokens) const;

  void SetWeights(TenantWeights weights) { weights_ = std::move(weights); }
  double WeightOf(const std::string& tenant) const;

  // `tenant` has queued work again (it had none): lifted as the header says, then backlogged.
  void JoinBacklog(const std::string& tenant);
  // `tenant` has no queued work any more.
  void LeaveBacklog(const std::string& tenant);
  // Charges (or, negative, refunds) `tenant`'s counter.
  void Serve(const std::string& tenant, int64_t prompt_tokens, int64_t output_tokens);

  // The backlogged tenants by counter, least first, and by name among equal counters. The
  // caller breaks a tie (QueueIndex: the smaller next job first, then the lesser name).
  std::vector<std::pair<double, std::string>> Ranked() const;
  double Counter(const std::string& tenant) const;
  bool IsBacklogged(const std::string& tenant) const { return backlogged_.contains(tenant); }

 private:
  std::map<std::string, double> counters_;
  std::set<std::string> backlogged_;
  TenantWeights weights_;
};

}  // namespace glmq
