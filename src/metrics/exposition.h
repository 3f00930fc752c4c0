// Samples computed at scrape time (queue depth per class, alerts firing, ...), written by a
// collector that Registry::Render() calls. One Exposition lives for one Render() on the
// scraping thread; it is not shared between threads.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace glmq::metrics {

// Label name/value pairs in the order they are printed.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  // `reserved` holds names that registered families already use; a sample here under one of
  // them would make a second family of that name, which Prometheus rejects (aborts).
  explicit Exposition(std::set<std::string, std::less<>> reserved = {});

  // Adds one sample. Samples of a name are printed together under one HELP/TYPE, in the
  // order the name was first seen, whatever order the calls come in; the first help text of
  // a name wins. An invalid metric or label name, or one name used as both gauge and
  // counter, is a programmer error (aborts). Emitting the same label set twice is the
  // caller's bug too, but not checked: it costs a map per name on every scrape.
  void Gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // For totals kept elsewhere (e.g. a dispatcher's own counts): `name` ends in _total.
  void Counter(std::string_view name, std::string_view help, const Labels& labels, double value);

  void AppendTo(std::string& out) const;

 private:
  struct Group {
    std::string name;
    std::string help;
    std::string_view type;
    std::string samples;  // already formatted lines
  };
  void Add(std::string_view type, std::string_view name, std::string_view help,
           const Labels& labels, double value);

  std::set<std::string, std::less<>> reserved_;
  std::vector<Group> groups_;
  std::map<std::string, size_t, std::less<>> group_index_;  // name -> index in groups_
};

}  // namespace glmq::metrics
