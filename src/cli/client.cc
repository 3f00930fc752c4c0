// Command-line client of the HTTP API: submit, status, result, watch, cancel, queue (and
// batch, in cli/batch_client.cc).
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/client_call.h"
#include "cli/commands.h"

namespace glmq {
namespace {

using json = nlohmann::json;

// Follows GET /v1/jobs/{id}/events, printing a line per event, until the job ends. A
// stream that ends before the job does (the server restarted or is draining) is opened
// again, as EventSource would. Exit code: 0 succeeded, 1 another end or an error answer,
// 2 no server.
class Watcher {
 public:
  Watcher(const Api& api, const std::string& path) : path_(path), api_(api) {}

  int Run() {
    int refused = 0;
    for (;;) {
      long status = 0;
      body_.clear();
      pending_.clear();
      net::HttpCall call = api_.Request("GET", path_);
      call.on_data = [this, &status](std::string_view piece, long s) {
        return OnData(piece, s, &status);
      };
      auto answer = net::Fetch(call);
      if (answer.ok()) status = answer->status;
      if (end_code_) return *end_code_;
      if (status != 0 && status != 200) {  // 404 and the like: the JSON error says why
        return Print({.status = status, .body = body_, .error = ""});
      }
      if (status == 0 && ++refused >= 5) {
        const std::string error =
            answer.ok() ? "no answer" : std::string(answer.status().message());
        return Print({.status = 0, .body = "", .error = error});
      }
      if (status == 200) refused = 0;
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  }

 private:
  // A piece of the answer: events of a 200, else the body of an error answer. False stops
  // reading: the job ended.
  bool OnData(std::string_view piece, long status, long* seen_status) {
    *seen_status = status;
    if (status != 200) {
      body_.append(piece);
      return true;
    }
    pending_.append(piece);
    size_t end;
    while ((end = pending_.find("\n\n")) != std::string::npos) {
      Event(pending_.substr(0, end));
      pending_.erase(0, end + 2);
      if (end_code_) return false;
    }
    return true;
  }

  // The message of an event's "error" object, if it has one.
  static std::string Message(const json& j) {
    const auto error = j.find("error");
    if (error == j.end() || !error->is_object()) return "";
    const auto message = error->find("message");
    return message != error->end() && message->is_string() ? message->get<std::string>() : "";
  }

  void Event(const std::string& text) {
    std::string name, data;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("event: ", 0) == 0) name = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data = line.substr(6);
    }
    if (data.empty()) return;  // a comment or retry line
    const json j = json::parse(data, nullptr, false);
    if (!j.is_object()) return;  // not an event of ours
    if (name == "error") {
      std::cout << "error  " << Message(j) << "\n";
      end_code_ = 1;
      return;
    }
    const json progress =
        j.contains("progress") && j["progress"].is_object() ? j["progress"] : json::object();
    const std::string state = j.value("state", "?");
    std::cout << state << "  prompt " << progress.value("prompt_tokens_read", 0) << "/"
              << progress.value("prompt_tokens", 0) << "  generated "
              << progress.value("completion_tokens", 0) << "/" << j.value("max_tokens", 0);
    if (j.contains("worker")) std::cout << "  on " << j.value("worker", "");
    if (j.value("attempts", 0) > 1) std::cout << "  attempt " << j.value("attempts", 0);
    if (name == "done") {
      if (j.contains("finish_reason")) std::cout << "  (" << j.value("finish_reason", "") << ")";
      if (j.contains("error")) std::cout << "  " << Message(j);
      end_code_ = state == "succeeded" ? 0 : 1;
    }
    std::cout << std::endl;
  }

  std::string path_;
  const Api& api_;
  std::string body_;     // an error answer's body
  std::string pending_;  // read, not yet split into events
  std::optional<int> end_code_;
};

struct ClientFlags {
  Api api;
  std::string id;
  std::string text, file, question;
  std::optional<int> max_tokens;  // sent as given when given: the server judges the value
  std::optional<double> temperature;
  bool json_mode = false;
  std::string schema_file;  // a JSON Schema the answer must match
  double wait = 0;
};

// One long-poll may last kLongestPoll seconds (the server refuses more); a longer wait is
// several, until the job ends or `seconds` have passed. Returns the last answer (the job
// as it stands then, or the error).
constexpr double kLongestPoll = 300;
constexpr double kForever = 1e9;  // seconds: a wait with no end of its own

Reply WaitForJob(const Api& api, const std::string& id, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    const double left =
        std::chrono::duration<double>(until - std::chrono::steady_clock::now()).count();
    const double poll = std::clamp(left, 0.0, kLongestPoll);
    Reply r = Call(api, "GET", "/v1/jobs/" + id + "?wait=" + std::to_string(poll), nullptr);
    if (r.status != 200 || left <= kLongestPoll) return r;
    const json job = json::parse(r.body, nullptr, false);
    const std::string state = job.is_object() ? job.value("state", "") : "";
    if (state != "queued" && state != "running") return r;
  }
}

}  // namespace

net::HttpCall Api::Request(const std::string& method, const std::string& path, bool json) const {
  net::HttpCall call;
  call.method = method;
  call.url = server + path;
  if (json) call.headers = {"Content-Type: application/json"};
  if (!key.empty()) call.headers.push_back("Authorization: Bearer " + key);
  call.timeout_seconds = 0;
  call.user_agent = "glmq-cli";
  return call;
}

Reply Call(const net::HttpCall& call) {
  auto answer = net::Fetch(call);
  if (!answer.ok()) return {0, "", std::string(answer.status().message())};
  return {answer->status, std::move(answer->body), ""};
}

Reply Call(const Api& api, const std::string& method, const std::string& path,
           const std::string* body) {
  net::HttpCall call = api.Request(method, path);
  if (body != nullptr) {
    call.body = *body;
    call.has_body = true;
  }
  return Call(call);
}

void AddServerFlags(CLI::App* cmd, Api& api) {
  cmd->add_option("--server", api.server, "glmq base URL")
      ->envname("GLMQ_SERVER")
      ->capture_default_str();
  cmd->add_option("--api-key", api.key, "the server's API key, if it wants one")
      ->envname("GLMQ_API_KEY");
}

int Print(const Reply& reply) {
  if (!reply.error.empty()) {
    std::cerr << "glmq: " << reply.error << "\n";
    return 2;
  }
  std::cout << reply.body;
  if (!reply.body.empty() && reply.body.back() != '\n') std::cout << "\n";
  return reply.status >= 200 && reply.status < 300 ? 0 : 1;
}

void AddClientCommands(CLI::App& app, std::vector<std::pair<CLI::App*, CommandRunner>>& out) {
  auto f = std::make_shared<ClientFlags>();
  auto server = [f](CLI::App* cmd) { AddServerFlags(cmd, f->api); };

  auto* submit = app.add_subcommand("submit", "submit a document and a question");
  server(submit);
  submit->add_option("--text", f->text, "the document");
  submit->add_option("--file", f->file, "read the document from this file")
      ->check(CLI::ExistingFile);
  submit->add_option("-q,--question", f->question, "the question");
  submit->add_option("--max-tokens", f->max_tokens, "longest answer");
  submit->add_option("--temperature", f->temperature, "0 = greedy");
  submit->add_flag("--json", f->json_mode,
                   "answer with one JSON object (JSON mode; the question must ask for JSON)");
  submit
      ->add_option("--schema", f->schema_file,
                   "answer with a value matching the JSON Schema in this file (named after it)")
      ->check(CLI::ExistingFile)
      ->excludes("--json");
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
    if (f->max_tokens) body["max_tokens"] = *f->max_tokens;
    if (f->temperature) body["temperature"] = *f->temperature;
    if (f->json_mode) body["response_format"] = {{"type", "json_object"}};
    if (!f->schema_file.empty()) {
      std::ifstream in(f->schema_file, std::ios::binary);
      const json schema = json::parse(in, nullptr, false);
      if (schema.is_discarded()) {
        std::cerr << "glmq: " << f->schema_file << " is not JSON\n";
        return 2;
      }
      // The file's name without its extensions, in the characters a schema's name may use.
      std::string name = std::filesystem::path(f->schema_file).filename().string();
      name = name.substr(0, name.find('.'));
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
      }
      body["response_format"] = {{"type", "json_schema"},
                                 {"json_schema",
                                  {{"name", name.empty() ? "schema" : name.substr(0, 64)},
                                   {"strict", true},
                                   {"schema", schema}}}};
    }
    const std::string payload = body.dump(-1, ' ', false, json::error_handler_t::replace);
    Reply r = Call(f->api, "POST", "/v1/jobs", &payload);
    if (f->wait <= 0 || r.status != 202) return Print(r);
    const std::string id = json::parse(r.body, nullptr, false).value("id", "");
    Reply waited = WaitForJob(f->api, id, f->wait);
    // The job is accepted whatever the wait brings: its id must not be lost with it.
    if (waited.status != 200) std::cerr << "glmq: submitted " << id << "; waiting for it:\n";
    return Print(waited);
  });

  auto* status = app.add_subcommand("status", "show a job");
  server(status);
  status->add_option("id", f->id, "job id")->required();
  status->add_option("--wait", f->wait, "long-poll up to this many seconds for the end");
  out.emplace_back(status, [f]() {
    if (f->wait > 0) return Print(WaitForJob(f->api, f->id, f->wait));
    return Print(Call(f->api, "GET", "/v1/jobs/" + f->id, nullptr));
  });

  auto* result = app.add_subcommand("result", "wait for a job and print its text");
  server(result);
  result->add_option("id", f->id, "job id")->required();
  result->add_option("--wait", f->wait, "wait at most this many seconds (default: until it ends)");
  out.emplace_back(result, [f]() -> int {
    Reply r = WaitForJob(f->api, f->id, f->wait > 0 ? f->wait : kForever);
    if (r.status != 200) return Print(r);
    const json job = json::parse(r.body, nullptr, false);
    if (!job.is_object() || job.value("state", "") != "succeeded") {
      Print(r);  // the job as it stands: ended otherwise, or not yet ended
      return 1;
    }
    std::cout << job.value("text", "") << "\n";
    return 0;
  });

  auto* watch = app.add_subcommand("watch", "follow a job, a line per change, until it ends");
  server(watch);
  watch->add_option("id", f->id, "job id")->required();
  out.emplace_back(watch, [f]() { return Watcher(f->api, "/v1/jobs/" + f->id + "/events").Run(); });

  auto* cancel = app.add_subcommand("cancel", "cancel a queued or running job");
  server(cancel);
  cancel->add_option("id", f->id, "job id")->required();
  out.emplace_back(cancel,
                   [f]() { return Print(Call(f->api, "DELETE", "/v1/jobs/" + f->id, nullptr)); });

  auto* queue = app.add_subcommand("queue", "show the queue");
  server(queue);
  out.emplace_back(queue, [f]() { return Print(Call(f->api, "GET", "/v1/queue", nullptr)); });
}

}  // namespace glmq
