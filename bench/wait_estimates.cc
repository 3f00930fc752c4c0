// wait_estimates: how honest the wait a submit is promised turns out. Submits --jobs jobs
// to glmq (documents of --min-words to --max-words words, max_tokens from --min-max-tokens
// to --max-max-tokens, arrivals spread over time with exponential gaps of mean
// --mean-gap-ms), takes each job's estimated_wait_seconds from its 202, waits for it to
// end, and compares the estimate with its queue_wait_seconds (submit to start, as the
// server measured it). Prints one line per job and the median and p90 of the relative
// error |estimate - wait| / wait over the jobs that waited at least --min-wait-s, and a
// machine-readable line:
//   WAIT_RESULT jobs=N median_error=... p90_error=... mean_ratio=...
// With --questions-per-document Q, each arrival is a document with Q questions on it,
// submitted together (Q jobs with the same text, a question each): what glmq's prefix cache
// is for, and what a wait estimate must price as one reading of the document. --url may
// name several servers, comma-separated (gateways on one Redis): job i goes to the
// (i mod n)-th, as a load balancer would spread them, so a document's questions reach
// different gateways.
//
//   wait_estimates --url http://127.0.0.1:PORT [--jobs 30] [--seed 1] [--min-words 50]
//                  [--max-words 3000] [--min-max-tokens 16] [--max-max-tokens 200]
//                  [--mean-gap-ms 400] [--min-wait-s 0.5] [--timeout-s 1800]
//                  [--questions-per-document 1]
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_client.h"

namespace {

using bench::MakeProse;
using bench::Percentile;
using bench::SecondsSince;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> urls;
  int jobs = 30;
  uint64_t seed = 1;
  int min_words = 50;
  int max_words = 3000;
  int min_max_tokens = 16;
  int max_max_tokens = 200;
  int mean_gap_ms = 400;
  double min_wait_s = 0.5;
  int timeout_s = 1800;
  int questions_per_document = 1;
};

struct Record {
  int document = 0;
  int words = 0;
  int max_tokens = 0;
  std::string id;
  double submit_s = 0;
  double estimate_s = -1;
  int64_t position = 0;
  double wait_s = -1;  // queue_wait_seconds
  std::string error;
};

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--url") {
      for (size_t at = 0; at <= v.size();) {
        const size_t comma = std::min(v.find(',', at), v.size());
        if (comma > at) o.urls.push_back(v.substr(at, comma - at));
        at = comma + 1;
      }
      continue;
    }
    char* end = nullptr;
    const double n = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || n < 0) return false;
    if (a == "--jobs")
      o.jobs = static_cast<int>(n);
    else if (a == "--seed")
      o.seed = static_cast<uint64_t>(n);
    else if (a == "--min-words")
      o.min_words = static_cast<int>(n);
    else if (a == "--max-words")
      o.max_words = static_cast<int>(n);
    else if (a == "--min-max-tokens")
      o.min_max_tokens = static_cast<int>(n);
    else if (a == "--max-max-tokens")
      o.max_max_tokens = static_cast<int>(n);
    else if (a == "--mean-gap-ms")
      o.mean_gap_ms = static_cast<int>(n);
    else if (a == "--min-wait-s")
      o.min_wait_s = n;
    else if (a == "--timeout-s")
      o.timeout_s = static_cast<int>(n);
    else if (a == "--questions-per-document")
      o.questions_per_document = static_cast<int>(n);
    else
      return false;
  }
  return argc % 2 == 1 && !o.urls.empty() && o.jobs > 0 && o.min_words <= o.max_words &&
         o.min_max_tokens <= o.max_max_tokens && o.questions_per_document > 0;
}

// Submits, then long-polls until the job ends and reads its queue wait.
void Run(const std::string& url, const std::string& text, const std::string& question, Record& r,
         Clock::time_point start, int timeout_s) {
  r.submit_s = SecondsSince(start);
  const bench::JobAnswer accepted = bench::SubmitJob(url, text, question, r.max_tokens);
  if (!accepted.ok()) {
    r.error = accepted.error;
    return;
  }
  r.id = accepted.body["id"].get<std::string>();
  r.estimate_s = accepted.body.value("estimated_wait_seconds", -1.0);
  r.position = accepted.body.value("queue_position", int64_t{0});
  const bench::JobAnswer ended =
      bench::WaitForEnd(url, r.id, start + std::chrono::seconds(timeout_s));
  if (!ended.ok()) {
    r.error = ended.error;
    return;
  }
  const json& j = ended.body;
  const std::string state = j.value("state", std::string());
  if (state != "succeeded") r.error = "job " + state;
  if (j.contains("queue_wait_seconds") && j["queue_wait_seconds"].is_number()) {
    r.wait_s = j["queue_wait_seconds"].get<double>();
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: wait_estimates --url URL[,URL...] [--jobs N] [--seed N] [--min-words N] "
                 "[--max-words N] [--min-max-tokens N] [--max-max-tokens N] [--mean-gap-ms MS] "
                 "[--min-wait-s S] [--timeout-s S] [--questions-per-document Q]\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::mt19937_64 rng(o.seed);
  std::vector<Record> records(static_cast<size_t>(o.jobs));
  std::vector<std::string> texts;
  std::vector<double> arrivals;
  double at = 0;
  std::exponential_distribution<double> gap(1000.0 / std::max(1, o.mean_gap_ms));
  for (int i = 0; i < o.jobs; ++i) {
    Record& r = records[i];
    r.document = i / o.questions_per_document;
    const bool first = i % o.questions_per_document == 0;
    r.words = first ? std::uniform_int_distribution<int>(o.min_words, o.max_words)(rng)
                    : records[i - 1].words;
    r.max_tokens = std::uniform_int_distribution<int>(o.min_max_tokens, o.max_max_tokens)(rng);
    if (first) {
      // About six bytes a word in the generated prose.
      texts.push_back(MakeProse(o.seed * 7919 + r.document, static_cast<size_t>(r.words) * 6));
      arrivals.push_back(at);
      at += gap(rng);
    }
  }
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.jobs; ++i) {
    const int document = records[i].document;
    const double wait = arrivals[document] - SecondsSince(start);
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    const int q = i % o.questions_per_document;
    const std::string question =
        q == 0 ? "What is the main point?" : "What does part " + std::to_string(q) + " say?";
    const std::string& url = o.urls[static_cast<size_t>(i) % o.urls.size()];
    threads.emplace_back([&, i, document, question] {
      Run(url, texts[document], question, records[i], start, o.timeout_s);
    });
    // The questions on one document go in the order given (each is a new thread).
    if (o.questions_per_document > 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (std::thread& t : threads) t.join();

  std::printf("%4s %4s %6s %5s %9s %4s %10s %8s %7s  %s\n", "job", "doc", "words", "max",
              "submit_s", "pos", "estimate_s", "wait_s", "error", "result");
  std::vector<double> errors, ratios;
  int failed = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    const bool measured = r.error.empty() && r.wait_s >= o.min_wait_s && r.estimate_s >= 0;
    double error = -1;
    if (measured) {
      error = std::fabs(r.estimate_s - r.wait_s) / r.wait_s;
      errors.push_back(error);
      ratios.push_back(r.estimate_s / r.wait_s);
    }
    failed += r.error.empty() ? 0 : 1;
    std::printf("%4zu %4d %6d %5d %9.2f %4lld %10.2f %8.2f %6.0f%%  %s\n", i + 1, r.document + 1,
                r.words, r.max_tokens, r.submit_s, static_cast<long long>(r.position), r.estimate_s,
                r.wait_s, measured ? 100 * error : -1.0, r.error.empty() ? "ok" : r.error.c_str());
  }
  double mean_ratio = 0;
  for (double x : ratios) mean_ratio += x / static_cast<double>(ratios.size());
  const double median = errors.empty() ? -1 : Percentile(errors, 0.5);
  const double p90 = errors.empty() ? -1 : Percentile(errors, 0.9);
  std::printf(
      "\n%zu of %d jobs waited at least %.1f s: relative error median %.0f%%, p90 %.0f%%; "
      "estimate / wait on average %.2f\n",
      errors.size(), o.jobs, o.min_wait_s, 100 * median, 100 * p90, mean_ratio);
  std::printf("WAIT_RESULT jobs=%zu median_error=%.3f p90_error=%.3f mean_ratio=%.3f\n",
              errors.size(), median, p90, mean_ratio);
  return failed == 0 ? 0 : 1;
}
