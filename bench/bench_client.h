// What the HTTP benchmark programs share: deterministic English-like prose for documents
// and questions, one blocking HTTP request per call (libcurl), a glmq job submitted and
// waited for, and percentiles.
#pragma once

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bench {

// --- Deterministic English-like prose ------------------------------------------------------

struct SplitMix64 {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  template <size_t N>
  const char* Pick(const char* const (&words)[N]) {
    return words[Next() % N];
  }
};

// clang-format off
inline const char* const kSubjects[] = {
    "the committee", "our engineers", "the old harbour", "a quiet village", "the new policy",
    "the river", "every customer", "the annual report", "the second chapter", "her brother",
    "the market", "the survey team", "a small company", "the northern railway", "the council",
    "the library", "most farmers", "the museum", "the young doctor", "the storm"};
inline const char* const kVerbs[] = {
    "described", "changed", "measured", "ignored", "improved", "reached", "followed",
    "questioned", "supported", "delayed", "explained", "recorded", "protected", "visited",
    "compared", "announced", "reviewed", "replaced", "welcomed", "examined"};
inline const char* const kObjects[] = {
    "the price of bread", "a long letter", "the winter harvest", "the missing contract",
    "several new bridges", "the water supply", "an unusual pattern", "the evening train",
    "the results of the trial", "a map of the coast", "the budget for next year",
    "the history of the town", "a list of questions", "the broken clock", "the school roof",
    "the mountain path", "their weekly meeting", "a strange noise", "the last payment",
    "the local newspaper"};
inline const char* const kTails[] = {
    "in the spring of 1987", "after a long discussion", "without much success",
    "because the roads were closed", "for the third time", "before the end of the month",
    "with great care", "during the night", "although nobody expected it", "near the station",
    "as the report suggests", "at a cost of 42 thousand", "while the rain continued",
    "in front of the whole town", "despite the warnings", "by the following morning"};
inline const char* const kLinks[] = {"However,", "Meanwhile,", "In addition,", "Later,",
                              "As a result,", "Even so,", "At first,", "Finally,"};
// clang-format on

inline std::string Capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

inline std::string Sentence(SplitMix64& rng) {
  std::string s;
  if (rng.Next() % 4 == 0) {
    s = rng.Pick(kLinks);
    s += ' ';
    s += rng.Pick(kSubjects);
  } else {
    s = Capitalized(rng.Pick(kSubjects));
  }
  s += ' ';
  s += rng.Pick(kVerbs);
  s += ' ';
  s += rng.Pick(kObjects);
  if (rng.Next() % 3 != 0) {
    s += ' ';
    s += rng.Pick(kTails);
  }
  s += rng.Next() % 10 == 0 ? "? " : ". ";
  return s;
}

// Bytes of this prose per prompt token with the default test model's tokenizer (measured:
// 112,800 bytes are 59,479 tokens). Sizes made with it are near, not exact: print the
// server's counts.
inline constexpr double kProseBytesPerToken = 1.897;

// At least `bytes` bytes of prose in paragraphs, cut at the last sentence that fits past it.
inline std::string MakeProse(uint64_t seed, size_t bytes) {
  SplitMix64 rng{seed};
  std::string out;
  out.reserve(bytes + 512);
  while (out.size() < bytes) {
    const int sentences = 3 + static_cast<int>(rng.Next() % 5);
    for (int i = 0; i < sentences && out.size() < bytes; ++i) out += Sentence(rng);
    out.back() = '\n';
    out += '\n';
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
  return out;
}

// --- HTTP ------------------------------------------------------------------------------------

struct HttpReply {
  CURLcode curl = CURLE_OK;
  long status = 0;
  std::string body;

  bool ok(long want) const { return curl == CURLE_OK && status == want; }
  std::string Describe() const {
    if (curl != CURLE_OK) return std::string("curl: ") + curl_easy_strerror(curl);
    return "HTTP " + std::to_string(status) + ": " + body.substr(0, 200);
  }
};

inline size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// One request on a fresh handle, so any thread may call it. `body` null: GET (or `method`).
// `api_key`: sent as a bearer token unless empty.
inline HttpReply Http(const std::string& url, const std::string* body, long timeout_s,
                      const char* method = nullptr, const std::string& api_key = {}) {
  HttpReply reply;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    reply.curl = CURLE_FAILED_INIT;
    return reply;
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  if (!api_key.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  if (method != nullptr) curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, std::max(1L, timeout_s));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  reply.curl = curl_easy_perform(curl);
  if (reply.curl == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

// Parses "--name value" pairs: each name in `texts` or `numbers` takes its value there (a
// number must be a non-negative integer). False for an unknown name, a bad number or a name
// without a value.
inline bool ParseFlagPairs(int argc, char** argv, const std::map<std::string, std::string*>& texts,
                           const std::map<std::string, int64_t*>& numbers) {
  if (argc % 2 != 1) return false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i], value = argv[i + 1];
    if (auto t = texts.find(name); t != texts.end()) {
      *t->second = value;
      continue;
    }
    auto n = numbers.find(name);
    char* end = nullptr;
    const long long parsed = std::strtoll(value.c_str(), &end, 10);
    if (n == numbers.end() || end == value.c_str() || *end != '\0' || parsed < 0) return false;
    *n->second = parsed;
  }
  return true;
}

// Nearest-rank percentile of a non-empty sample.
inline double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// --- A glmq job ------------------------------------------------------------------------------

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A JSON answer of glmq, or why there is none.
struct JobAnswer {
  nlohmann::json body;
  std::string error;
  bool ok() const { return error.empty(); }
};

// POST /v1/jobs {text, question, max_tokens, temperature 0}: the 202's body.
inline JobAnswer SubmitJob(const std::string& url, const std::string& text,
                           const std::string& question, int max_tokens,
                           const std::string& api_key = {}) {
  const std::string body = nlohmann::json{
      {"text", text},
      {"question", question},
      {"max_tokens", max_tokens},
      {"temperature", 0}}.dump();
  const HttpReply reply = Http(url + "/v1/jobs", &body, 120, nullptr, api_key);
  if (!reply.ok(202)) return {{}, "submit: " + reply.Describe()};
  nlohmann::json accepted = nlohmann::json::parse(reply.body, nullptr, false);
  if (!accepted.is_object() || !accepted.contains("id")) return {{}, "submit: unreadable 202"};
  return {std::move(accepted), ""};
}

// Long-polls GET /v1/jobs/{id} until the job ends or `deadline` passes: its last record.
inline JobAnswer WaitForEnd(const std::string& url, const std::string& id,
                            std::chrono::steady_clock::time_point deadline,
                            const std::string& api_key = {}) {
  while (std::chrono::steady_clock::now() < deadline) {
    const HttpReply polled =
        Http(url + "/v1/jobs/" + id + "?wait=60", nullptr, 90, nullptr, api_key);
    nlohmann::json j =
        polled.ok(200) ? nlohmann::json::parse(polled.body, nullptr, false) : nlohmann::json();
    if (!j.is_object()) return {{}, "poll: " + polled.Describe()};
    const std::string state = j.value("state", std::string());
    if (state != "queued" && state != "running") return {std::move(j), ""};
  }
  return {{}, "no end within the timeout"};
}

}  // namespace bench
