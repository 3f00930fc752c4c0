// PrefixFiles: prompt prefixes whose KV the engine saved to disk (the prefix cache's second
// tier). Each entry is two files in one directory: <hash>.kv, the sequence state llama.cpp
// wrote (llama_state_seq_save_file), and <hash>.tokens, the tokens it holds (int32, native
// order), written last: an entry without its .tokens file is an interrupted save and is
// removed at the next Open. Entries over the byte budget go least recently used first.
//
// Entries belong to a partition (the tenant whose job computed them, or "" for all when the
// cache is shared): a lookup sees only its own partition's. The partition is part of the
// file name ("<partition>@<hash>"; no '@' for ""), so it survives a restart.
//
// Knows files and tokens only; the engine reads and writes the KV itself. One thread (the
// engine's) uses it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace glmq {

class PrefixFiles {
 public:
  // Creates `dir` if needed and indexes the entries an earlier run left there.
  static Result<std::unique_ptr<PrefixFiles>> Open(const std::string& dir, int64_t max_bytes);

  struct Match {
    std::string kv_path;
    size_t reuse = 0;   // leading tokens in common with the tokens looked for
    size_t tokens = 0;  // tokens the saved KV holds (cells a load fills)
  };
  // The entry of `partition` sharing the most leading tokens with `tokens`, counting at
  // most `most`.
  std::optional<Match> Find(const std::string& partition, const std::vector<int32_t>& tokens,
                            size_t most) const;

  // Where the KV of `tokens` goes: write it there, then Commit.
  std::string PathFor(const std::string& partition, const std::vector<int32_t>& tokens) const;
  // Records the entry for `tokens` (its KV file written, `kv_bytes` long), then drops the
  // least recently used entries until the directory is within budget, never `keep` (an
  // entry about to be loaded).
  Status Commit(const std::string& partition, const std::vector<int32_t>& tokens, int64_t kv_bytes,
                const std::string& keep = {});
  // An entry was used: it is the last to go.
  void Touch(const std::string& kv_path);
  // Removes an entry (e.g. one whose KV would not load).
  void Forget(const std::string& kv_path);

  size_t entries() const { return entries_.size(); }
  int64_t max_bytes() const { return max_bytes_; }
  int64_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::string stem;  // path without the extension
    std::string partition;
    std::vector<int32_t> tokens;
    int64_t bytes = 0;  // of both files
    uint64_t used = 0;
  };
  PrefixFiles(std::string dir, int64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  void Remove(size_t index);
  void Trim(const std::string& keep = {});

  std::string dir_;
  int64_t max_bytes_;
  int64_t bytes_ = 0;
  uint64_t clock_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace glmq
