#include "admission/document_memory.h"

#include <algorithm>
#include <functional>
#include <string_view>
#include <vector>

#include "engine/prompt.h"

namespace glmq {
namespace {

uint64_t Mix(uint64_t seed, std::string_view bytes) {
  // boost::hash_combine's mixing over std::hash of each part.
  const uint64_t h = std::hash<std::string_view>{}(bytes);
  return seed ^ (h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

// The bytes of the request's document: its text, or every message before the last.
size_t DocumentBytes(const JobRequest& request) {
  if (request.messages.empty()) return request.text.size();
  size_t bytes = 0;
  for (size_t i = 0; i + 1 < request.messages.size(); ++i) {
    bytes += request.messages[i].content.size();
  }
  return bytes;
}

}  // namespace

std::optional<DocumentMemory::Key> DocumentMemory::DocumentOf(const std::string& tenant,
                                                              const JobRequest& request) {
  if (DocumentBytes(request) == 0) return std::nullopt;
  uint64_t key = Mix(0, tenant);
  if (request.messages.empty()) return Mix(Mix(key, "text"), request.text);
  for (size_t i = 0; i + 1 < request.messages.size(); ++i) {
    key = Mix(Mix(key, request.messages[i].role), request.messages[i].content);
  }
  return key;
}

int64_t DocumentMemory::DocumentTokens(const JobRequest& request, int64_t prompt_tokens) {
  const size_t total = RequestTextBytes(request);
  if (total == 0 || prompt_tokens <= 1) return 0;
  const double share = static_cast<double>(DocumentBytes(request)) / static_cast<double>(total);
  const int64_t tokens =
      std::min(prompt_tokens - 1, static_cast<int64_t>(share * static_cast<double>(prompt_tokens)));
  return tokens >= kMinSharedTokens ? tokens : 0;
}

std::optional<DocumentMemory::Recall> DocumentMemory::Seen(Key document, TimeMs now) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(document);
  if (it == entries_.end() || it->second.seen_at < now - kRememberMs) return std::nullopt;
  return it->second.recall;
}

void DocumentMemory::Note(Key document, TimeMs now, TimeMs read_at, int32_t max_tokens,
                          double slack_seconds, int64_t key_offset_ms) {
  std::lock_guard lock(mu_);
  Entry& e = entries_[document];
  if (e.seen_at < now - kRememberMs) {
    e.recall = {.read_at = read_at,
                .jobs = 1,
                .fewest_max_tokens = max_tokens,
                .slack_seconds = slack_seconds,
                .first_max_tokens = max_tokens,
                .key_offset_ms = key_offset_ms};
  } else if (now < e.recall.read_at) {
    e.recall.jobs += 1;
    e.recall.fewest_max_tokens = std::min(e.recall.fewest_max_tokens, max_tokens);
  }
  e.seen_at = std::max(e.seen_at, now);
  if (entries_.size() <= kMaxDocuments) return;
  std::erase_if(entries_, [now](const auto& kv) { return kv.second.seen_at < now - kRememberMs; });
  // Still full of documents seen lately: the older half goes.
  if (entries_.size() > kMaxDocuments) {
    std::vector<TimeMs> times;
    times.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) times.push_back(entry.seen_at);
    auto middle = times.begin() + static_cast<ptrdiff_t>(times.size() / 2);
    std::nth_element(times.begin(), middle, times.end());
    const TimeMs cut = *middle;
    std::erase_if(entries_, [cut](const auto& kv) { return kv.second.seen_at < cut; });
  }
}

}  // namespace glmq
