// `glmq batch`: the Batch API from the command line.
//   glmq batch submit FILE.jsonl [--endpoint E] [--window 24h] [--wait] [--out F] [--errors F]
//   glmq batch status ID | cancel ID | results ID [--out F] [--errors F]
// With --wait, submit follows the batch to its end: a progress bar on a terminal, a plain
// line per change otherwise; then it saves the output (and error) file.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/client_call.h"
#include "cli/commands.h"

namespace glmq {
namespace {

using json = nlohmann::json;

struct BatchFlags {
  Api api;
  std::string id;
  std::string file;
  std::string endpoint = "/v1/chat/completions";
  std::string window = "24h";
  bool wait = false;
  std::string out, errors;
};

bool IsEnded(const std::string& status) {
  return status == "completed" || status == "failed" || status == "expired" ||
         status == "cancelled";
}

// Writes a file's content to `path` ("" or "-": standard output) as it arrives.
int Download(const Api& api, const std::string& file_id, const std::string& path) {
  std::ofstream file;
  const bool to_stdout = path.empty() || path == "-";
  if (!to_stdout) {
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "glmq: cannot write " << path << "\n";
      return 2;
    }
  }
  std::ostream& out = to_stdout ? std::cout : file;
  std::string error_body;
  net::HttpCall call = api.Request("GET", "/v1/files/" + file_id + "/content", false);
  call.on_data = [&](std::string_view piece, long status) {
    if (status != 200) {
      error_body.append(piece);
    } else {
      out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
    }
    return true;
  };
  auto answer = net::Fetch(call);
  if (!answer.ok()) return Print({0, "", std::string(answer.status().message())});
  if (answer->status != 200) return Print({answer->status, error_body, ""});
  out.flush();
  return out ? 0 : 2;
}

// Saves a batch's output and error files where asked: the output to --out (standard output
// without it), the errors to --errors (without it, only said to exist).
int SaveResults(const BatchFlags& f, const json& batch) {
  int code = 0;
  if (batch["output_file_id"].is_string()) {
    code = Download(f.api, batch["output_file_id"], f.out);
    if (code != 0) return code;
  }
  if (batch["error_file_id"].is_string()) {
    if (!f.errors.empty()) {
      code = Download(f.api, batch["error_file_id"], f.errors);
    } else {
      std::cerr << "glmq: some requests failed; their lines are in file "
                << batch["error_file_id"].get<std::string>() << " (--errors FILE saves them)\n";
    }
  }
  return code;
}

// Follows a batch until it ends, drawing progress on stderr. Returns the last batch seen
// (null when the server stopped answering).
json Follow(const Api& api, const std::string& id) {
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  std::string last_line;
  for (;;) {
    const Reply r = Call(api, "GET", "/v1/batches/" + id, nullptr);
    const json batch = json::parse(r.body, nullptr, false);
    if (r.status != 200 || !batch.is_object()) {
      if (terminal) std::cerr << "\n";
      Print(r);
      return nullptr;
    }
    const std::string status = batch.value("status", "?");
    const json& counts = batch["request_counts"];
    const int64_t total = counts.value("total", 0), done = counts.value("completed", 0),
                  failed = counts.value("failed", 0);
    char line[160];
    if (terminal) {
      constexpr int kWidth = 30;
      const int filled = total > 0 ? static_cast<int>(kWidth * (done + failed) / total) : 0;
      std::snprintf(line, sizeof line, "\r[%s%s] %lld/%lld answered, %lld failed, %s   ",
                    std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                    static_cast<long long>(done), static_cast<long long>(total),
                    static_cast<long long>(failed), status.c_str());
      std::cerr << line << std::flush;
    } else {
      std::snprintf(line, sizeof line, "%s: %lld/%lld answered, %lld failed\n", status.c_str(),
                    static_cast<long long>(done), static_cast<long long>(total),
                    static_cast<long long>(failed));
      if (line != last_line) std::cerr << line;
      last_line = line;
    }
    if (IsEnded(status)) {
      if (terminal) std::cerr << "\n";
      return batch;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

int Submit(const BatchFlags& f) {
  net::HttpCall upload = f.api.Request("POST", "/v1/files", false);
  upload.form = {{.name = "purpose", .value = "batch", .file_path = {}, .filename = {}},
                 {.name = "file", .value = {}, .file_path = f.file, .filename = {}}};
  const Reply uploaded = Call(upload);
  const json file = json::parse(uploaded.body, nullptr, false);
  if (uploaded.status != 200 || !file.is_object()) return Print(uploaded);
  const std::string body =
      json{{"input_file_id", file["id"]}, {"endpoint", f.endpoint}, {"completion_window", f.window}}
          .dump();
  const Reply created = Call(f.api, "POST", "/v1/batches", &body);
  const json batch = json::parse(created.body, nullptr, false);
  if (created.status != 200 || !batch.is_object() || !f.wait) return Print(created);
  std::cerr << "batch " << batch["id"].get<std::string>() << " of file "
            << file["id"].get<std::string>() << "\n";
  const json ended = Follow(f.api, batch["id"]);
  if (ended.is_null()) return 2;
  if (const int code = SaveResults(f, ended); code != 0) return code;
  if (ended["status"] != "completed") {
    std::cerr << "glmq: the batch ended " << ended["status"].get<std::string>() << "\n";
    if (ended["errors"].is_object()) std::cerr << ended["errors"].dump(2) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void AddBatchCommands(CLI::App& app, std::vector<std::pair<CLI::App*, CommandRunner>>& out) {
  auto f = std::make_shared<BatchFlags>();
  auto* batch = app.add_subcommand("batch", "the Batch API: a file of requests, a file of answers");
  batch->require_subcommand(1);
  auto server = [f](CLI::App* cmd) { AddServerFlags(cmd, f->api); };
  auto files = [f](CLI::App* cmd) {
    cmd->add_option("--out", f->out, "save the output file here (default: standard output)");
    cmd->add_option("--errors", f->errors, "save the error file here");
  };

  auto* submit = batch->add_subcommand("submit", "upload a JSONL file of requests and run it");
  server(submit);
  files(submit);
  submit->add_option("file", f->file, "the requests, one JSON object a line")
      ->required()
      ->check(CLI::ExistingFile);
  submit->add_option("--endpoint", f->endpoint, "/v1/chat/completions or /v1/jobs")
      ->capture_default_str();
  submit->add_option("--window", f->window, "completion window: 24h, 90m, 30s, 2d")
      ->capture_default_str();
  submit->add_flag("--wait", f->wait, "follow it to its end, then save its results");
  out.emplace_back(submit, [f]() { return Submit(*f); });

  auto* status = batch->add_subcommand("status", "show a batch");
  server(status);
  status->add_option("id", f->id, "batch id")->required();
  out.emplace_back(status,
                   [f]() { return Print(Call(f->api, "GET", "/v1/batches/" + f->id, nullptr)); });

  auto* cancel = batch->add_subcommand("cancel", "cancel a batch (what finished is kept)");
  server(cancel);
  cancel->add_option("id", f->id, "batch id")->required();
  out.emplace_back(cancel, [f]() {
    const std::string none = "{}";
    return Print(Call(f->api, "POST", "/v1/batches/" + f->id + "/cancel", &none));
  });

  auto* results = batch->add_subcommand("results", "save a batch's output and error files");
  server(results);
  files(results);
  results->add_option("id", f->id, "batch id")->required();
  results->add_flag("--wait", f->wait, "follow it to its end first");
  out.emplace_back(results, [f]() -> int {
    json b;
    if (f->wait) {
      b = Follow(f->api, f->id);
      if (b.is_null()) return 2;
    } else {
      const Reply r = Call(f->api, "GET", "/v1/batches/" + f->id, nullptr);
      b = json::parse(r.body, nullptr, false);
      if (r.status != 200 || !b.is_object()) return Print(r);
    }
    if (!IsEnded(b.value("status", ""))) {
      std::cerr << "glmq: batch " << f->id << " is " << b.value("status", "?")
                << "; its files come when it ends (--wait follows it)\n";
      return 1;
    }
    return SaveResults(*f, b);
  });
}

}  // namespace glmq
