#include "metrics/exposition.h"

#include "metrics/text_format.h"

namespace glmq::metrics {

Exposition::Exposition(std::set<std::string, std::less<>> reserved)
    : reserved_(std::move(reserved)) {}

void Exposition::Gauge(std::string_view name, std::string_view help, const Labels& labels,
                       double value) {
  Add("gauge", name, help, labels, value);
}

void Exposition::Counter(std::string_view name, std::string_view help, const Labels& labels,
                         double value) {
  Add("counter", name, help, labels, value);
}

void Exposition::Add(std::string_view type, std::string_view name, std::string_view help,
                     const Labels& labels, double value) {
  auto it = group_index_.find(name);
  if (it == group_index_.end()) {
    internal::CheckProgrammerError(ValidateMetricName(name));
    if (reserved_.contains(name)) {
      internal::CheckProgrammerError(InvalidArgument("collector sample \"" + std::string(name) +
                                                     "\" reuses a registered metric's name"));
    }
    it = group_index_.emplace(std::string(name), groups_.size()).first;
    groups_.push_back(Group{std::string(name), std::string(help), type, {}});
  }
  Group& group = groups_[it->second];
  if (group.type != type) {
    internal::CheckProgrammerError(InvalidArgument("metric \"" + group.name + "\" is both " +
                                                   std::string(group.type) + " and " +
                                                   std::string(type)));
  }
  // Split the pairs into the two spans AppendSample takes; label names are checked on every
  // sample because a collector builds them afresh each scrape.
  std::vector<std::string> names;
  std::vector<std::string> values;
  names.reserve(labels.size());
  values.reserve(labels.size());
  for (const auto& [label, label_value] : labels) {
    internal::CheckProgrammerError(ValidateLabelName(label));
    names.push_back(label);
    values.push_back(label_value);
  }
  AppendSample(group.samples, group.name, names, values, value);
}

void Exposition::AppendTo(std::string& out) const {
  for (const Group& group : groups_) {
    AppendHeader(out, group.name, group.help, group.type);
    out += group.samples;
  }
}

}  // namespace glmq::metrics
