// A small thread-safe Prometheus client: counters, gauges and histograms in families with
// fixed label names, scrape-time collectors, and the text exposition format 0.0.4.
//
//   metrics::Registry registry;
//   auto* submitted = registry.AddCounter("glmq_jobs_submitted_total", "Jobs accepted.",
//                                         {"class"});
//   metrics::Counter& short_jobs = submitted->With({"short"});  // keep this reference
//   short_jobs.Inc();                                          // lock-free
//   registry.AddCollector([&](metrics::Exposition& e) {
//     e.Gauge("glmq_queue_depth", "Queued jobs.", {{"class", "short"}}, depth);
//   });
//   std::string body = registry.Render();  // serve with kContentType
//
// Threads: any thread may update an instrument or call With(); Render() runs on the scraping
// thread and calls the collectors there, so a collector must read cached values and never
// block (no disk, no engine). Families and children live as long as the Registry; a
// reference returned by With() stays valid until then.
//
// Errors: metric names, label names, label counts and bucket bounds are written in code, so
// a bad one is a programmer error and aborts with a message (see
// internal::CheckProgrammerError), in Release too. Label *values* are data and are escaped.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/exposition.h"

namespace glmq::metrics {

// What an HTTP handler puts in Content-Type for Registry::Render()'s output.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// A value that only goes up (resets only with the process).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // A negative or NaN delta is dropped rather than aborting: it comes from data (e.g. a
  // token difference), and a counter that went down would read as a restart.
  void Inc(double delta = 1) {
    if (!(delta >= 0)) return;
    value_.fetch_add(delta, std::memory_order_relaxed);
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  static_assert(std::atomic<double>::is_always_lock_free);
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Inc(double delta = 1) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Dec(double delta = 1) { value_.fetch_sub(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into buckets with upper bounds `le` (inclusive), plus _sum and _count.
class Histogram {
 public:
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };

  // `bounds` is strictly increasing and outlives the histogram (its family owns it).
  explicit Histogram(std::span<const double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Lock-free. NaN lands in the +Inf bucket (and makes _sum NaN), as client_golang does.
  void Observe(double value);

  // Buckets are read one by one while others may observe, so a snapshot can be a few
  // observations apart between buckets and _sum; _count is the +Inf bucket, so that the two
  // always agree (histogram_quantile relies on that).
  Snapshot Read() const;
  std::span<const double> bounds() const { return bounds_; }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<double> sum_{0};
};

// The part of a family Registry::Render() needs, whatever the instrument.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual void AppendTo(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
};

// All children of one metric, one per distinct tuple of label values.
template <typename T>
class Family final : public FamilyBase {
 public:
  // The child for these label values, created on first use. Takes a lock: callers on a hot
  // path look the child up once and keep the reference. The number of values must match
  // the family's label names (aborts otherwise).
  T& With(std::initializer_list<std::string_view> label_values);
  T& With(std::span<const std::string> label_values);

  void AppendTo(std::string& out) const override;

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds);
  T& WithKey(std::vector<std::string> key);

  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;       // guards children_ (not the children's values)
  // std::map keeps the exposition sorted by label values and the children where they are.
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The returned family is owned by the registry. A family without labels has its one child
  // created at once, so it is exposed (as 0) before the first update. Aborts on an invalid
  // or already used name, invalid or repeated label names, and (histograms) a label "le" or
  // bounds that are not finite and strictly increasing.
  CounterFamily* AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily* AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  HistogramFamily* AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names, std::vector<double> bounds);

  // Called by every Render(), in the order added, after the registered families. Samples it
  // writes must not reuse a registered family's name (aborts).
  void AddCollector(std::function<void(Exposition&)> collector);

  // The whole exposition in text format 0.0.4: families in registration order (those with
  // labels but no child yet are left out), then the collectors' samples.
  std::string Render() const;

 private:
  // Claims the family's sample names and keeps it; aborts when one is taken.
  void Adopt(std::unique_ptr<FamilyBase> family, std::vector<std::string> sample_names);

  mutable std::mutex mu_;  // guards the three members below
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::vector<std::function<void(Exposition&)>> collectors_;
  std::set<std::string, std::less<>> sample_names_;  // every name a family's samples use
};

}  // namespace glmq::metrics
