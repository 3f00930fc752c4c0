#include "alert/silences.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace glmq {
namespace {

using json = nlohmann::json;

// RFC 3339 ("2026-11-27T10:00:00Z", optional fraction and offset) or unix seconds.
Result<TimeMs> ParseTime(const json& v, const char* field) {
  if (v.is_number()) {
    const double s = v.get<double>();
    if (s < 0) return InvalidArgument(std::string(field) + " must not be negative");
    return static_cast<TimeMs>(s * 1000);
  }
  if (!v.is_string()) {
    return InvalidArgument(std::string(field) + " must be an RFC 3339 time or unix seconds");
  }
  const std::string text = v.get<std::string>();
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return InvalidArgument(std::string(field) + ": '" + text + "' is not an RFC 3339 time");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  TimeMs ms = static_cast<TimeMs>(timegm(&tm)) * 1000;
  std::string_view rest = std::string_view(text).substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    size_t digits = 1;
    double fraction = 0, scale = 0.1;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
      fraction += (rest[digits] - '0') * scale;
      scale /= 10;
      ++digits;
    }
    ms += static_cast<TimeMs>(fraction * 1000);
    rest.remove_prefix(digits);
  }
  if (rest == "Z" || rest == "z") return ms;
  int oh = 0, om = 0;
  char sign = 0;
  if (rest.size() == 6 &&
      std::sscanf(std::string(rest).c_str(), "%c%2d:%2d", &sign, &oh, &om) == 3 &&
      (sign == '+' || sign == '-')) {
    const TimeMs offset = (oh * 60 + om) * 60'000LL;
    return sign == '+' ? ms - offset : ms + offset;
  }
  return InvalidArgument(std::string(field) + ": '" + text + "' has no time zone (add Z)");
}

std::string NewSilenceId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "sil_%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

bool Matches(const SilenceMatcher& m, const std::map<std::string, std::string>& labels) {
  auto it = labels.find(m.name);
  const std::string value = it == labels.end() ? "" : it->second;
  bool match;
  if (m.is_regex) {
    try {
      match = std::regex_match(value, std::regex(m.value));
    } catch (const std::regex_error&) {
      match = false;  // checked at ParseSilence; unreachable for stored silences
    }
  } else {
    match = value == m.value;
  }
  return match == m.is_equal;
}

json ToJson(const Silence& s) {
  json matchers = json::array();
  for (const SilenceMatcher& m : s.matchers) {
    matchers.push_back(
        {{"name", m.name}, {"value", m.value}, {"isRegex", m.is_regex}, {"isEqual", m.is_equal}});
  }
  return {{"id", s.id},
          {"matchers", matchers},
          {"startsAt", s.starts_at / 1000.0},
          {"endsAt", s.ends_at / 1000.0},
          {"createdBy", s.created_by},
          {"comment", s.comment},
          {"createdAt", s.created_at / 1000.0}};
}

}  // namespace

Result<Silence> ParseSilence(const json& body, TimeMs now) {
  if (!body.is_object()) return InvalidArgument("the body must be a JSON object");
  Silence s;
  auto matchers = body.find("matchers");
  if (matchers == body.end() || !matchers->is_array() || matchers->empty()) {
    return InvalidArgument("matchers must be a non-empty array of {name, value}");
  }
  for (const json& m : *matchers) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() || !m.contains("value") ||
        !m["value"].is_string()) {
      return InvalidArgument("each matcher needs a string name and a string value");
    }
    SilenceMatcher matcher;
    matcher.name = m["name"].get<std::string>();
    matcher.value = m["value"].get<std::string>();
    if (matcher.name.empty()) return InvalidArgument("a matcher's name must not be empty");
    if (auto r = m.find("isRegex"); r != m.end()) {
      if (!r->is_boolean()) return InvalidArgument("isRegex must be true or false");
      matcher.is_regex = r->get<bool>();
    }
    if (auto e = m.find("isEqual"); e != m.end()) {
      if (!e->is_boolean()) return InvalidArgument("isEqual must be true or false");
      matcher.is_equal = e->get<bool>();
    }
    if (matcher.is_regex) {
      try {
        std::regex check(matcher.value);
      } catch (const std::regex_error& e) {
        return InvalidArgument("matcher " + matcher.name + ": bad regular expression: " + e.what());
      }
    }
    s.matchers.push_back(std::move(matcher));
  }
  s.starts_at = now;
  if (auto v = body.find("startsAt"); v != body.end() && !v->is_null()) {
    GLMQ_ASSIGN_OR_RETURN(s.starts_at, ParseTime(*v, "startsAt"));
  }
  if (auto v = body.find("endsAt"); v != body.end() && !v->is_null()) {
    GLMQ_ASSIGN_OR_RETURN(s.ends_at, ParseTime(*v, "endsAt"));
  } else if (auto d = body.find("duration");
             d != body.end() && d->is_number() && d->get<double>() > 0) {
    s.ends_at = s.starts_at + static_cast<TimeMs>(d->get<double>() * 1000);
  } else {
    return InvalidArgument("endsAt (or duration in seconds) is required");
  }
  if (s.ends_at <= s.starts_at) return InvalidArgument("endsAt must be after startsAt");
  if (s.ends_at <= now) return InvalidArgument("endsAt is in the past");
  for (const char* field : {"createdBy", "comment"}) {
    if (auto v = body.find(field); v != body.end()) {
      if (!v->is_string()) return InvalidArgument(std::string(field) + " must be a string");
      (std::string_view(field) == "createdBy" ? s.created_by : s.comment) = v->get<std::string>();
    }
  }
  s.created_at = now;
  return s;
}

json SilenceJson(const Silence& silence, TimeMs now) {
  json j = ToJson(silence);
  j["state"] = now < silence.starts_at ? "pending" : now < silence.ends_at ? "active" : "expired";
  return j;
}

SilenceStorage FileSilenceStorage(const std::string& path) {
  SilenceStorage storage;
  storage.read = [path]() -> Result<std::string> {
    if (!std::filesystem::exists(path)) return std::string();
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) return Internal("cannot read " + path);
    return text.str();
  };
  storage.write = [path](const std::string& doc) -> Status {
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << doc << "\n";
      if (!out.flush()) return Internal("cannot write " + tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) return Internal("cannot replace " + path + ": " + ec.message());
    return Status::Ok();
  };
  return storage;
}

Silences::Silences(SilenceStorage storage) : storage_(std::move(storage)) {}

Status Silences::Load() {
  std::lock_guard lock(mu_);
  return LoadLocked();
}

Status Silences::LoadLocked() {
  if (!storage_.read) return Status::Ok();
  GLMQ_ASSIGN_OR_RETURN(const std::string text, storage_.read());
  if (text.empty()) {
    silences_.clear();
    return Status::Ok();
  }
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array())
    return Internal("stored silences are not a JSON array");
  silences_.clear();
  for (const json& j : doc) {
    // Stored times are trusted: re-parse with a `now` that accepts past silences.
    auto parsed = ParseSilence(j, 0);
    if (!parsed.ok()) {
      spdlog::warn("skipping a stored silence: {}", parsed.status().message());
      continue;
    }
    Silence s = std::move(*parsed);
    s.id = j.value("id", NewSilenceId());
    s.created_at = static_cast<TimeMs>(j.value("createdAt", 0.0) * 1000);
    silences_.push_back(std::move(s));
  }
  return Status::Ok();
}

Status Silences::SaveLocked() const {
  if (!storage_.write) return Status::Ok();
  json doc = json::array();
  for (const Silence& s : silences_) doc.push_back(ToJson(s));
  return storage_.write(doc.dump(2));
}

Result<std::string> Silences::Add(Silence silence) {
  std::lock_guard lock(mu_);
  GLMQ_RETURN_IF_ERROR(LoadLocked());  // keep what other processes added
  silence.id = NewSilenceId();
  silences_.push_back(silence);
  GLMQ_RETURN_IF_ERROR(SaveLocked());
  return silence.id;
}

Status Silences::Expire(const std::string& id, TimeMs now) {
  std::lock_guard lock(mu_);
  GLMQ_RETURN_IF_ERROR(LoadLocked());
  for (Silence& s : silences_) {
    if (s.id != id) continue;
    if (s.ends_at > now) s.ends_at = std::max(now, s.starts_at + 1);
    return SaveLocked();
  }
  return NotFound("no silence " + id);
}

std::vector<Silence> Silences::List() const {
  std::lock_guard lock(mu_);
  return silences_;
}

std::vector<std::string> Silences::Matching(const std::map<std::string, std::string>& labels,
                                            TimeMs now) const {
  std::vector<std::string> ids;
  std::lock_guard lock(mu_);
  for (const Silence& s : silences_) {
    if (now < s.starts_at || now >= s.ends_at) continue;
    bool all = true;
    for (const SilenceMatcher& m : s.matchers) all = all && Matches(m, labels);
    if (all) ids.push_back(s.id);
  }
  return ids;
}

}  // namespace glmq
