#include "cli/config_file.h"

#include <toml++/toml.h>

#include <cstdlib>
#include <string_view>

namespace glmq {
namespace {

Result<std::string> ValueText(const toml::node& node, const std::string& key) {
  // A list, for an option given many times (api-key, webhook-allow-hosts): its values joined
  // with the option's ',' delimiter.
  if (const toml::array* list = node.as_array()) {
    std::string joined;
    for (const toml::node& item : *list) {
      if (item.is_array() || item.is_table()) {
        return InvalidArgument("config key '" + key + "' must be a list of plain values");
      }
      GLMQ_ASSIGN_OR_RETURN(std::string text, ValueText(item, key));
      if (!joined.empty()) joined += ',';
      joined += text;
    }
    return joined;
  }
  if (auto s = node.value<std::string>()) return *s;
  if (auto b = node.value_exact<bool>()) return std::string(*b ? "true" : "false");
  if (auto i = node.value_exact<int64_t>()) return std::to_string(*i);
  if (auto d = node.value_exact<double>()) return std::to_string(*d);
  return InvalidArgument("config key '" + key + "' must be a string, number, boolean or list");
}

Status ApplyTable(CLI::App& command, const toml::table& table, const std::string& path) {
  for (const auto& [k, node] : table) {
    const std::string key(k.str());
    if (node.is_table() && key == "alerts") continue;  // rules and channels: LoadAlertConfig
    // One file for every process of a deployment: [serve], [gateway] and [worker] tables
    // hold what only that subcommand takes; the others' tables are not ours to read.
    if (node.is_table() && key != command.get_name() &&
        (key == "serve" || key == "gateway" || key == "worker")) {
      continue;
    }
    if (node.is_table()) {
      if (key == command.get_name()) {
        GLMQ_RETURN_IF_ERROR(ApplyTable(command, *node.as_table(), path));
        continue;
      }
      return InvalidArgument(path + ": unknown table [" + key + "]");
    }
    CLI::Option* option = nullptr;
    try {
      option = command.get_option("--" + key);
    } catch (const CLI::OptionNotFound&) {
      return InvalidArgument(path + ": unknown key '" + key + "' (see `glmq " + command.get_name() +
                             " --help` for the names)");
    }
    GLMQ_ASSIGN_OR_RETURN(std::string text, ValueText(node, key));
    try {
      option->default_val(text);
    } catch (const CLI::Error& e) {
      return InvalidArgument(path + ": key '" + key + "': " + e.what());
    }
  }
  return Status::Ok();
}

}  // namespace

Status ApplyConfigFile(CLI::App& command, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return InvalidArgument("cannot read config file " + path + ": " + std::string(e.description()));
  }
  return ApplyTable(command, table, path);
}

std::string FindConfigPath(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--config" && i + 1 < argc) return argv[i + 1];
    if (arg.substr(0, 9) == "--config=") return std::string(arg.substr(9));
  }
  const char* env = std::getenv("GLMQ_CONFIG");
  return env != nullptr ? env : "";
}

}  // namespace glmq
