// Silences: "do not notify alerts whose labels match these, from start to end", as in
// Alertmanager. Kept in memory and in a storage (a JSON document): a file in the data
// directory for `glmq serve`, the shared store for gateways, so every process sees them.
//
// Threads: any thread; one mutex guards the list.
#pragma once

#include <functional>
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

// Where the list lives as one JSON document; empty functions: memory only.
struct SilenceStorage {
  std::function<Result<std::string>()> read;  // "" when nothing was saved yet
  std::function<Status(const std::string&)> write;
};
// A JSON file, replaced atomically (write a temporary file, then rename).
SilenceStorage FileSilenceStorage(const std::string& path);

class Silences {
 public:
  explicit Silences(SilenceStorage storage = {});

  // Reads the storage again (others may have changed it); an empty one is an empty list.
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

  Status LoadLocked();
  const SilenceStorage storage_;
  mutable std::mutex mu_;
  std::vector<Silence> silences_;  // guarded by mu_
};

}  // namespace glmq
