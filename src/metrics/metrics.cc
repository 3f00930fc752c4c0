#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "metrics/text_format.h"

namespace glmq::metrics {
namespace {

void CheckLabelNames(const std::string& metric, const std::vector<std::string>& label_names) {
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    internal::CheckProgrammerError(ValidateLabelName(label));
    if (!seen.insert(label).second) {
      internal::CheckProgrammerError(
          InvalidArgument("metric \"" + metric + "\" repeats label \"" + label + "\""));
    }
  }
}

void CheckBounds(const std::string& metric, const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    // +Inf is implied; an explicit one would print a second le="+Inf" bucket.
    const bool ok = std::isfinite(bounds[i]) && (i == 0 || bounds[i - 1] < bounds[i]);
    if (!ok) {
      internal::CheckProgrammerError(InvalidArgument(
          "histogram \"" + metric + "\" needs finite, strictly increasing bucket bounds"));
    }
  }
}

template <typename T>
constexpr std::string_view TypeName();
template <>
constexpr std::string_view TypeName<Counter>() {
  return "counter";
}
template <>
constexpr std::string_view TypeName<Gauge>() {
  return "gauge";
}
template <>
constexpr std::string_view TypeName<Histogram>() {
  return "histogram";
}

void AppendChild(std::string& out, const FamilyBase& family,
                 std::span<const std::string> label_values, const Counter& child) {
  AppendSample(out, family.name(), family.label_names(), label_values, child.Value());
}

void AppendChild(std::string& out, const FamilyBase& family,
                 std::span<const std::string> label_values, const Gauge& child) {
  AppendSample(out, family.name(), family.label_names(), label_values, child.Value());
}

void AppendChild(std::string& out, const FamilyBase& family,
                 std::span<const std::string> label_values, const Histogram& child) {
  const Histogram::Snapshot snapshot = child.Read();
  const std::span<const double> bounds = child.bounds();
  const std::string bucket_name = family.name() + "_bucket";
  for (size_t i = 0; i < bounds.size(); ++i) {
    AppendSample(out, bucket_name, family.label_names(), label_values,
                 static_cast<double>(snapshot.cumulative[i]), "le", FormatValue(bounds[i]));
  }
  AppendSample(out, bucket_name, family.label_names(), label_values,
               static_cast<double>(snapshot.count), "le", "+Inf");
  AppendSample(out, family.name() + "_sum", family.label_names(), label_values, snapshot.sum);
  AppendSample(out, family.name() + "_count", family.label_names(), label_values,
               static_cast<double>(snapshot.count));
}

}  // namespace

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::Observe(double value) {
  // Bucket i holds bounds[i-1] < value <= bounds[i]; NaN compares false everywhere, so it
  // is sent to +Inf explicitly instead of falling into bucket 0.
  const size_t index =
      std::isnan(value)
          ? bounds_.size()
          : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                bounds_.begin());
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = running;
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <typename T>
T& Family<T>::With(std::initializer_list<std::string_view> label_values) {
  return WithKey(std::vector<std::string>(label_values.begin(), label_values.end()));
}

template <typename T>
T& Family<T>::With(std::span<const std::string> label_values) {
  return WithKey(std::vector<std::string>(label_values.begin(), label_values.end()));
}

template <typename T>
T& Family<T>::WithKey(std::vector<std::string> key) {
  if (key.size() != label_names_.size()) {
    internal::CheckProgrammerError(
        InvalidArgument("metric \"" + name_ + "\" takes " + std::to_string(label_names_.size()) +
                        " label values, got " + std::to_string(key.size())));
  }
  std::lock_guard lock(mu_);
  auto it = children_.find(key);
  if (it == children_.end()) {
    std::unique_ptr<T> child;
    if constexpr (std::is_same_v<T, Histogram>) {
      child = std::make_unique<Histogram>(bounds_);
    } else {
      child = std::make_unique<T>();
    }
    it = children_.emplace(std::move(key), std::move(child)).first;
  }
  return *it->second;
}

template <typename T>
void Family<T>::AppendTo(std::string& out) const {
  std::lock_guard lock(mu_);
  if (children_.empty()) return;
  AppendHeader(out, name_, help_, TypeName<T>());
  for (const auto& [label_values, child] : children_) {
    AppendChild(out, *this, label_values, *child);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

CounterFamily* Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  internal::CheckProgrammerError(ValidateMetricName(name));
  CheckLabelNames(name, label_names);
  std::vector<std::string> sample_names{name};
  auto* family = new CounterFamily(std::move(name), std::move(help), std::move(label_names), {});
  Adopt(std::unique_ptr<FamilyBase>(family), std::move(sample_names));
  if (family->label_names().empty()) family->With({});
  return family;
}

GaugeFamily* Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  internal::CheckProgrammerError(ValidateMetricName(name));
  CheckLabelNames(name, label_names);
  std::vector<std::string> sample_names{name};
  auto* family = new GaugeFamily(std::move(name), std::move(help), std::move(label_names), {});
  Adopt(std::unique_ptr<FamilyBase>(family), std::move(sample_names));
  if (family->label_names().empty()) family->With({});
  return family;
}

HistogramFamily* Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds) {
  internal::CheckProgrammerError(ValidateMetricName(name));
  CheckLabelNames(name, label_names);
  if (std::find(label_names.begin(), label_names.end(), "le") != label_names.end()) {
    internal::CheckProgrammerError(
        InvalidArgument("histogram \"" + name + "\" cannot have a label \"le\""));
  }
  CheckBounds(name, bounds);
  // The base name is claimed too: HELP and TYPE lines are written under it.
  std::vector<std::string> sample_names{name, name + "_bucket", name + "_sum", name + "_count"};
  auto* family = new HistogramFamily(std::move(name), std::move(help), std::move(label_names),
                                     std::move(bounds));
  Adopt(std::unique_ptr<FamilyBase>(family), std::move(sample_names));
  if (family->label_names().empty()) family->With({});
  return family;
}

void Registry::Adopt(std::unique_ptr<FamilyBase> family, std::vector<std::string> sample_names) {
  std::lock_guard lock(mu_);
  for (const std::string& sample_name : sample_names) {
    if (sample_names_.contains(sample_name)) {
      internal::CheckProgrammerError(
          InvalidArgument("metric name \"" + sample_name + "\" is already registered"));
    }
  }
  sample_names_.insert(sample_names.begin(), sample_names.end());
  families_.push_back(std::move(family));
}

void Registry::AddCollector(std::function<void(Exposition&)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::Render() const {
  // Copy what is needed and let go of the lock, so that a collector that takes its owner's
  // lock cannot deadlock against a thread registering a family under that owner's lock.
  std::vector<const FamilyBase*> families;
  std::vector<std::function<void(Exposition&)>> collectors;
  std::set<std::string, std::less<>> reserved;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& family : families_) families.push_back(family.get());
    collectors = collectors_;
    reserved = sample_names_;
  }
  std::string out;
  out.reserve(16 * 1024);
  for (const FamilyBase* family : families) family->AppendTo(out);
  Exposition exposition(std::move(reserved));
  for (const auto& collector : collectors) collector(exposition);
  exposition.AppendTo(out);
  return out;
}

}  // namespace glmq::metrics
