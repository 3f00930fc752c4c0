#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "cli/commands.h"
#include "testmodel/test_model.h"

namespace glmq {

CommandRunner AddMakeTestModelCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-test-model",
                                 "write a small random-weight GLM-4 (chatglm) GGUF for tests and "
                                 "demos; its answers are noise");
  struct Flags {
    std::string out;
    std::string preset = "default";
    TestModelSpec spec;
  };
  auto flags = std::make_shared<Flags>();
  cmd->add_option("--out", flags->out, "file to write")->required();
  cmd->add_option("--preset", flags->preset,
                  "default (a few MB), bench (~280M parameters) or glm4-9b (GLM-4-9B's shape, "
                  "9.4B parameters, q4_0: 5.3 GB)")
      ->check(CLI::IsMember({"default", "bench", "glm4-9b"}));
  cmd->add_option("--layers", flags->spec.layers, "transformer blocks");
  cmd->add_option("--embd", flags->spec.embd, "embedding width");
  cmd->add_option("--heads", flags->spec.heads, "attention heads");
  cmd->add_option("--kv-heads", flags->spec.kv_heads, "key/value heads");
  cmd->add_option("--ff", flags->spec.ff, "feed-forward width");
  cmd->add_option("--vocab", flags->spec.vocab, "vocabulary size");
  cmd->add_option("--ctx", flags->spec.ctx, "training context written to the metadata");
  cmd->add_option("--type", flags->spec.type, "weight type")
      ->check(CLI::IsMember({"f32", "f16", "q8_0", "q4_0"}));
  cmd->add_option("--seed", flags->spec.seed, "random seed (same seed, same file)");
  return [cmd, flags]() -> int {
    TestModelSpec spec = flags->spec;
    if (flags->preset != "default") {
      // The preset fills every size the user did not give.
      const TestModelSpec bench = *PresetSpec(flags->preset);
      auto given = [cmd](const char* name) { return cmd->count(name) > 0; };
      if (!given("--layers")) spec.layers = bench.layers;
      if (!given("--embd")) spec.embd = bench.embd;
      if (!given("--heads")) spec.heads = bench.heads;
      if (!given("--kv-heads")) spec.kv_heads = bench.kv_heads;
      if (!given("--ff")) spec.ff = bench.ff;
      if (!given("--vocab")) spec.vocab = bench.vocab;
      if (!given("--ctx")) spec.ctx = bench.ctx;
      if (!given("--type")) spec.type = bench.type;
    }
    const auto start = std::chrono::steady_clock::now();
    const Status s = WriteTestModel(spec, flags->out);
    if (!s.ok()) {
      spdlog::error("{}", s.message());
      return 1;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info(
        "wrote {} ({:.1f} MB, {} layers, embd {}, vocab {}, {}) in {:.1f} s; random "
        "weights: its answers are noise",
        flags->out, std::filesystem::file_size(flags->out) / 1e6, spec.layers, spec.embd,
        spec.vocab, spec.type, secs);
    return 0;
  };
}

}  // namespace glmq
