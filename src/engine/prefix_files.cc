#include "engine/prefix_files.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>

namespace glmq {
namespace fs = std::filesystem;
namespace {

constexpr char kKv[] = ".kv";
constexpr char kTokens[] = ".tokens";

// FNV-1a over the tokens' bytes: a file name, not a security boundary (a clash only
// replaces an entry).
std::string HashName(const std::string& partition, const std::vector<int32_t>& tokens) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(tokens.data());
  for (size_t i = 0; i < tokens.size() * sizeof(int32_t); ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  char name[32];
  std::snprintf(name, sizeof name, "%016llx-%zu", static_cast<unsigned long long>(h),
                tokens.size());
  return partition.empty() ? std::string(name) : partition + "@" + name;
}

// The partition a file name says ("" without '@').
std::string PartitionOf(const fs::path& kv) {
  const std::string stem = kv.stem().string();
  const size_t at = stem.rfind('@');
  return at == std::string::npos ? std::string() : stem.substr(0, at);
}

std::optional<std::vector<int32_t>> ReadTokens(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size % sizeof(int32_t) != 0 || size == 0) return std::nullopt;
  std::vector<int32_t> tokens(size / sizeof(int32_t));
  if (!in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(size))) {
    return std::nullopt;
  }
  return tokens;
}

}  // namespace

Result<std::unique_ptr<PrefixFiles>> PrefixFiles::Open(const std::string& dir, int64_t max_bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InvalidArgument("prefix cache directory '" + dir + "': " + ec.message());
  std::unique_ptr<PrefixFiles> files(new PrefixFiles(dir, max_bytes));
  // Oldest first, so that the clock orders what an earlier run used.
  std::vector<std::pair<fs::file_time_type, fs::path>> found;
  for (const auto& item : fs::directory_iterator(dir, ec)) {
    const fs::path& p = item.path();
    if (p.extension() == kKv) {
      if (!fs::exists(fs::path(p).replace_extension(kTokens))) {
        fs::remove(p, ec);  // its save was interrupted
        continue;
      }
      found.emplace_back(fs::last_write_time(p, ec), p);
    } else if (p.extension() == kTokens && !fs::exists(fs::path(p).replace_extension(kKv))) {
      fs::remove(p, ec);
    }
  }
  std::sort(found.begin(), found.end());
  for (const auto& [time, kv] : found) {
    const fs::path tokens_path = fs::path(kv).replace_extension(kTokens);
    auto tokens = ReadTokens(tokens_path);
    if (!tokens) {
      fs::remove(kv, ec);
      fs::remove(tokens_path, ec);
      continue;
    }
    Entry e;
    e.stem = fs::path(kv).replace_extension().string();
    e.partition = PartitionOf(kv);
    e.tokens = std::move(*tokens);
    e.bytes = static_cast<int64_t>(fs::file_size(kv, ec) + fs::file_size(tokens_path, ec));
    e.used = ++files->clock_;
    files->bytes_ += e.bytes;
    files->entries_.push_back(std::move(e));
  }
  files->Trim();
  return files;
}

std::optional<PrefixFiles::Match> PrefixFiles::Find(const std::string& partition,
                                                    const std::vector<int32_t>& tokens,
                                                    size_t most) const {
  std::optional<Match> best;
  for (const Entry& e : entries_) {
    if (e.partition != partition) continue;
    const size_t n = std::min(e.tokens.size(), tokens.size());
    const size_t common = std::min<size_t>(
        most, std::mismatch(e.tokens.begin(), e.tokens.begin() + static_cast<ptrdiff_t>(n),
                            tokens.begin())
                      .first -
                  e.tokens.begin());
    if (common > 0 && (!best || common > best->reuse)) {
      best = Match{e.stem + kKv, common, e.tokens.size()};
    }
  }
  return best;
}

std::string PrefixFiles::PathFor(const std::string& partition,
                                 const std::vector<int32_t>& tokens) const {
  return (fs::path(dir_) / (HashName(partition, tokens) + kKv)).string();
}

Status PrefixFiles::Commit(const std::string& partition, const std::vector<int32_t>& tokens,
                           int64_t kv_bytes, const std::string& keep) {
  const std::string stem = (fs::path(dir_) / HashName(partition, tokens)).string();
  const std::string tmp = stem + kTokens + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(tokens.data()),
              static_cast<std::streamsize>(tokens.size() * sizeof(int32_t)));
    if (!out.flush()) return Internal("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, stem + kTokens, ec);
  if (ec) return Internal("cannot rename " + tmp + ": " + ec.message());
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].stem == stem) {  // saved again: the files were replaced
      bytes_ -= entries_[i].bytes;
      entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(i));
      break;
    }
  }
  Entry e{stem, partition, tokens, kv_bytes + static_cast<int64_t>(tokens.size() * sizeof(int32_t)),
          ++clock_};
  bytes_ += e.bytes;
  entries_.push_back(std::move(e));
  Trim(keep);
  return Status::Ok();
}

void PrefixFiles::Touch(const std::string& kv_path) {
  for (Entry& e : entries_) {
    if (e.stem + kKv == kv_path) {
      e.used = ++clock_;
      std::error_code ec;
      fs::last_write_time(kv_path, fs::file_time_type::clock::now(), ec);  // for the next run
    }
  }
}

void PrefixFiles::Forget(const std::string& kv_path) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].stem + kKv == kv_path) {
      Remove(i);
      return;
    }
  }
}

void PrefixFiles::Remove(size_t index) {
  std::error_code ec;
  fs::remove(entries_[index].stem + kKv, ec);
  fs::remove(entries_[index].stem + kTokens, ec);
  bytes_ -= entries_[index].bytes;
  entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(index));
}

void PrefixFiles::Trim(const std::string& keep) {
  while (bytes_ > max_bytes_) {
    std::optional<size_t> oldest;
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].stem + kKv == keep) continue;
      if (!oldest || entries_[i].used < entries_[*oldest].used) oldest = i;
    }
    if (!oldest) return;
    spdlog::debug("prefix cache: dropping {} ({} bytes) to stay within {} bytes on disk",
                  entries_[*oldest].stem, entries_[*oldest].bytes, max_bytes_);
    Remove(*oldest);
  }
}

}  // namespace glmq
