// Command-line client of the HTTP API: submit, status, result, cancel, queue.
#include <curl/curl.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"

namespace glmq {
namespace {

using json = nlohmann::json;

struct Reply {
  long status = 0;
  std::string body;
  std::string error;
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Reply Call(const std::string& method, const std::string& url, const std::string* body) {
  Reply reply;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return {0, "", "cannot start libcurl"};
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  if (body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    reply.error = curl_easy_strerror(rc);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

// Prints the body; the exit code says whether the server said yes.
int Print(const Reply& reply) {
  if (!reply.error.empty()) {
    std::cerr << "glmq: " << reply.error << "\n";
    return 2;
  }
  std::cout << reply.body;
  if (!reply.body.empty() && reply.body.back() != '\n') std::cout << "\n";
  return reply.status >= 200 && reply.status < 300 ? 0 : 1;
}

struct ClientFlags {
  std::string server = "http://127.0.0.1:8080";
  std::string id;
  std::string text, file, question;
  int max_tokens = 0;
  double temperature = -1;
  double wait = 0;
};

}  // namespace

void AddClientCommands(CLI::App& app, std::vector<std::pair<CLI::App*, CommandRunner>>& out) {
  auto f = std::make_shared<ClientFlags>();
  auto server = [f](CLI::App* cmd) {
    cmd->add_option("--server", f->server, "glmq base URL")
        ->envname("GLMQ_SERVER")
        ->capture_default_str();
  };

  auto* submit = app.add_subcommand("submit", "submit a document and a question");
  server(submit);
  submit->add_option("--text", f->text, "the document");
  submit->add_option("--file", f->file, "read the document from this file")
      ->check(CLI::ExistingFile);
  submit->add_option("-q,--question", f->question, "the question");
  submit->add_option("--max-tokens", f->max_tokens, "longest answer");
  submit->add_option("--temperature", f->temperature, "0 = greedy");
  submit->add_option("--wait", f->wait, "wait this many seconds for the result");
  out.emplace_back(submit, [f]() -> int {
    json body;
    if (!f->file.empty()) {
      std::ifstream in(f->file, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      body["text"] = ss.str();
    } else {
      body["text"] = f->text;
    }
    if (!f->question.empty()) body["question"] = f->question;
    if (f->max_tokens > 0) body["max_tokens"] = f->max_tokens;
    if (f->temperature >= 0) body["temperature"] = f->temperature;
    const std::string payload = body.dump(-1, ' ', false, json::error_handler_t::replace);
    Reply r = Call("POST", f->server + "/v1/jobs", &payload);
    if (f->wait <= 0 || r.status != 202) return Print(r);
    const std::string id = json::parse(r.body, nullptr, false).value("id", "");
    return Print(
        Call("GET", f->server + "/v1/jobs/" + id + "?wait=" + std::to_string(f->wait), nullptr));
  });

  auto* status = app.add_subcommand("status", "show a job");
  server(status);
  status->add_option("id", f->id, "job id")->required();
  status->add_option("--wait", f->wait, "long-poll up to this many seconds for the end");
  out.emplace_back(status, [f]() {
    std::string url = f->server + "/v1/jobs/" + f->id;
    if (f->wait > 0) url += "?wait=" + std::to_string(f->wait);
    return Print(Call("GET", url, nullptr));
  });

  auto* result = app.add_subcommand("result", "wait for a job and print its text");
  server(result);
  result->add_option("id", f->id, "job id")->required();
  result->add_option("--wait", f->wait, "seconds to wait")->capture_default_str();
  out.emplace_back(result, [f]() -> int {
    const double wait = f->wait > 0 ? f->wait : 300;
    Reply r =
        Call("GET", f->server + "/v1/jobs/" + f->id + "?wait=" + std::to_string(wait), nullptr);
    if (r.status != 200) return Print(r);
    json job = json::parse(r.body, nullptr, false);
    if (job.value("state", "") != "succeeded") return Print(r);
    std::cout << job.value("text", "") << "\n";
    return 0;
  });

  auto* cancel = app.add_subcommand("cancel", "cancel a queued or running job");
  server(cancel);
  cancel->add_option("id", f->id, "job id")->required();
  out.emplace_back(
      cancel, [f]() { return Print(Call("DELETE", f->server + "/v1/jobs/" + f->id, nullptr)); });

  auto* queue = app.add_subcommand("queue", "show the queue");
  server(queue);
  out.emplace_back(queue, [f]() { return Print(Call("GET", f->server + "/v1/queue", nullptr)); });
}

}  // namespace glmq
