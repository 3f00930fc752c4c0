// Subcommands of the `glmq` binary. main.cc parses; each Run* wires the parts and runs.
#pragma once

#include <CLI/CLI.hpp>

namespace glmq {

// Each Add* registers a subcommand and returns a function that runs it after parsing.
using CommandRunner = std::function<int()>;

CommandRunner AddServeCommand(CLI::App& app);
CommandRunner AddGatewayCommand(CLI::App& app);
CommandRunner AddWorkerCommand(CLI::App& app);
CommandRunner AddMakeTestModelCommand(CLI::App& app);
void AddClientCommands(CLI::App& app, std::vector<std::pair<CLI::App*, CommandRunner>>& out);
// `glmq batch submit | status | cancel | results`: the Batch API from the command line.
void AddBatchCommands(CLI::App& app, std::vector<std::pair<CLI::App*, CommandRunner>>& out);
// `glmq keys create | list | revoke`.
void AddKeysCommands(CLI::App& app, std::vector<std::pair<CLI::App*, CommandRunner>>& out);

}  // namespace glmq
