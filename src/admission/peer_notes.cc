#include "admission/peer_notes.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace glmq {
namespace {

// Splits off the next space-separated word of `rest`.
std::string_view NextWord(std::string_view& rest) {
  const size_t start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  const size_t end = rest.find(' ');
  std::string_view word = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return word;
}

template <typename T>
bool Parse(std::string_view word, T& out, int base = 10) {
  if (word.empty()) return false;
  std::from_chars_result r;
  if constexpr (std::is_floating_point_v<T>) {
    r = std::from_chars(word.data(), word.data() + word.size(), out);
  } else {
    r = std::from_chars(word.data(), word.data() + word.size(), out, base);
  }
  return r.ec == std::errc() && r.ptr == word.data() + word.size();
}

std::optional<PeerNote> DecodeLine(std::string_view line) {
  PeerNote note;
  int arrival = 0;
  if (!Parse(NextWord(line), note.at) || !Parse(NextWord(line), note.order_key) ||
      !Parse(NextWord(line), note.to_read) || !Parse(NextWord(line), note.max_tokens) ||
      !Parse(NextWord(line), arrival) || (arrival != 0 && arrival != 1)) {
    return std::nullopt;
  }
  note.arrival = arrival == 1;
  std::string_view key = NextWord(line);
  if (key.empty()) return note;
  PeerNote::Document d;
  if (!Parse(key, d.key, 16) || !Parse(NextWord(line), d.read_at) ||
      !Parse(NextWord(line), d.slack_seconds) || !std::isfinite(d.slack_seconds)) {
    return std::nullopt;
  }
  if (std::string_view offset = NextWord(line);
      !offset.empty() && (!Parse(offset, d.key_offset_ms) || !NextWord(line).empty())) {
    return std::nullopt;
  }
  note.document = d;
  return note;
}

}  // namespace

std::string EncodePeerNote(const PeerNote& note) {
  char buf[160];
  int n =
      std::snprintf(buf, sizeof buf, "%lld %lld %lld %d %d", static_cast<long long>(note.at),
                    static_cast<long long>(note.order_key), static_cast<long long>(note.to_read),
                    note.max_tokens, note.arrival ? 1 : 0);
  if (note.document) {
    n += std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), " %llx %lld %.17g %lld",
                       static_cast<unsigned long long>(note.document->key),
                       static_cast<long long>(note.document->read_at), note.document->slack_seconds,
                       static_cast<long long>(note.document->key_offset_ms));
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<PeerNote> DecodePeerNotes(std::string_view lines, int* skipped) {
  std::vector<PeerNote> out;
  while (!lines.empty()) {
    const size_t end = lines.find('\n');
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 1);
    if (line.empty()) continue;
    if (auto note = DecodeLine(line)) {
      out.push_back(*note);
    } else if (skipped != nullptr) {
      ++*skipped;
    }
  }
  return out;
}

}  // namespace glmq
