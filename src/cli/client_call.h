// What the command-line client's commands share (cli/client.cc, cli/batch_client.cc): the
// server and key to talk to, one call, and how an answer is printed.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "net/curl.h"

namespace glmq {

struct Reply {
  long status = 0;
  std::string body;
  std::string error;  // set when no answer came (no server)
};

// The server to talk to, and the API key to show it (none: send no Authorization).
struct Api {
  std::string server = "http://127.0.0.1:8080";
  std::string key;

  // A call with the key and no time limit (a long-poll takes as long as it was asked to);
  // `json`: the body is JSON.
  net::HttpCall Request(const std::string& method, const std::string& path, bool json = true) const;
};

Reply Call(const Api& api, const std::string& method, const std::string& path,
           const std::string* body);
Reply Call(const net::HttpCall& call);

// --server and --api-key (GLMQ_SERVER, GLMQ_API_KEY) on a client command, into `api`.
void AddServerFlags(CLI::App* cmd, Api& api);

// Prints the body; the exit code says whether the server said yes (0), no (1), or was not
// there (2).
int Print(const Reply& reply);

}  // namespace glmq
