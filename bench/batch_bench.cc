// The Batch API's benchmark client (bench/batch.sh runs it; see there for the servers).
//
// The workload: `--docs` generated documents of ~`--doc-bytes` bytes, `--questions`
// questions about each, every request a chat completion {system: document, user: question}
// with `max_tokens` `--max-tokens` at temperature 0. `--order interleaved` (the default)
// writes the lines question by question across the documents, as a file gathered from many
// users would be; `grouped` writes each document's questions together.
//
//   --target glmq: uploads the lines as one JSONL file (POST /v1/files), creates a batch
//     and polls it to its end. Prints when it was in_progress after the upload began
//     (ingest), the end-to-end time, and from the output file: every custom_id answered
//     once, and for how many documents the document's tokens were read once (the other
//     requests about it found them in the prefix cache).
//   --target ingest: the same upload and create, timed to in_progress; then the batch is
//     cancelled (nothing is run to the end).
//   --target llama-server: the same requests as concurrent POST /v1/chat/completions
//     (`--concurrency` at a time, in the file's order). Prints the end-to-end time and the
//     same read-once count from each answer's cached tokens.
//
// Last line: BATCH_RESULT key=value ... for the script's table.
#include <curl/curl.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_client.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::string target = "glmq";
  std::string url;
  std::string order = "interleaved";
  int64_t docs = 100;
  int64_t questions = 50;
  int64_t doc_bytes = 400;
  int64_t max_tokens = 4;
  int64_t concurrency = 8;
  int64_t timeout_s = 3600;
  int64_t seed = 1;
};

struct Request {
  std::string custom_id;
  int64_t doc = 0;
  json body;
};

std::vector<Request> MakeRequests(const Flags& f) {
  std::vector<std::string> documents;
  for (int64_t d = 0; d < f.docs; ++d) {
    documents.push_back("Document " + std::to_string(d) + ".\n" +
                        bench::MakeProse(static_cast<uint64_t>(f.seed * 100'003 + d),
                                         static_cast<size_t>(f.doc_bytes)));
  }
  std::vector<Request> out;
  auto add = [&](int64_t d, int64_t q) {
    bench::SplitMix64 rng{static_cast<uint64_t>(f.seed * 7'919 + d * 1'000 + q)};
    const std::string question = "Question " + std::to_string(q) + ": what do we learn about " +
                                 rng.Pick(bench::kObjects) + "?";
    out.push_back({"doc-" + std::to_string(d) + "-q-" + std::to_string(q), d,
                   json{{"model", "glm"},
                        {"messages", json::array({{{"role", "system"}, {"content", documents[d]}},
                                                  {{"role", "user"}, {"content", question}}})},
                        {"max_tokens", f.max_tokens},
                        {"temperature", 0}}});
  };
  if (f.order == "grouped") {
    for (int64_t d = 0; d < f.docs; ++d)
      for (int64_t q = 0; q < f.questions; ++q) add(d, q);
  } else {
    for (int64_t q = 0; q < f.questions; ++q)
      for (int64_t d = 0; d < f.docs; ++d) add(d, q);
  }
  return out;
}

std::string Jsonl(const std::vector<Request>& requests) {
  std::string out;
  for (const Request& r : requests) {
    out += json{{"custom_id", r.custom_id},
                {"method", "POST"},
                {"url", "/v1/chat/completions"},
                {"body", r.body}}
               .dump();
    out += '\n';
  }
  return out;
}

// Per document: how many of its requests read most of their prompt (rather than finding it
// cached). A document was read once when exactly one did.
struct Reads {
  std::map<int64_t, int64_t> per_doc;
  int64_t prompt_tokens = 0, cached_tokens = 0;

  void Add(int64_t doc, const json& usage) {
    const int64_t prompt = usage.value("prompt_tokens", int64_t{0});
    int64_t cached = 0;
    if (auto d = usage.find("prompt_tokens_details"); d != usage.end() && d->is_object()) {
      cached = d->value("cached_tokens", int64_t{0});
    }
    prompt_tokens += prompt;
    cached_tokens += cached;
    per_doc[doc] += (prompt - cached) * 2 > prompt ? 1 : 0;
  }
  int64_t ReadOnce() const {
    int64_t n = 0;
    for (const auto& [doc, reads] : per_doc) n += reads == 1;
    return n;
  }
};

int64_t DocOf(const std::string& custom_id) {
  return std::strtoll(custom_id.c_str() + 4, nullptr, 10);  // "doc-<d>-q-<q>"
}

// POST /v1/files as multipart/form-data: the file's id, or "" (with why on stderr).
std::string Upload(const std::string& url, const std::string& jsonl) {
  CURL* curl = curl_easy_init();
  curl_mime* form = curl_mime_init(curl);
  curl_mimepart* purpose = curl_mime_addpart(form);
  curl_mime_name(purpose, "purpose");
  curl_mime_data(purpose, "batch", CURL_ZERO_TERMINATED);
  curl_mimepart* file = curl_mime_addpart(form);
  curl_mime_name(file, "file");
  curl_mime_filename(file, "bench.jsonl");
  curl_mime_data(file, jsonl.data(), jsonl.size());
  std::string body;
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, (url + "/v1/files").c_str());
  curl_easy_setopt(curl, CURLOPT_MIMEPOST, form);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, bench::AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 600L);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_mime_free(form);
  curl_easy_cleanup(curl);
  const json j = json::parse(body, nullptr, false);
  if (rc != CURLE_OK || status != 200 || !j.is_object() || !j.contains("id")) {
    std::fprintf(stderr, "batch_bench: upload failed: %s HTTP %ld %s\n", curl_easy_strerror(rc),
                 status, body.substr(0, 300).c_str());
    return "";
  }
  return j["id"].get<std::string>();
}

// Creates a batch of the file: the batch object, or null (with why on stderr).
json Create(const Flags& f, const std::string& file_id) {
  const std::string create = json{
      {"input_file_id", file_id},
      {"endpoint", "/v1/chat/completions"},
      {"completion_window",
       "24h"}}.dump();
  const bench::HttpReply created = bench::Http(f.url + "/v1/batches", &create, 120);
  json batch = json::parse(created.body, nullptr, false);
  if (!created.ok(200) || !batch.is_object()) {
    std::fprintf(stderr, "batch_bench: create failed: %s\n", created.Describe().c_str());
    return nullptr;
  }
  return batch;
}

// Polls the batch every 50 ms until its status is one of `until` or the time runs out,
// printing each status it sees; sets *at_in_progress when it first sees in_progress.
json Poll(const Flags& f, json batch, Clock::time_point start, const std::set<std::string>& until,
          double* at_in_progress) {
  const std::string id = batch["id"];
  const auto deadline = start + std::chrono::seconds(f.timeout_s);
  std::string last_status;
  for (;;) {
    const std::string status = batch.value("status", "");
    if (status == "in_progress" && *at_in_progress < 0)
      *at_in_progress = bench::SecondsSince(start);
    if (status != last_status) {
      std::printf("  %7.2f s  %s\n", bench::SecondsSince(start), status.c_str());
      std::fflush(stdout);
      last_status = status;
    }
    if (until.count(status) || Clock::now() > deadline) return batch;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const bench::HttpReply polled = bench::Http(f.url + "/v1/batches/" + id, nullptr, 30);
    json next = json::parse(polled.body, nullptr, false);
    if (polled.ok(200) && next.is_object()) batch = std::move(next);
  }
}

int RunGlmq(const Flags& f, const std::vector<Request>& requests) {
  const std::string jsonl = Jsonl(requests);
  std::printf("batch: %zu requests, %zu bytes, order %s\n", requests.size(), jsonl.size(),
              f.order.c_str());
  const auto start = Clock::now();
  const std::string file_id = Upload(f.url, jsonl);
  if (file_id.empty()) return 1;
  const double uploaded = bench::SecondsSince(start);
  double in_progress = -1;
  const std::set<std::string> ends = {"completed", "failed", "expired", "cancelled"};
  json batch = Create(f, file_id);
  if (!batch.is_object()) return 1;
  if (f.target == "ingest") {
    std::set<std::string> running = ends;
    running.insert("in_progress");
    batch = Poll(f, std::move(batch), start, running, &in_progress);
    std::printf("upload %.2f s, in_progress at %.2f s; cancelling\n", uploaded, in_progress);
    const std::string none;
    const std::string id = batch["id"];
    bench::Http(f.url + "/v1/batches/" + id + "/cancel", &none, 60);
    Poll(f, std::move(batch), start, ends, &in_progress);
    std::printf("BATCH_RESULT target=ingest requests=%zu bytes=%zu upload_s=%.2f ingest_s=%.2f\n",
                requests.size(), jsonl.size(), uploaded, in_progress);
    return in_progress > 0 ? 0 : 1;
  }
  batch = Poll(f, std::move(batch), start, ends, &in_progress);
  const double end = bench::SecondsSince(start);
  const std::string status = batch.value("status", "");
  Reads reads;
  std::multiset<std::string> answered;
  if (batch["output_file_id"].is_string()) {
    const bench::HttpReply content =
        bench::Http(f.url + "/v1/files/" + batch["output_file_id"].get<std::string>() + "/content",
                    nullptr, 600);
    size_t at = 0;
    while (at < content.body.size()) {
      size_t nl = content.body.find('\n', at);
      if (nl == std::string::npos) nl = content.body.size();
      const json line = json::parse(content.body.substr(at, nl - at), nullptr, false);
      at = nl + 1;
      if (!line.is_object()) continue;
      const std::string custom_id = line.value("custom_id", "");
      answered.insert(custom_id);
      reads.Add(DocOf(custom_id), line["response"]["body"]["usage"]);
    }
  }
  std::set<std::string> distinct(answered.begin(), answered.end());
  std::printf(
      "status %s: %zu answered (%zu distinct custom_ids of %zu), upload %.2f s, in_progress at "
      "%.2f s, end %.2f s; prompt tokens %lld, cached %lld; documents read once %lld of %lld\n",
      status.c_str(), answered.size(), distinct.size(), requests.size(), uploaded, in_progress, end,
      static_cast<long long>(reads.prompt_tokens), static_cast<long long>(reads.cached_tokens),
      static_cast<long long>(reads.ReadOnce()), static_cast<long long>(f.docs));
  std::printf(
      "BATCH_RESULT target=glmq requests=%zu answered=%zu distinct=%zu upload_s=%.2f "
      "ingest_s=%.2f end_s=%.2f prompt_tokens=%lld cached_tokens=%lld read_once=%lld docs=%lld\n",
      requests.size(), answered.size(), distinct.size(), uploaded, in_progress, end,
      static_cast<long long>(reads.prompt_tokens), static_cast<long long>(reads.cached_tokens),
      static_cast<long long>(reads.ReadOnce()), static_cast<long long>(f.docs));
  return status == "completed" && distinct.size() == requests.size() ? 0 : 1;
}

int RunLlamaServer(const Flags& f, const std::vector<Request>& requests) {
  std::printf("requests: %zu concurrent chat completions, %lld at a time, order %s\n",
              requests.size(), static_cast<long long>(f.concurrency), f.order.c_str());
  std::atomic<size_t> next{0};
  std::atomic<int64_t> failed{0};
  std::mutex mu;
  Reads reads;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < f.concurrency; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < requests.size(); i = next++) {
        const std::string body = requests[i].body.dump();
        const bench::HttpReply reply =
            bench::Http(f.url + "/v1/chat/completions", &body, f.timeout_s);
        const json j = json::parse(reply.body, nullptr, false);
        if (!reply.ok(200) || !j.is_object() || !j.contains("usage")) {
          if (failed++ == 0) std::fprintf(stderr, "batch_bench: %s\n", reply.Describe().c_str());
          continue;
        }
        std::lock_guard lock(mu);
        reads.Add(requests[i].doc, j["usage"]);
        if ((i + 1) % 500 == 0) {
          std::printf("  %7.2f s  %zu sent\n", bench::SecondsSince(start), i + 1);
          std::fflush(stdout);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double end = bench::SecondsSince(start);
  std::printf(
      "%zu answered, %lld failed, end %.2f s; prompt tokens %lld, cached %lld; documents read "
      "once %lld of %lld\n",
      requests.size() - static_cast<size_t>(failed.load()), static_cast<long long>(failed.load()),
      end, static_cast<long long>(reads.prompt_tokens), static_cast<long long>(reads.cached_tokens),
      static_cast<long long>(reads.ReadOnce()), static_cast<long long>(f.docs));
  std::printf(
      "BATCH_RESULT target=llama-server requests=%zu failed=%lld end_s=%.2f prompt_tokens=%lld "
      "cached_tokens=%lld read_once=%lld docs=%lld\n",
      requests.size(), static_cast<long long>(failed.load()), end,
      static_cast<long long>(reads.prompt_tokens), static_cast<long long>(reads.cached_tokens),
      static_cast<long long>(reads.ReadOnce()), static_cast<long long>(f.docs));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (!bench::ParseFlagPairs(argc, argv,
                             {{"--target", &f.target}, {"--url", &f.url}, {"--order", &f.order}},
                             {{"--docs", &f.docs},
                              {"--questions", &f.questions},
                              {"--doc-bytes", &f.doc_bytes},
                              {"--max-tokens", &f.max_tokens},
                              {"--concurrency", &f.concurrency},
                              {"--timeout-s", &f.timeout_s},
                              {"--seed", &f.seed}}) ||
      f.url.empty() || (f.order != "interleaved" && f.order != "grouped") || f.docs < 1 ||
      f.questions < 1 || f.concurrency < 1) {
    std::fprintf(stderr,
                 "usage: batch_bench --target glmq|ingest|llama-server --url URL [--docs N] "
                 "[--questions N] [--doc-bytes N] [--max-tokens N] [--order "
                 "interleaved|grouped] [--concurrency N] [--timeout-s N] [--seed N]\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const std::vector<Request> requests = MakeRequests(f);
  const int rc = f.target == "llama-server" ? RunLlamaServer(f, requests) : RunGlmq(f, requests);
  curl_global_cleanup();
  return rc;
}
