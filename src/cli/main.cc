// glmq: asynchronous batch inference for long-context LLMs. See README.md.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "api/http_server.h"
#include "cli/commands.h"
#include "cli/config_file.h"

int main(int argc, char** argv) {
  // Documents of megabytes pass through several buffers (the request, the parsed text, the
  // rendered prompt): allocated apart from the heap, each goes back to the system when it is
  // freed. glibc's default threshold rises with every such free, after which they come from
  // the heap and stay there (a 10 MB document left ~100 MB more resident).
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Each connection takes a descriptor; the default soft limit (often 1024) is far below
  // what a server is allowed.
  glmq::RaiseDescriptorLimit();
  CLI::App app{"glmq: asynchronous batch inference for long-context LLMs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "glmq 0.1.0");
  std::vector<std::pair<CLI::App*, glmq::CommandRunner>> commands;
  auto serve = glmq::AddServeCommand(app);
  commands.emplace_back(app.get_subcommand("serve"), std::move(serve));
  auto gateway = glmq::AddGatewayCommand(app);
  commands.emplace_back(app.get_subcommand("gateway"), std::move(gateway));
  auto worker = glmq::AddWorkerCommand(app);
  commands.emplace_back(app.get_subcommand("worker"), std::move(worker));
  auto make_model = glmq::AddMakeTestModelCommand(app);
  commands.emplace_back(app.get_subcommand("make-test-model"), std::move(make_model));
  glmq::AddClientCommands(app, commands);
  glmq::AddBatchCommands(app, commands);
  glmq::AddKeysCommands(app, commands);

  // A config file sets defaults, so it is applied before the command line is parsed.
  // It applies to the subcommand named on the command line (serve, gateway or worker).
  if (const std::string config = glmq::FindConfigPath(argc, argv); !config.empty()) {
    for (const char* name : {"serve", "gateway", "worker"}) {
      bool named = false;
      for (int i = 1; i < argc; ++i) named = named || std::string_view(argv[i]) == name;
      if (!named) continue;
      if (const glmq::Status s = glmq::ApplyConfigFile(*app.get_subcommand(name), config);
          !s.ok()) {
        spdlog::error("{}", s.message());
        return 2;
      }
      break;
    }
  }
  CLI11_PARSE(app, argc, argv);
  for (auto& [sub, run] : commands) {
    if (sub != nullptr && sub->parsed()) return run();
  }
  return 2;
}
