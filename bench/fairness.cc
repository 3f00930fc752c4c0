// fairness: one glmq run of two tenants sharing the engine. Tenant A (--key-a) submits
// --a-docs documents of about --a-doc-tokens tokens at once; tenant B (--key-b) then submits
// --b-questions short questions, one every --b-interval-ms from --b-start-ms. Each of B's
// questions is waited for on a thread of its own. Once B's questions have ended (or timed
// out), A's jobs are read back and those still queued or running are cancelled: only the
// time B was served beside A's backlog is measured. With --a-docs 0 B runs alone.
//
//   fairness --url http://127.0.0.1:PORT --key-a KEY --key-b KEY [--a-docs 200]
//            [--a-doc-tokens 6000] [--a-max-tokens 16] [--b-questions 20]
//            [--b-start-ms 3000] [--b-interval-ms 1500] [--b-max-tokens 16] [--seed 1]
//            [--timeout-s 300]
//
// Weighted service (VTC's, store/service_counters.h: prompt tokens x 1 + generated tokens x 2)
// is counted per job at its start (the claim), from the server's records. For every stretch
// in which both tenants had queued work (B's questions waiting, A's documents waiting), the
// difference between the service each got in it is a gap; the largest is printed beside
// VTC's bound, 2 x the largest max(prompt x 1, max_tokens x 2) of one job.
//
// Prints one line per question and a machine-readable line for bench/fairness.sh:
//   FAIR_RESULT b_done=N b_p50_s=... b_p95_s=... gap_max=... bound=... a_started=N
// A question not ended within --timeout-s counts as --timeout-s (and b_done says how many
// ended). Exit status 0 when every question succeeded.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
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

// VTC's weights of a prompt token and a generated token (as glmq's ServiceCounters).
constexpr double kPromptWeight = 1;
constexpr double kOutputWeight = 2;
constexpr double kBytesPerToken = bench::kProseBytesPerToken;

struct Options {
  std::string url;
  std::string key_a;
  std::string key_b;
  int64_t a_docs = 200;
  int64_t a_doc_tokens = 6000;
  int64_t a_max_tokens = 16;
  int64_t b_questions = 20;
  int64_t b_start_ms = 3000;
  int64_t b_interval_ms = 1500;
  int64_t b_max_tokens = 16;
  int64_t seed = 1;
  int64_t timeout_s = 300;
};

// A job as the server recorded it (times in seconds since the epoch; -1 when not set).
struct JobRecord {
  char tenant = 'A';
  std::string id;
  double created = -1;
  double started = -1;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t max_tokens = 0;
  std::string state;
};

double TimeOf(const json& j, const char* field) {
  return j.contains(field) && j[field].is_number() ? j[field].get<double>() : -1;
}

JobRecord ReadRecord(const Options& o, char tenant, const std::string& id) {
  JobRecord r;
  r.tenant = tenant;
  r.id = id;
  const std::string& key = tenant == 'A' ? o.key_a : o.key_b;
  const HttpReply reply = Http(o.url + "/v1/jobs/" + id, nullptr, 30, nullptr, key);
  const json j = reply.ok(200) ? json::parse(reply.body, nullptr, false) : json();
  if (!j.is_object()) return r;
  r.created = TimeOf(j, "created_at");
  r.started = TimeOf(j, "started_at");
  r.state = j.value("state", std::string());
  r.prompt_tokens = j.value("prompt_tokens", int64_t{0});
  r.max_tokens = j.value("max_tokens", int64_t{0});
  if (j.contains("usage") && j["usage"].is_object()) {
    r.prompt_tokens = std::max(r.prompt_tokens, j["usage"].value("prompt_tokens", int64_t{0}));
    r.completion_tokens = j["usage"].value("completion_tokens", int64_t{0});
  }
  return r;
}

double ServiceOf(const JobRecord& r) {
  return kPromptWeight * static_cast<double>(r.prompt_tokens) +
         kOutputWeight * static_cast<double>(r.completion_tokens);
}

struct Gap {
  double largest = 0;
  double bound = 0;
  int stretches = 0;
};

using Span = std::pair<double, double>;

// The stretches in which `tenant` had queued work (a job created and not yet started; one
// never started waits until `now`), merged.
std::vector<Span> QueuedSpans(const std::vector<JobRecord>& jobs, char tenant, double now) {
  std::vector<Span> spans;
  for (const JobRecord& r : jobs) {
    if (r.tenant == tenant && r.created > 0)
      spans.emplace_back(r.created, r.started > 0 ? r.started : now);
  }
  std::sort(spans.begin(), spans.end());
  std::vector<Span> merged;
  for (const Span& s : spans) {
    if (!merged.empty() && s.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, s.second);
    } else {
      merged.push_back(s);
    }
  }
  return merged;
}

// The largest |service(A) - service(B)| over the stretches in which both had queued work,
// counting the jobs that started in each (the start that ends one included).
Gap LargestGap(const std::vector<JobRecord>& jobs, double now) {
  Gap gap;
  double largest_job = 0;
  for (const JobRecord& r : jobs) {
    largest_job = std::max({largest_job, kPromptWeight * static_cast<double>(r.prompt_tokens),
                            kOutputWeight * static_cast<double>(r.max_tokens)});
  }
  gap.bound = 2 * largest_job;
  for (const Span& a : QueuedSpans(jobs, 'A', now)) {
    for (const Span& b : QueuedSpans(jobs, 'B', now)) {
      const double from = std::max(a.first, b.first);
      const double to = std::min(a.second, b.second);
      if (from >= to) continue;
      double served_a = 0;
      double served_b = 0;
      for (const JobRecord& r : jobs) {
        if (r.started < from || r.started > to) continue;
        (r.tenant == 'A' ? served_a : served_b) += ServiceOf(r);
      }
      gap.largest = std::max(gap.largest, std::abs(served_a - served_b));
      ++gap.stretches;
    }
  }
  return gap;
}

bool ParseArgs(int argc, char** argv, Options& o) {
  return bench::ParseFlagPairs(argc, argv,
                               {{"--url", &o.url}, {"--key-a", &o.key_a}, {"--key-b", &o.key_b}},
                               {{"--a-docs", &o.a_docs},
                                {"--a-doc-tokens", &o.a_doc_tokens},
                                {"--a-max-tokens", &o.a_max_tokens},
                                {"--b-questions", &o.b_questions},
                                {"--b-start-ms", &o.b_start_ms},
                                {"--b-interval-ms", &o.b_interval_ms},
                                {"--b-max-tokens", &o.b_max_tokens},
                                {"--seed", &o.seed},
                                {"--timeout-s", &o.timeout_s}}) &&
         !o.url.empty() && o.b_questions > 0 && o.timeout_s > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: fairness --url URL --key-a KEY --key-b KEY [--a-docs N] "
                 "[--a-doc-tokens N] [--a-max-tokens N] [--b-questions N] [--b-start-ms N] "
                 "[--b-interval-ms N] [--b-max-tokens N] [--seed N] [--timeout-s N]\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const Clock::time_point start = Clock::now();

  // A's documents, all at once (each different: no prefix is shared).
  std::vector<std::string> a_ids;
  const auto doc_bytes = static_cast<size_t>(static_cast<double>(o.a_doc_tokens) * kBytesPerToken);
  for (int i = 0; i < o.a_docs; ++i) {
    const bench::JobAnswer accepted =
        bench::SubmitJob(o.url, MakeProse(o.seed * 1000 + static_cast<uint64_t>(i), doc_bytes),
                         "Summarize the document in one sentence.", o.a_max_tokens, o.key_a);
    if (!accepted.ok()) {
      std::fprintf(stderr, "fairness: A's document %d: %s\n", i, accepted.error.c_str());
      return 1;
    }
    a_ids.push_back(accepted.body["id"].get<std::string>());
  }
  std::printf("A: %lld documents submitted in %.2f s\n", static_cast<long long>(o.a_docs),
              SecondsSince(start));
  std::fflush(stdout);

  // B's questions at a steady rate, each waited for on its own thread.
  struct Question {
    std::string id;
    double latency_s = -1;
    std::string state;
    std::string error;
  };
  std::vector<Question> questions(static_cast<size_t>(o.b_questions));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.b_questions; ++i) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(o.b_start_ms) +
                                  std::chrono::milliseconds(int64_t{o.b_interval_ms} * i));
    threads.emplace_back([&o, &q = questions[static_cast<size_t>(i)], i] {
      const Clock::time_point submitted = Clock::now();
      const std::string text = MakeProse(o.seed * 7777 + static_cast<uint64_t>(i), 160);
      const bench::JobAnswer accepted =
          bench::SubmitJob(o.url, text, "What happened first?", o.b_max_tokens, o.key_b);
      if (!accepted.ok()) {
        q.error = accepted.error;
        return;
      }
      q.id = accepted.body["id"].get<std::string>();
      const bench::JobAnswer ended =
          bench::WaitForEnd(o.url, q.id, submitted + std::chrono::seconds(o.timeout_s), o.key_b);
      q.latency_s = SecondsSince(submitted);
      if (!ended.ok()) {
        q.error = ended.error;
        return;
      }
      q.state = ended.body.value("state", std::string());
    });
  }
  for (std::thread& t : threads) t.join();

  // What the server recorded, then A's rest cancelled.
  std::vector<JobRecord> records;
  for (const Question& q : questions) {
    if (!q.id.empty()) records.push_back(ReadRecord(o, 'B', q.id));
  }
  int a_started = 0;
  for (const std::string& id : a_ids) {
    records.push_back(ReadRecord(o, 'A', id));
    if (records.back().started > 0) ++a_started;
    if (records.back().state == "queued" || records.back().state == "running") {
      Http(o.url + "/v1/jobs/" + id, nullptr, 30, "DELETE", o.key_a);
    }
  }

  std::vector<double> latencies;
  int done = 0;
  bool all_ok = true;
  for (size_t i = 0; i < questions.size(); ++i) {
    const Question& q = questions[i];
    const bool ok = q.error.empty() && q.state == "succeeded";
    all_ok = all_ok && ok;
    done += q.error.empty() ? 1 : 0;
    latencies.push_back(q.error.empty() ? q.latency_s : o.timeout_s);
    std::printf("B question %2zu: %s %.2f s%s%s\n", i, q.state.empty() ? "-" : q.state.c_str(),
                q.latency_s, q.error.empty() ? "" : "  ", q.error.c_str());
  }
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const Gap gap = LargestGap(records, now);
  int64_t a_smallest = 0;
  int64_t a_largest = 0;
  for (const JobRecord& r : records) {
    if (r.tenant != 'A') continue;
    a_smallest = a_smallest == 0 ? r.prompt_tokens : std::min(a_smallest, r.prompt_tokens);
    a_largest = std::max(a_largest, r.prompt_tokens);
  }
  if (o.a_docs > 0) {
    std::printf("A's documents: %lld to %lld prompt tokens\n", static_cast<long long>(a_smallest),
                static_cast<long long>(a_largest));
  }
  std::printf(
      "A: %d of %d documents started; B: %d of %d questions ended; %d stretches with "
      "both backlogged\n",
      a_started, static_cast<int>(o.a_docs), done, static_cast<int>(o.b_questions), gap.stretches);
  std::printf(
      "FAIR_RESULT b_done=%d b_p50_s=%.3f b_p95_s=%.3f gap_max=%.0f bound=%.0f "
      "a_started=%d\n",
      done, Percentile(latencies, 0.5), Percentile(latencies, 0.95), gap.largest, gap.bound,
      a_started);
  curl_global_cleanup();
  return all_ok ? 0 : 1;
}
