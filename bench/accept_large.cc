// accept_large: how long glmq takes to accept (or refuse) one very large document.
//
// Sends POST /v1/jobs with a deterministic English-like document of a given size, N times
// per size over one keep-alive libcurl connection, and prints for each request the client
// round trip, the server's own time (the `Server-Timing: app;dur=<ms>` header: from the
// request fully read to the response ready) and the status. Then the medians per size, and
// one machine-readable `RESULT` line per size for bench/run.sh.
//
//   accept_large --url http://127.0.0.1:8080 [--mib 10]... [--repeat 5] [--max-tokens 1]
//                [--cancel] [--label NAME] [--pid PID]
//
// --pid PID (the server's, on this machine) measures the server's peak memory for each
// request: the peak RSS is reset before it (/proc/PID/clear_refs), read and reset again when
// the answer came (socket to store), and read once the engine holds the job's tokens (its
// progress shows prompt tokens read) or the job has ended (store to tokens); each growth
// over the RSS before the request is printed in MiB and as a multiple of the document.
//
// --cancel deletes each accepted job right after its answer and waits until the engine is
// idle again (outside the timed part), so that the engine is not tokenizing or reading one
// document while the next one is being accepted.
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;

// Plain English words, frequent ones listed more than once so that the text has a
// realistic word distribution for a byte-level BPE tokenizer.
const char* const kWords[] = {
    "the",       "the",       "the",        "of",        "of",       "and",       "and",
    "to",        "to",        "a",          "a",         "in",       "in",        "is",
    "that",      "for",       "it",         "as",        "was",      "with",      "be",
    "by",        "on",        "not",        "he",        "this",     "are",       "or",
    "his",       "from",      "at",         "which",     "but",      "have",      "an",
    "had",       "they",      "you",        "were",      "their",    "one",       "all",
    "we",        "can",       "her",        "has",       "there",    "been",      "if",
    "more",      "when",      "will",       "would",     "who",      "so",        "no",
    "queue",     "document",  "question",   "answer",    "model",    "server",    "request",
    "batch",     "token",     "context",    "memory",    "report",   "chapter",   "river",
    "mountain",  "village",   "morning",    "evening",   "letter",   "history",   "contract",
    "payment",   "customer",  "engineer",   "research",  "results",  "evidence",  "system",
    "between",   "because",   "through",    "however",   "although", "therefore", "during",
    "important", "different", "following",  "available", "possible", "national",  "general",
    "quickly",   "carefully", "finally",    "together",  "without",  "against",   "another",
    "people",    "children",  "government", "company",   "market",   "country",   "water",
    "number",    "example",   "problem",    "service",   "question", "interest",  "century",
    "1998",      "2024",      "42",         "3.5",       "million",  "percent",   "seven",
};
constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);

struct Rng {  // splitmix64: deterministic and fast
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
};

// Exactly `bytes` bytes of ASCII prose: sentences of 6-20 words, commas, paragraphs.
std::string MakeDocument(size_t bytes, uint64_t seed) {
  std::string out;
  out.reserve(bytes + 256);
  Rng rng{seed};
  while (out.size() < bytes) {
    const size_t sentences = 3 + rng.Below(6);
    for (size_t s = 0; s < sentences && out.size() < bytes; ++s) {
      const size_t words = 6 + rng.Below(15);
      for (size_t w = 0; w < words; ++w) {
        std::string word = kWords[rng.Below(kNumWords)];
        if (w == 0) word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
        out += word;
        if (w + 1 == words) {
          out += rng.Below(8) == 0 ? "? " : ". ";
        } else {
          out += rng.Below(9) == 0 ? ", " : " ";
        }
      }
    }
    out += "\n\n";
  }
  out.resize(bytes);  // ASCII only, so any cut is valid UTF-8
  return out;
}

struct Reply {
  long status = 0;
  double client_ms = 0;
  double server_ms = -1;
  long new_connections = 0;
  std::string body;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// GET url, body into `out`; returns the status (0 on a transport error).
long Get(CURL* curl, const std::string& url, const char* method, std::string& out) {
  out.clear();
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (method != nullptr) curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(curl) != CURLE_OK) return 0;
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

// Cancels job `id` and waits (up to 120 s) until /v1/queue shows nothing queued or running.
// Returns the seconds waited, or -1 if the server never got idle.
double CancelAndWaitIdle(CURL* curl, const std::string& url, const std::string& id) {
  std::string body;
  Get(curl, url + "/v1/jobs/" + id, "DELETE", body);
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (Get(curl, url + "/v1/queue", nullptr, body) == 200) {
      const json q = json::parse(body, nullptr, false);
      if (!q.is_discarded() && q.value("queued", int64_t{-1}) == 0 && q.contains("running") &&
          q["running"].empty()) {
        return waited;
      }
    }
    if (waited > 120) return -1;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  const std::string name = "server-timing:";
  std::string lower = line.substr(0, std::min(line.size(), name.size()));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == name) {
    const size_t at = line.find("dur=");
    if (at != std::string::npos)
      *static_cast<double*>(user) = std::strtod(line.c_str() + at + 4, nullptr);
  }
  return size * n;
}

// A field of /proc/PID/status in KiB (VmRSS, VmHWM); -1 if unreadable.
long StatusKib(long pid, const char* field) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') kib = std::atol(line + n + 1);
  }
  std::fclose(f);
  return kib;
}

// Resets the peak RSS to the current RSS (Linux: "5" into clear_refs); false if refused.
bool ResetPeak(long pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/clear_refs", pid);
  FILE* f = std::fopen(path, "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

// Waits (up to 300 s) until the engine holds job `id`'s tokens (prompt tokens read) or the
// job has ended.
void WaitForTokens(CURL* curl, const std::string& url, const std::string& id) {
  std::string body;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(300)) {
    if (Get(curl, url + "/v1/jobs/" + id, nullptr, body) == 200) {
      const json j = json::parse(body, nullptr, false);
      if (j.is_discarded()) return;
      const std::string state = j.value("state", std::string());
      if (state != "queued" && state != "running") return;
      if (j.contains("progress") && j["progress"].value("prompt_tokens_read", int64_t{0}) > 0)
        return;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

void Usage() {
  std::fprintf(stderr,
               "usage: accept_large --url http://HOST:PORT [--mib N]... [--repeat N] "
               "[--max-tokens N] [--cancel] [--label NAME] [--pid PID]\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  std::string label = "default";
  std::vector<double> sizes_mib;
  int repeat = 5;
  int max_tokens = 1;
  bool cancel = false;
  long pid = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url")
      url = value();
    else if (a == "--mib")
      sizes_mib.push_back(std::atof(value().c_str()));
    else if (a == "--repeat")
      repeat = std::atoi(value().c_str());
    else if (a == "--max-tokens")
      max_tokens = std::atoi(value().c_str());
    else if (a == "--label")
      label = value();
    else if (a == "--cancel")
      cancel = true;
    else if (a == "--pid")
      pid = std::atol(value().c_str());
    else {
      Usage();
      return 2;
    }
  }
  if (url.empty() || repeat < 1) {
    Usage();
    return 2;
  }
  if (sizes_mib.empty()) sizes_mib.push_back(10);

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    std::fprintf(stderr, "curl_easy_init failed\n");
    return 1;
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  const std::string jobs_url = url + "/v1/jobs";

  std::printf("%-10s %-9s %4s %6s %11s %11s %10s %9s  %s\n", "server", "doc", "rep", "status",
              "client_ms", "server_ms", "outside_ms", "new_conn", "answer");
  int failures = 0;
  struct Summary {
    double mib;
    size_t body_bytes;
    std::vector<double> client, server;
    std::vector<long> statuses;
    std::string answer;
    std::vector<double> rss_growth_mib;
  };
  std::vector<Summary> summaries;
  for (const double mib : sizes_mib) {
    const size_t bytes = static_cast<size_t>(mib * 1024 * 1024);
    const std::string doc = MakeDocument(bytes, 42);
    const std::string body = json{
        {"text", doc},
        {"question", "Summarise the document in one sentence."},
        {"max_tokens",
         max_tokens}}.dump();
    Summary sum{mib, body.size(), {}, {}, {}, {}, {}};
    for (int r = 1; r <= repeat; ++r) {
      Reply reply;
      long rss_before_kib = -1;
      if (pid > 0 && ResetPeak(pid)) rss_before_kib = StatusKib(pid, "VmRSS");
      curl_easy_reset(curl);  // keeps the connection cache: the same connection is reused
      curl_easy_setopt(curl, CURLOPT_URL, jobs_url.c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
      curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
      curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.server_ms);
      curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      const auto t0 = std::chrono::steady_clock::now();
      const CURLcode rc = curl_easy_perform(curl);
      reply.client_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      // The first part, from the socket to the store, ends with the answer; the peak is
      // reset for the second, from the store to the engine's tokens.
      long accept_peak_kib = -1;
      if (rss_before_kib >= 0) {
        accept_peak_kib = StatusKib(pid, "VmHWM");
        ResetPeak(pid);
      }
      std::string answer;
      if (rc != CURLE_OK) {
        answer = std::string("curl error: ") + curl_easy_strerror(rc);
        ++failures;
      } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
        curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &reply.new_connections);
        const json j = json::parse(reply.body, nullptr, false);
        if (j.is_discarded()) {
          answer = "unparsable body";
        } else if (j.contains("prompt_tokens")) {
          answer = "prompt_tokens=" + std::to_string(j["prompt_tokens"].get<int64_t>());
        } else if (j.contains("error")) {
          const json& e = j["error"];
          answer = e.value("code", std::string("?"));
          const std::string msg = e.value("message", std::string());
          // The 422 message carries the exact token count: keep the start of it.
          if (!msg.empty()) answer += ": " + msg.substr(0, 70);
        } else {
          answer = reply.body.substr(0, 80);
        }
        if (rss_before_kib >= 0) {
          // Untimed: from the socket to the store, and from the store to the engine's tokens.
          if (reply.status == 202 && j.contains("id")) {
            WaitForTokens(curl, url, j["id"].get<std::string>());
          }
          const long tokens_peak_kib = StatusKib(pid, "VmHWM");
          const double accept_mib = (accept_peak_kib - rss_before_kib) / 1024.0;
          const double tokens_mib = (tokens_peak_kib - rss_before_kib) / 1024.0;
          const double growth_mib = std::max(accept_mib, tokens_mib);
          const double doc_mib = static_cast<double>(bytes) / (1024 * 1024);
          char note[160];
          std::snprintf(note, sizeof note,
                        " (peak RSS +%.1f MiB, %.2fx the document: socket to store +%.1f MiB "
                        "%.2fx, store to tokens +%.1f MiB %.2fx)",
                        growth_mib, growth_mib / doc_mib, accept_mib, accept_mib / doc_mib,
                        tokens_mib, tokens_mib / doc_mib);
          answer += note;
          sum.rss_growth_mib.push_back(growth_mib);
        }
        if (cancel && reply.status == 202 && j.contains("id")) {
          // Untimed: stop the engine from reading this document before the next request.
          const double waited = CancelAndWaitIdle(curl, url, j["id"].get<std::string>());
          char note[64];
          if (waited < 0) {
            std::snprintf(note, sizeof note, " (server still busy after cancel)");
          } else {
            std::snprintf(note, sizeof note, " (cancelled; idle after %.1f s)", waited);
          }
          answer += note;
        }
      }
      char doc_label[32];
      std::snprintf(doc_label, sizeof doc_label, "%g MiB", mib);
      std::printf("%-10s %-9s %4d %6ld %11.1f %11.1f %10.1f %9ld  %s\n", label.c_str(), doc_label,
                  r, reply.status, reply.client_ms, reply.server_ms,
                  reply.client_ms - reply.server_ms, reply.new_connections, answer.c_str());
      std::fflush(stdout);
      sum.client.push_back(reply.client_ms);
      sum.server.push_back(reply.server_ms);
      sum.statuses.push_back(reply.status);
      if (r == 1) sum.answer = answer;
    }
    summaries.push_back(std::move(sum));
  }

  std::printf("\n%-10s %-9s %12s %4s %8s %17s %17s\n", "server", "doc", "body_bytes", "n", "status",
              "client_median_ms", "server_median_ms");
  for (const Summary& s : summaries) {
    std::string status;
    const bool same = std::all_of(s.statuses.begin(), s.statuses.end(),
                                  [&](long x) { return x == s.statuses.front(); });
    status = same ? std::to_string(s.statuses.front()) : "mixed";
    char doc_label[32];
    std::snprintf(doc_label, sizeof doc_label, "%g MiB", s.mib);
    const double cm = Median(s.client), sm = Median(s.server);
    std::printf("%-10s %-9s %12zu %4zu %8s %17.1f %17.1f\n", label.c_str(), doc_label, s.body_bytes,
                s.client.size(), status.c_str(), cm, sm);
    // For bench/run.sh: label|MiB|body bytes|n|status|client median|server median|first answer
    std::printf("RESULT|%s|%g|%zu|%zu|%s|%.1f|%.1f|%s\n", label.c_str(), s.mib, s.body_bytes,
                s.client.size(), status.c_str(), cm, sm, s.answer.c_str());
    if (!s.rss_growth_mib.empty()) {
      const double peak = *std::max_element(s.rss_growth_mib.begin(), s.rss_growth_mib.end());
      std::printf("RSS|%s|%g|peak growth %.1f MiB, %.2fx the document\n", label.c_str(), s.mib,
                  peak, peak / s.mib);
    }
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  curl_global_cleanup();
  return failures == 0 ? 0 : 1;
}
