#include "store/service_counters.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace glmq {

double ServiceCounters::WeightOf(const std::string& tenant) const {
  auto it = weights_.find(tenant);
  return it == weights_.end() || !(it->second > 0) ? 1.0 : it->second;
}

double ServiceCounters::Cost(const std::string& tenant, int64_t prompt_tokens,
                             int64_t output_tokens) const {
  return (kPromptWeight * static_cast<double>(prompt_tokens) +
          kOutputWeight * static_cast<double>(output_tokens)) /
         WeightOf(tenant);
}

void ServiceCounters::JoinBacklog(const std::string& tenant) {
  if (backlogged_.contains(tenant)) return;
  std::optional<double> floor;
  if (!backlogged_.empty()) {
    for (const std::string& other : backlogged_) {
      const double c = Counter(other);
      floor = floor ? std::min(*floor, c) : c;
    }
  } else {
    for (const auto& [other, c] : counters_) floor = floor ? std::max(*floor, c) : c;
  }
  double& counter = counters_[tenant];
  if (floor) counter = std::max(counter, *floor);
  backlogged_.insert(tenant);
}

void ServiceCounters::LeaveBacklog(const std::string& tenant) { backlogged_.erase(tenant); }

void ServiceCounters::Serve(const std::string& tenant, int64_t prompt_tokens,
                            int64_t output_tokens) {
  counters_[tenant] += Cost(tenant, prompt_tokens, output_tokens);
}

std::vector<std::pair<double, std::string>> ServiceCounters::Ranked() const {
  std::vector<std::pair<double, std::string>> ranked;
  ranked.reserve(backlogged_.size());
  for (const std::string& tenant : backlogged_) ranked.emplace_back(Counter(tenant), tenant);
  std::sort(ranked.begin(), ranked.end());
  return ranked;
}

double ServiceCounters::Counter(const std::string& tenant) const {
  auto it = counters_.find(tenant);
  return it == counters_.end() ? 0.0 : it->second;
}

}  // namespace glmq
