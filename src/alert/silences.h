// Silences: "do not notify alerts whose labels match these, from start to end", as in
// Alertmanager. Kept in memory and, when a path is given, in a JSON file rewritten on each
// change (atomically: write a temporary file, then rename), so a restart keeps them.
//
// Threads: any thread; one mutex guards the list.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/status.h"

namespace glmq {

struct SilenceMatcher {
  std::string name;
  std::string value;
  bool is_regex = false;
  bool is_equal = true;  // false: the label must NOT match
};

struct Silence {
  std::string id;
  std::vector<SilenceMatcher> matchers;
  TimeMs starts_at = 0;
  TimeMs ends_at = 0;
  std::string created_by;
  std::string comment;
  TimeMs created_at = 0;
};

// Parses a POST /v1/silences body: {"matchers":[{"name","value","isRegex","isEqual"}],
// "startsAt" (RFC 3339 or unix seconds, default now), "endsAt" (or "duration" seconds),
// "createdBy", "comment"}. Errors say which field is wrong.
Result<Silence> ParseSilence(const nlohmann::json& body, TimeMs now);
nlohmann::json SilenceJson(const Silence& silence, TimeMs now);

class Silences {
 public:
  explicit Silences(std::string path = "");

  // Reads the file, if any; a missing file is an empty list.
  Status Load();
  // Assigns an id and keeps it; returns the id.
  Result<std::string> Add(Silence silence);
  // Ends a silence now (it stays listed as expired until pruned); kNotFound if unknown.
  Status Expire(const std::string& id, TimeMs now);
  std::vector<Silence> List() const;
  // Ids of the silences active at `now` that match `labels`.
  std::vector<std::string> Matching(const std::map<std::string, std::string>& labels,
                                    TimeMs now) const;

 private:
  Status SaveLocked() const;

  const std::string path_;
  mutable std::mutex mu_;
  std::vector<Silence> silences_;  // guarded by mu_
};

}  // namespace glmq
