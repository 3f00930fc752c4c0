// held_document: one glmq run of the workload a held document must not slow down. A long
// document (--long-tokens) is submitted first; with --held 1 a second, much longer one
// (--held-tokens) right after it, sized so that both do not fit the KV at once: it is held
// until the first ends. Short questions (--shorts, ~100 tokens each) then arrive one every
// --short-interval-ms while the first is read. Each job waits for its own answer on a thread
// of its own; the held document is followed until it starts reading (its progress shows
// prompt tokens read) and then cancelled, since reading a million tokens on a CPU takes many
// minutes and only its start is measured.
//
//   held_document --url http://127.0.0.1:PORT [--long-tokens 48000] [--held 0|1]
//                 [--held-tokens 980000] [--shorts 4] [--short-start-ms 1000]
//                 [--short-interval-ms 2000] [--short-max-tokens 16] [--long-max-tokens 16]
//                 [--seed 1] [--timeout-s 900] [--progress-ms 0]
//
// --progress-ms N follows the long document every N ms: prompt tokens read, the rate over
// the last interval and since its first token, and when the whole prompt was read (what
// bench/gpu/run.sh prints for a ~1M-token document, whose reading it may cut short).
//
// Prints one line per job and a machine-readable line for bench/held_document.sh:
//   HELD_RESULT long_s=... short_p50_s=... short_p95_s=... held_start_s=... held_after_long_s=...
//               long_read_s=... long_prefill_tps=...
// (held_start_s: seconds from the long document's submit to the held one's first prompt
// token, held_after_long_s: from the long document's end to it; -1 without --held). Exit
// status 0 when every measured job succeeded.
#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_client.h"

namespace {

using bench::Http;
using bench::HttpReply;
using bench::MakeProse;
using bench::Percentile;
using bench::SecondsSince;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The two documents must not fit together, and each must fit alone: the sizes printed are
// the server's counts, so check them.
constexpr double kBytesPerToken = bench::kProseBytesPerToken;

struct Options {
  std::string url;
  int64_t long_tokens = 48000;
  bool held = false;
  int64_t held_tokens = 980000;
  int shorts = 4;
  int short_start_ms = 1000;
  int short_interval_ms = 2000;
  int short_max_tokens = 16;
  int long_max_tokens = 16;
  uint64_t seed = 1;
  int timeout_s = 900;
  int progress_ms = 0;
};

// What the progress thread saw of the long document's reading.
struct Reading {
  double first_token_s = -1;  // when its prompt was first seen being read
  int64_t first_tokens = 0;   // prompt tokens read by then
  double read_s = -1;         // when its whole prompt was
  int64_t tokens = 0;         // prompt tokens read at the last look
  double last_s = -1;
};

struct Record {
  std::string name;
  std::string id;
  double submit_s = -1;
  double finish_s = -1;
  int64_t prompt_tokens = 0;
  std::string state;
  std::string error;
};

// Submits; false with `r.error` set when it was not accepted.
bool Submit(const Options& o, const std::string& text, const std::string& question, int max_tokens,
            Record& r, Clock::time_point start) {
  r.submit_s = SecondsSince(start);
  const bench::JobAnswer accepted = bench::SubmitJob(o.url, text, question, max_tokens);
  if (!accepted.ok()) {
    r.error = accepted.error;
    return false;
  }
  r.id = accepted.body["id"].get<std::string>();
  r.prompt_tokens = accepted.body.value("prompt_tokens", int64_t{0});
  return true;
}

// Submits and long-polls until the job ends.
void RunJob(const Options& o, const std::string& text, const std::string& question, int max_tokens,
            Record& r, Clock::time_point start) {
  if (!Submit(o, text, question, max_tokens, r, start)) return;
  const bench::JobAnswer ended =
      bench::WaitForEnd(o.url, r.id, start + std::chrono::seconds(o.timeout_s));
  if (!ended.ok()) {
    r.error = ended.error;
    return;
  }
  const nlohmann::json& j = ended.body;
  r.state = j.value("state", std::string());
  r.finish_s = SecondsSince(start);
  if (j.contains("usage")) r.prompt_tokens = j["usage"].value("prompt_tokens", r.prompt_tokens);
  if (r.state != "succeeded") r.error = "job " + r.state;
}

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--url") {
      o.url = v;
      continue;
    }
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0' || n < 0) return false;
    if (a == "--long-tokens")
      o.long_tokens = n;
    else if (a == "--held" && n <= 1)
      o.held = n == 1;
    else if (a == "--held-tokens")
      o.held_tokens = n;
    else if (a == "--shorts")
      o.shorts = static_cast<int>(n);
    else if (a == "--short-start-ms")
      o.short_start_ms = static_cast<int>(n);
    else if (a == "--short-interval-ms")
      o.short_interval_ms = static_cast<int>(n);
    else if (a == "--short-max-tokens")
      o.short_max_tokens = static_cast<int>(n);
    else if (a == "--long-max-tokens")
      o.long_max_tokens = static_cast<int>(n);
    else if (a == "--seed")
      o.seed = static_cast<uint64_t>(n);
    else if (a == "--timeout-s")
      o.timeout_s = static_cast<int>(n);
    else if (a == "--progress-ms")
      o.progress_ms = static_cast<int>(n);
    else
      return false;
  }
  return argc % 2 == 1 && !o.url.empty() && o.long_tokens > 0 && o.shorts > 0;
}

// Every `o.progress_ms`, one line on the long document's reading, until it has read the whole
// prompt or `done` is set.
void FollowReading(const Options& o, const Record& r, Clock::time_point start,
                   const std::atomic<bool>& done, Reading& out) {
  int64_t prev_tokens = 0;
  double prev_s = SecondsSince(start);
  while (!done && SecondsSince(start) < o.timeout_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.progress_ms));
    const HttpReply reply = Http(o.url + "/v1/jobs/" + r.id, nullptr, 30);
    const json j = reply.ok(200) ? json::parse(reply.body, nullptr, false) : json();
    if (!j.is_object()) continue;
    const double now = SecondsSince(start);
    const int64_t read =
        j.contains("progress") ? j["progress"].value("prompt_tokens_read", int64_t{0}) : 0;
    const int64_t total = j.value("prompt_tokens", int64_t{0});
    if (read > 0 && out.first_token_s < 0) {
      out.first_token_s = now;
      out.first_tokens = read;
    }
    const double window = now - prev_s;
    std::printf("progress t=%7.1f s  read %9lld of %9lld prompt tokens (%5.1f %%)  %8.0f tok/s now",
                now, static_cast<long long>(read), static_cast<long long>(total),
                total > 0 ? 100.0 * read / total : 0.0,
                window > 0 ? (read - prev_tokens) / window : 0.0);
    if (out.first_token_s >= 0 && now > out.first_token_s) {
      std::printf("  %8.0f tok/s since t=%.1f s",
                  (read - out.first_tokens) / (now - out.first_token_s), out.first_token_s);
    }
    std::printf("  state %s\n", j.value("state", std::string("?")).c_str());
    std::fflush(stdout);
    out.tokens = read;
    out.last_s = now;
    prev_tokens = read;
    prev_s = now;
    if (total > 0 && read >= total) {
      out.read_s = now;
      return;
    }
    const std::string state = j.value("state", std::string());
    if (state != "queued" && state != "running") return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: held_document --url URL [--long-tokens N] [--held 0|1] "
                 "[--held-tokens N] [--shorts N] [--short-start-ms MS] [--short-interval-ms MS] "
                 "[--short-max-tokens N] [--long-max-tokens N] [--seed N] [--timeout-s S] "
                 "[--progress-ms MS]\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const std::string document =
      MakeProse(o.seed, static_cast<size_t>(o.long_tokens * kBytesPerToken));
  const std::string held_document =
      o.held ? MakeProse(o.seed + 7, static_cast<size_t>(o.held_tokens * kBytesPerToken)) : "";
  std::vector<std::string> short_texts;
  for (int i = 0; i < o.shorts; ++i) short_texts.push_back(MakeProse(o.seed * 31 + i + 1, 130));

  const Clock::time_point start = Clock::now();
  Record long_record;
  long_record.name = "long";
  std::vector<Record> shorts(static_cast<size_t>(o.shorts));
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    RunJob(o, document, "Summarise the document.", o.long_max_tokens, long_record, start);
  });
  // The held document goes in once the first is accepted, so that it is claimed second.
  while (long_record.id.empty() && long_record.error.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Reading reading;
  std::atomic<bool> long_done{false};
  std::thread progress_thread;
  if (o.progress_ms > 0 && !long_record.id.empty()) {
    progress_thread =
        std::thread([&] { FollowReading(o, long_record, start, long_done, reading); });
  }
  Record held;
  held.name = "held";
  double held_start_s = -1;
  std::thread held_thread;
  if (o.held) {
    held_thread = std::thread([&] {
      if (!Submit(o, held_document, "Summarise it.", 16, held, start)) return;
      // Started: its prompt is being read (a held job is claimed, so its state says running
      // before it starts).
      while (SecondsSince(start) < o.timeout_s) {
        const HttpReply r = Http(o.url + "/v1/jobs/" + held.id, nullptr, 30);
        const json j = r.ok(200) ? json::parse(r.body, nullptr, false) : json();
        if (j.is_object() && j.contains("progress") &&
            j["progress"].value("prompt_tokens_read", int64_t{0}) > 0) {
          held_start_s = SecondsSince(start);
          // The 202 told a bound; by now the server has counted it.
          held.prompt_tokens = j.value("prompt_tokens", held.prompt_tokens);
          break;
        }
        if (j.is_object() && j.value("state", std::string()) != "running" &&
            j.value("state", std::string()) != "queued") {
          held.error = "ended as " + j.value("state", std::string()) + " before it started";
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      Http(o.url + "/v1/jobs/" + held.id, nullptr, 30, "DELETE");
    });
  }
  for (int i = 0; i < o.shorts; ++i) {
    const double at = (o.short_start_ms + static_cast<double>(i) * o.short_interval_ms) / 1000.0;
    const double wait = at - SecondsSince(start);
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    shorts[i].name = "short-" + std::to_string(i + 1);
    threads.emplace_back([&, i] {
      RunJob(o, short_texts[i], "What happened first?", o.short_max_tokens, shorts[i], start);
    });
  }
  for (std::thread& t : threads) t.join();
  long_done = true;
  if (progress_thread.joinable()) progress_thread.join();
  if (held_thread.joinable()) held_thread.join();

  std::printf("%-8s %10s %9s %9s %10s  %s\n", "job", "prompt", "submit_s", "finish_s", "latency_s",
              "result");
  int failed = 0;
  std::vector<double> latencies;
  auto print = [&](const Record& r) {
    const bool ok = r.error.empty();
    failed += ok ? 0 : 1;
    std::printf("%-8s %10lld %9.2f %9.2f %10.2f  %s\n", r.name.c_str(),
                static_cast<long long>(r.prompt_tokens), r.submit_s, r.finish_s,
                r.finish_s - r.submit_s, ok ? "ok" : r.error.c_str());
  };
  print(long_record);
  for (const Record& r : shorts) {
    print(r);
    if (r.error.empty()) latencies.push_back(r.finish_s - r.submit_s);
  }
  if (o.held) {
    std::printf("held     %10lld %9.2f  started reading at %.2f s%s\n",
                static_cast<long long>(held.prompt_tokens), held.submit_s, held_start_s,
                held.error.empty() ? "" : (" (" + held.error + ")").c_str());
    if (held_start_s < 0) ++failed;
  }
  const double p50 = latencies.empty() ? -1 : Percentile(latencies, 0.5);
  const double p95 = latencies.empty() ? -1 : Percentile(latencies, 0.95);
  // How long after the document it waits for ends the held one starts: what backfilled jobs
  // would lengthen if they held memory it needs.
  const double held_after_long_s = held_start_s < 0 ? -1 : held_start_s - long_record.finish_s;
  // The reading rate over what was read: the whole prompt, or as far as it got. A document
  // that ended between two looks counts from its submit (or first token seen) to its end,
  // its few generated tokens included.
  if (o.progress_ms > 0 && long_record.error.empty() &&
      (reading.read_s < 0 || reading.read_s > long_record.finish_s)) {
    reading.read_s = long_record.finish_s;
    reading.tokens = long_record.prompt_tokens;
    if (reading.first_token_s < 0) reading.first_token_s = long_record.submit_s;
  }
  const double read_until = reading.read_s >= 0 ? reading.read_s : reading.last_s;
  const double prefill_tps =
      reading.first_token_s >= 0 && read_until > reading.first_token_s
          ? (reading.tokens - reading.first_tokens) / (read_until - reading.first_token_s)
          : -1;
  std::printf(
      "HELD_RESULT long_s=%.3f short_p50_s=%.3f short_p95_s=%.3f held_start_s=%.3f "
      "held_after_long_s=%.3f long_read_s=%.3f long_prefill_tps=%.1f\n",
      long_record.finish_s - long_record.submit_s, p50, p95, held_start_s, held_after_long_s,
      reading.read_s >= 0 ? reading.read_s - long_record.submit_s : -1.0, prefill_tps);
  return failed == 0 ? 0 : 1;
}
