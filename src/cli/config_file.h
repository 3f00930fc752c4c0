// Configuration files: a TOML file whose keys are the long flag names of a subcommand
// (`port = 8080`, `ctx-size = 1048576`), at the top level or under a [serve], [gateway] or
// [worker] table (only the running subcommand's is read), plus the [alerts] rules.
// Precedence: built-in defaults < config file < GLMQ_* environment < command-line flags.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/status.h"

namespace glmq {

// Makes every key of the file the default of the flag with that name. Unknown keys and
// values of the wrong type are errors that name the key.
Status ApplyConfigFile(CLI::App& command, const std::string& path);

// The path given by `--config PATH` or `--config=PATH` in argv, else $GLMQ_CONFIG, else "".
std::string FindConfigPath(int argc, char** argv);

}  // namespace glmq
