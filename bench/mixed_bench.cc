// mixed_bench: a mixed workload against glmq or llama.cpp's llama-server. One long document
// (at least --long-tokens prompt tokens) is submitted first; --short questions of about 100
// tokens each then arrive at a fixed interval while it is read. Every job is one thread that
// waits for its own answer. Prints one line per job, the long document's reading progress
// over time, a summary and a machine-readable `MIXED_RESULT` line for bench/mixed.sh.
//
//   mixed_bench --target glmq|llama-server --url http://127.0.0.1:PORT [--long-tokens 16384]
//               [--short 40] [--short-interval-ms 750] [--short-start-ms 1000]
//               [--short-max-tokens 32] [--long-max-tokens 64] [--seed 1] [--long-bytes N]
//               [--job-timeout-s 900] [--sample-ms 1000] [--same-document 0|1]
//
// --same-document 1: the short jobs ask their questions about the long document (its text
// and their own question) instead of a short text each: the workload of many questions on
// one document, where a server that reuses the document's KV reads it once. Prompt tokens
// a server reports as cached (usage.prompt_tokens_details.cached_tokens, both servers) are
// summed in `cached_tokens`.
//
// Over 500 lines: a standalone program (the two servers' request and answer shapes, the
// sampling of the document's progress, the report) that bench/mixed.sh builds and calls
// once per server.
//
// glmq: POST /v1/jobs {text, question, max_tokens, temperature 0}, then GET
// /v1/jobs/{id}?wait=300 until the job ends. llama-server: one blocking POST
// /v1/chat/completions with the user message text + "\n\n" + question, which is the message
// glmq renders from {text, question}, so both apply the model's chat template to the same
// text. Times are taken on this side: submit = before the request is sent, finish = when
// the answer (glmq: the terminal job record) arrives.
//
// Exit status: 0 when every job succeeded, 1 when any failed (each failure is printed and
// left out of the token counts), 2 for bad arguments.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_client.h"

namespace {

using bench::Http;
using bench::HttpReply;
using bench::kObjects;
using bench::kSubjects;
using bench::kVerbs;
using bench::MakeProse;
using bench::Percentile;
using bench::SplitMix64;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Bytes of the generated prose per prompt token with the bench model's tokenizer (measured:
// about 2.3; its vocabulary has few merges). The document is sized with a 5% margin so
// that it comes out a little over --long-tokens; a real GLM-4 tokenizer packs more bytes
// per token, and llama-server's /tokenize then grows the document (see main).
constexpr double kBytesPerToken = 2.35;
constexpr double kLongMargin = 1.05;
constexpr int64_t kShortTextTokens = 55;  // + question and template: ~100 prompt tokens
constexpr int kGlmqMaxWaitSeconds = 300;

struct Options {
  std::string target;
  std::string url;
  int64_t long_tokens = 16384;
  int shorts = 40;
  int short_interval_ms = 750;
  int short_start_ms = 1000;
  int short_max_tokens = 32;
  int long_max_tokens = 64;
  uint64_t seed = 1;
  int64_t long_bytes = 0;  // 0: long_tokens × kBytesPerToken × kLongMargin
  int job_timeout_s = 900;
  int sample_ms = 1000;
  bool same_document = false;
};

// --- Jobs and targets ------------------------------------------------------------------------

struct JobSpec {
  std::string name;
  bool is_long = false;
  std::string text;
  std::string question;
  int max_tokens = 0;
  double submit_at_s = 0;  // planned, from the start of the run
};

// Written by the job's own thread only; read by main after the join.
struct JobRecord {
  double submit_s = -1;
  double finish_s = -1;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // of prompt_tokens, reused from the server's KV cache
  bool ok = false;
  std::string finish_reason;
  std::string error;
};

// usage.prompt_tokens_details.cached_tokens, the OpenAI field both servers fill; 0 if absent.
int64_t CachedTokens(const json& usage) {
  const auto details = usage.find("prompt_tokens_details");
  if (details == usage.end() || !details->is_object()) return 0;
  return details->value("cached_tokens", int64_t{0});
}

class Target {
 public:
  explicit Target(const Options& options) : options_(options), start_(Clock::now()) {}
  virtual ~Target() = default;

  void StartClock() { start_ = Clock::now(); }
  double Now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  // Submits the job and blocks until it ends or the job timeout passes.
  virtual void Run(const JobSpec& job, JobRecord& record) = 0;
  // Prompt tokens of `text` counted by the target, untimed, before the run; -1 if unknown.
  virtual int64_t CountTokens(const std::string& text) = 0;
  // Prompt tokens of the long job read so far; -1 if unknown right now.
  virtual int64_t LongPromptRead() = 0;

  // The long job's prompt tokens as far as known before it ends (glmq's 202; the document
  // alone from llama-server's /tokenize); -1 if unknown.
  int64_t long_prompt_tokens() const { return long_prompt_tokens_; }
  void set_long_prompt_tokens(int64_t n) { long_prompt_tokens_ = n; }

 protected:
  const Options& options_;
  std::atomic<int64_t> long_prompt_tokens_{-1};

 private:
  Clock::time_point start_;
};

class GlmqTarget final : public Target {
 public:
  using Target::Target;

  void Run(const JobSpec& job, JobRecord& record) override {
    const std::string body = json{
        {"text", job.text},
        {"question", job.question},
        {"max_tokens", job.max_tokens},
        {"temperature", 0}}.dump();
    record.submit_s = Now();
    const HttpReply submitted = Http(options_.url + "/v1/jobs", &body, 60);
    if (!submitted.ok(202)) {
      record.finish_s = Now();
      record.error = "submit: " + submitted.Describe();
      return;
    }
    const json accepted = json::parse(submitted.body, nullptr, false);
    if (accepted.is_discarded() || !accepted.contains("id")) {
      record.finish_s = Now();
      record.error = "submit: unreadable 202 body";
      return;
    }
    const std::string id = accepted["id"].get<std::string>();
    const int64_t accepted_tokens = accepted.value("prompt_tokens", int64_t{0});
    if (job.is_long) {
      set_long_prompt_tokens(accepted_tokens);
      std::lock_guard lock(mu_);
      long_id_ = id;
    }
    const double deadline = record.submit_s + options_.job_timeout_s;
    json last;
    for (;;) {
      const double left = deadline - Now();
      if (left <= 0) {
        record.finish_s = Now();
        record.error = "no terminal state within " + std::to_string(options_.job_timeout_s) +
                       " s (last state " + last.value("state", std::string("?")) + ")";
        return;
      }
      const int wait = std::clamp(static_cast<int>(left), 1, kGlmqMaxWaitSeconds);
      const HttpReply polled = Http(
          options_.url + "/v1/jobs/" + id + "?wait=" + std::to_string(wait), nullptr, wait + 30);
      if (!polled.ok(200)) {
        record.finish_s = Now();
        record.error = "poll: " + polled.Describe();
        return;
      }
      last = json::parse(polled.body, nullptr, false);
      if (last.is_discarded()) {
        record.finish_s = Now();
        record.error = "poll: unreadable body";
        return;
      }
      const std::string state = last.value("state", std::string());
      if (state == "queued" || state == "running") continue;
      record.finish_s = Now();
      record.finish_reason = last.value("finish_reason", std::string());
      if (last.contains("usage")) {
        record.prompt_tokens = last["usage"].value("prompt_tokens", int64_t{0});
        record.completion_tokens = last["usage"].value("completion_tokens", int64_t{0});
        record.cached_tokens = CachedTokens(last["usage"]);
      }
      if (state != "succeeded") {
        record.error = "job " + state;
        if (last.contains("error") && last["error"].is_object()) {
          record.error += ": " + last["error"].value("code", std::string()) + " " +
                          last["error"].value("message", std::string());
        }
        return;
      }
      record.ok = true;
      if (job.is_long && accepted_tokens < options_.long_tokens) {
        // The run is not what was asked for: say so rather than report it.
        record.ok = false;
        record.error = "the document is " + std::to_string(accepted_tokens) +
                       " prompt tokens, under --long-tokens " +
                       std::to_string(options_.long_tokens) + "; give a larger --long-bytes";
      }
      return;
    }
  }

  int64_t CountTokens(const std::string&) override { return -1; }  // checked in the 202

  int64_t LongPromptRead() override {
    std::string id;
    {
      std::lock_guard lock(mu_);
      id = long_id_;
    }
    if (id.empty()) return -1;
    const HttpReply r = Http(options_.url + "/v1/jobs/" + id, nullptr, 10);
    if (!r.ok(200)) return -1;
    const json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("progress")) return -1;
    return j["progress"].value("prompt_tokens_read", int64_t{-1});
  }

 private:
  std::mutex mu_;
  std::string long_id_;  // set by the long job's thread once it is accepted
};

class LlamaServerTarget final : public Target {
 public:
  using Target::Target;

  void Run(const JobSpec& job, JobRecord& record) override {
    const json message = {{"role", "user"}, {"content", job.text + "\n\n" + job.question}};
    const std::string body = json{
        {"messages", json::array({message})},
        {"max_tokens", job.max_tokens},
        {"temperature", 0},
        {"stream", false}}.dump();
    record.submit_s = Now();
    const HttpReply r = Http(options_.url + "/v1/chat/completions", &body, options_.job_timeout_s);
    record.finish_s = Now();
    if (!r.ok(200)) {
      record.error = r.Describe();
      return;
    }
    const json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("usage") || !j.contains("choices") ||
        j["choices"].empty()) {
      record.error = "unreadable answer: " + r.body.substr(0, 200);
      return;
    }
    record.prompt_tokens = j["usage"].value("prompt_tokens", int64_t{0});
    record.completion_tokens = j["usage"].value("completion_tokens", int64_t{0});
    record.cached_tokens = CachedTokens(j["usage"]);
    const json& reason = j["choices"][0]["finish_reason"];
    record.finish_reason = reason.is_string() ? reason.get<std::string>() : "";
    record.ok = true;
    if (job.is_long && record.prompt_tokens < options_.long_tokens) {
      record.ok = false;
      record.error = "the document is " + std::to_string(record.prompt_tokens) +
                     " prompt tokens, under --long-tokens " + std::to_string(options_.long_tokens);
    }
  }

  int64_t CountTokens(const std::string& text) override {
    const std::string body = json{{"content", text}}.dump();
    const HttpReply r = Http(options_.url + "/tokenize", &body, 60);
    if (!r.ok(200)) return -1;
    const json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("tokens")) return -1;
    return static_cast<int64_t>(j["tokens"].size());
  }

  // The long job's slot is the one that has read the most prompt: a short prompt is ~100.
  int64_t LongPromptRead() override {
    const HttpReply r = Http(options_.url + "/slots", nullptr, 10);
    if (!r.ok(200)) return -1;
    const json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return -1;
    int64_t most = -1;
    for (const json& slot : j)
      most = std::max(most, slot.value("n_prompt_tokens_processed", int64_t{-1}));
    return most;
  }
};

// --- Statistics and output -------------------------------------------------------------------

void Usage() {
  std::fprintf(stderr,
               "usage: mixed_bench --target glmq|llama-server --url http://HOST:PORT "
               "[--long-tokens 16384] [--short 40]\n"
               "                   [--short-interval-ms 750] [--short-start-ms 1000] "
               "[--short-max-tokens 32] [--long-max-tokens 64]\n"
               "                   [--seed 1] [--long-bytes N] [--job-timeout-s 900] "
               "[--sample-ms 1000] [--same-document 0|1]\n");
}

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    const bool numeric = end != v.c_str() && *end == '\0' && n >= 0;
    if (a == "--target")
      o.target = v;
    else if (a == "--url")
      o.url = v;
    else if (!numeric)
      return false;
    else if (a == "--long-tokens")
      o.long_tokens = n;
    else if (a == "--short")
      o.shorts = static_cast<int>(n);
    else if (a == "--short-interval-ms")
      o.short_interval_ms = static_cast<int>(n);
    else if (a == "--short-start-ms")
      o.short_start_ms = static_cast<int>(n);
    else if (a == "--short-max-tokens")
      o.short_max_tokens = static_cast<int>(n);
    else if (a == "--long-max-tokens")
      o.long_max_tokens = static_cast<int>(n);
    else if (a == "--seed")
      o.seed = static_cast<uint64_t>(n);
    else if (a == "--long-bytes")
      o.long_bytes = n;
    else if (a == "--job-timeout-s")
      o.job_timeout_s = static_cast<int>(n);
    else if (a == "--sample-ms")
      o.sample_ms = static_cast<int>(n);
    else if (a == "--same-document" && n <= 1)
      o.same_document = n == 1;
    else
      return false;
  }
  return (o.target == "glmq" || o.target == "llama-server") && !o.url.empty() &&
         o.long_tokens > 0 && o.short_max_tokens > 0 && o.long_max_tokens > 0 &&
         o.job_timeout_s > 0 && o.sample_ms > 0;
}

std::vector<JobSpec> MakeJobs(const Options& o, const std::string& document) {
  std::vector<JobSpec> jobs;
  jobs.push_back({"long", true, document,
                  "Summarise the document above in three sentences and name the most "
                  "frequent place.",
                  o.long_max_tokens, 0});
  for (int i = 0; i < o.shorts; ++i) {
    const size_t bytes = static_cast<size_t>(kShortTextTokens * kBytesPerToken);
    SplitMix64 rng{o.seed * 1000003 + static_cast<uint64_t>(i) + 1};
    std::string question = "Question " + std::to_string(i + 1) + ": why " +
                           std::string(rng.Pick(kVerbs)) + " " + rng.Pick(kSubjects) + " " +
                           rng.Pick(kObjects) + "?";
    char name[24];
    std::snprintf(name, sizeof name, "short-%02d", i + 1);
    std::string text = o.same_document ? document : MakeProse(rng.Next(), bytes);
    jobs.push_back({name, false, std::move(text), std::move(question), o.short_max_tokens,
                    (o.short_start_ms + static_cast<double>(i) * o.short_interval_ms) / 1000.0});
  }
  return jobs;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) {
    Usage();
    return 2;
  }
  while (!o.url.empty() && o.url.back() == '/') o.url.pop_back();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::unique_ptr<Target> target;
  if (o.target == "glmq")
    target = std::make_unique<GlmqTarget>(o);
  else
    target = std::make_unique<LlamaServerTarget>(o);

  // The document: the same bytes for both targets unless llama-server's tokenizer says they
  // are too few, in which case it grows (and the byte count printed shows it).
  size_t doc_bytes = static_cast<size_t>(
      o.long_bytes > 0 ? o.long_bytes
                       : static_cast<int64_t>(o.long_tokens * kBytesPerToken * kLongMargin));
  std::string document = MakeProse(o.seed, doc_bytes);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int64_t counted = target->CountTokens(document);
    target->set_long_prompt_tokens(counted);
    if (counted < 0 || counted >= o.long_tokens) break;
    doc_bytes = static_cast<size_t>(doc_bytes * (1.02 * o.long_tokens / counted)) + 64;
    std::printf("note: the document was %lld tokens; growing it to %zu bytes\n",
                static_cast<long long>(counted), doc_bytes);
    document = MakeProse(o.seed, doc_bytes);
  }
  std::vector<JobSpec> jobs = MakeJobs(o, document);
  std::vector<JobRecord> records(jobs.size());

  std::printf("mixed_bench: target %s at %s\n", o.target.c_str(), o.url.c_str());
  std::printf(
      "  long: %zu bytes of prose, max_tokens %d; short: %d jobs of ~%zu bytes, "
      "max_tokens %d, one every %d ms from %.1f s; temperature 0, seed %llu\n",
      document.size(), o.long_max_tokens, o.shorts,
      jobs.size() > 1 ? jobs[1].text.size() + jobs[1].question.size() : 0, o.short_max_tokens,
      o.short_interval_ms, o.short_start_ms / 1000.0, static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);

  // The long document's reading progress, sampled until its job ends (sampler thread only).
  struct Sample {
    double at_s;
    int64_t read;
    int shorts_done;
  };
  std::vector<Sample> samples;
  std::atomic<bool> long_done{false};
  std::atomic<int> shorts_done{0};

  target->StartClock();
  std::vector<std::thread> threads;
  threads.reserve(jobs.size() + 1);
  threads.emplace_back([&] {
    target->Run(jobs[0], records[0]);
    long_done = true;
  });
  threads.emplace_back([&] {
    while (!long_done) {
      const double at = target->Now();
      const int64_t read = target->LongPromptRead();
      if (read >= 0) samples.push_back({at, read, shorts_done.load()});
      const double next = at + o.sample_ms / 1000.0;
      while (!long_done && target->Now() < next)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  for (size_t i = 1; i < jobs.size(); ++i) {
    const double wait = jobs[i].submit_at_s - target->Now();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    threads.emplace_back([&, i] {
      target->Run(jobs[i], records[i]);
      ++shorts_done;
    });
  }
  for (std::thread& t : threads) t.join();

  // --- Per job.
  std::printf("\n%-9s %9s %9s %10s %7s %10s  %s\n", "job", "submit_s", "finish_s", "latency_s",
              "prompt", "completion", "result");
  int failed = 0;
  int64_t tokens = 0, cached = 0;
  double first_submit = 1e300, last_finish = 0;
  std::vector<double> short_latency;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const JobRecord& r = records[i];
    const double latency = r.finish_s - r.submit_s;
    std::printf("%-9s %9.2f %9.2f %10.2f %7lld %10lld  %s\n", jobs[i].name.c_str(), r.submit_s,
                r.finish_s, latency, static_cast<long long>(r.prompt_tokens),
                static_cast<long long>(r.completion_tokens),
                r.ok ? ("ok (" + r.finish_reason + ")").c_str() : ("FAILED: " + r.error).c_str());
    if (r.submit_s >= 0) first_submit = std::min(first_submit, r.submit_s);
    last_finish = std::max(last_finish, r.finish_s);
    if (!r.ok) {
      ++failed;
      continue;
    }
    tokens += r.prompt_tokens + r.completion_tokens;
    cached += r.cached_tokens;
    if (!jobs[i].is_long) short_latency.push_back(latency);
  }

  // --- The long document's reading, one line per ~5 s.
  const JobRecord& long_job = records[0];
  double read_done_s = -1;
  if (!samples.empty()) {
    std::printf(
        "\nlong document read (prompt tokens of the long job, sampled every %d ms; the rate is "
        "measured between the first sightings of two counts, so a long step shows as a long "
        "gap):\n",
        o.sample_ms);
    const int64_t total = long_job.ok ? long_job.prompt_tokens : target->long_prompt_tokens();
    double printed_at = -1e9;
    double seen_at = samples.front().at_s;  // when the current count was first seen
    int64_t printed_read = -1;
    double printed_seen_at = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      const Sample& s = samples[i];
      if (i > 0 && s.read != samples[i - 1].read) seen_at = s.at_s;
      if (read_done_s < 0 && total > 0 && s.read >= total) read_done_s = s.at_s;
      if (s.at_s - printed_at < 4.999 && i + 1 != samples.size()) continue;
      char rate[64] = "";
      if (printed_read >= 0 && s.read == printed_read) {
        std::snprintf(rate, sizeof rate, "no progress for %.1f s", s.at_s - seen_at);
      } else if (printed_read >= 0 && seen_at > printed_seen_at) {
        std::snprintf(rate, sizeof rate, "+%lld in %.1f s = %.0f tokens/s",
                      static_cast<long long>(s.read - printed_read), seen_at - printed_seen_at,
                      (s.read - printed_read) / (seen_at - printed_seen_at));
      }
      std::printf("  t=%6.1f s  read %6lld / %lld  shorts done %2d  %s\n", s.at_s,
                  static_cast<long long>(s.read), static_cast<long long>(total), s.shorts_done,
                  rate);
      printed_at = s.at_s;
      printed_read = s.read;
      printed_seen_at = seen_at;
    }
  }

  // --- Summary.
  const double wall = last_finish - first_submit;
  const double tps = wall > 0 ? tokens / wall : 0;
  const bool have_shorts = !short_latency.empty();
  const double p50 = have_shorts ? Percentile(short_latency, 0.50) : -1;
  const double p95 = have_shorts ? Percentile(short_latency, 0.95) : -1;
  const double pmax = have_shorts ? Percentile(short_latency, 1.0) : -1;
  const double long_latency = long_job.ok ? long_job.finish_s - long_job.submit_s : -1;
  int shorts_before_long = 0;
  for (size_t i = 1; i < jobs.size(); ++i) {
    shorts_before_long += records[i].ok && records[i].finish_s < long_job.finish_s ? 1 : 0;
  }
  std::printf("\nsummary (%s):\n", o.target.c_str());
  std::printf("  jobs %zu, succeeded %zu, failed %d%s\n", jobs.size(), jobs.size() - failed, failed,
              failed ? "  <-- failed jobs are left out of every figure below" : "");
  std::printf("  total: %lld tokens (prompt + completion) in %.2f s = %.1f tokens/s\n",
              static_cast<long long>(tokens), wall, tps);
  std::printf("  prompt tokens the server reported as reused from its cache: %lld\n",
              static_cast<long long>(cached));
  int64_t short_prompt_tokens = 0;
  for (size_t i = 1; i < jobs.size(); ++i) short_prompt_tokens += records[i].prompt_tokens;
  std::printf(
      "  short latency: p50 %.2f s, p95 %.2f s, max %.2f s (%zu jobs, %.0f prompt "
      "tokens each on average)\n",
      p50, p95, pmax, short_latency.size(),
      o.shorts > 0 ? static_cast<double>(short_prompt_tokens) / o.shorts : 0.0);
  char read_note[64] = "not seen complete";
  if (read_done_s >= 0) std::snprintf(read_note, sizeof read_note, "read by ~%.1f s", read_done_s);
  std::printf(
      "  long latency: %.2f s (%lld prompt tokens; %s); %d of %d shorts finished "
      "before it\n",
      long_latency, static_cast<long long>(long_job.prompt_tokens), read_note, shorts_before_long,
      o.shorts);
  std::printf(
      "MIXED_RESULT target=%s jobs=%zu failed=%d tokens=%lld wall_s=%.2f tokens_per_s=%.1f "
      "short_p50_s=%.2f short_p95_s=%.2f short_max_s=%.2f long_s=%.2f "
      "long_prompt_tokens=%lld long_read_s=%.1f doc_bytes=%zu shorts_before_long=%d "
      "cached_tokens=%lld\n",
      o.target.c_str(), jobs.size(), failed, static_cast<long long>(tokens), wall, tps, p50, p95,
      pmax, long_latency, static_cast<long long>(long_job.prompt_tokens), read_done_s,
      document.size(), shorts_before_long, static_cast<long long>(cached));
  curl_global_cleanup();
  return failed == 0 ? 0 : 1;
}
