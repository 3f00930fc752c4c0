#include "testmodel/test_model_vocab.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <unordered_map>

#include "core/utf8.h"

namespace glmq {
namespace {

// Training text for the BPE merges: plain English with digits and punctuation, plus some
// Chinese so that multi-byte characters get merged (and split) like in a real vocabulary.
constexpr char kSampleText[] = R"(
The service takes long documents and short questions, puts them in a queue, and answers
them when the engine has room. A job is submitted in a few milliseconds; the answer comes
later. Nothing is lost when a process dies, because every state change is written down
before it is acknowledged.

When the queue is long, the scheduler does not simply take the oldest job first. A short
question should not wait behind a document of five hundred thousand tokens. The engine
reads long prompts in chunks, and between the chunks it keeps generating tokens for the
sequences that are already answering. In this way the small jobs finish quickly and the
large ones still make steady progress.

There is a harbour town on the northern coast where the fishing boats leave before dawn.
The weather there changes quickly: in the morning the sea is calm and grey, at noon the
wind rises from the west, and in the evening the rain comes in over the hills. The people
of the town say that you should never trust a quiet sea, and they are usually right.

On Monday the team measured the throughput of the new build. With 4 sequences the engine
produced 105 tokens per second; with 8 sequences it produced 190 tokens per second, and the
first token of a short prompt arrived after 120 milliseconds. The numbers for 16 and 32
sequences are in the report, together with the memory used by the key and value cache.

Questions that people often ask: How long will my job wait? What happens if the worker
restarts? Can I cancel a job that is already running? Where do I find the result? The
answers are simple. The status of a job tells you its position in the queue and an
estimate of the time it will start. A restarted worker gives its jobs back to the queue.
A running job can be cancelled at any time, and the result is kept for seven days.

She opened the window, looked at the garden, and said that the apples were ready. Her
brother went out with a basket and came back an hour later with more apples than they could
eat. They made a cake, gave some to the neighbours, and kept the rest in the cellar for the
winter. It was a good year for the garden, and the children still talk about it.

Reading a long text takes patience. First find out what the question really asks; then
look for the parts of the text that answer it; finally write a short and clear answer, and
say where in the text the answer was found. A good answer is correct, complete and short.

今天的天气很好，我们一起去公园散步吧。这个服务把很多请求放在一起处理，所以速度更快。
长文本的问题需要耐心地阅读，然后给出简短而清楚的回答。大家好，欢迎使用这个测试模型。
它的回答只是随机的噪声，但是每一个回答都是有效的文本。
)";

// GPT-2's reversible byte-to-unicode map, which llama.cpp's BPE tokenizer undoes when it
// turns tokens back into bytes: printable bytes stand for themselves and the others move to
// U+0100 and up, so every token text is printable and contains no space.
constexpr std::array<uint16_t, 256> kByteToCodePoint = [] {
  std::array<uint16_t, 256> table{};
  uint16_t next_shifted = 256;
  for (uint16_t b = 0; b < 256; ++b) {
    const bool printable =
        (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[b] = printable ? b : next_shifted++;
  }
  return table;
}();

// Token bytes as GGUF token text (UTF-8 of the mapped code points, all below U+0800).
std::string MapBytes(std::string_view raw) {
  std::string out;
  for (const char c : raw) {
    const uint16_t cp = kByteToCodePoint[static_cast<uint8_t>(c)];
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

// Text that may appear in an answer: complete UTF-8 and no control characters other than
// newline and tab (a NUL or an escape sequence in a test answer only causes trouble).
bool IsCleanText(std::string_view bytes) {
  for (const char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7F) return false;
  }
  return IsValidUtf8(bytes);
}

// --- Tokenizer ------------------------------------------------------------------------

enum class CharClass { kLetter, kDigit, kSpace, kNewline, kOther, kEnd };

CharClass Classify(uint32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::kLetter;
  if (cp >= '0' && cp <= '9') return CharClass::kDigit;
  if (cp == ' ' || cp == '\t') return CharClass::kSpace;
  if (cp == '\n' || cp == '\r') return CharClass::kNewline;
  // CJK and full-width punctuation; every other non-ASCII character of the sample is a letter.
  if ((cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF65)) return CharClass::kOther;
  if (cp >= 0x80) return CharClass::kLetter;
  return CharClass::kOther;
}

struct CodePoint {
  uint32_t value;
  size_t offset;
};

// Decodes text known to be valid UTF-8 (the embedded sample).
std::vector<CodePoint> DecodeUtf8(std::string_view text) {
  std::vector<CodePoint> out;
  size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    const size_t len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? b0 : b0 & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3F);
    out.push_back({cp, i});
    i += len;
  }
  return out;
}

// Splits text into pre-tokens roughly as llama.cpp's chatglm-bpe regex does (a word with at
// most one leading non-letter, digits in threes, punctuation runs, whitespace runs), so
// the merges learned here are the ones its tokenizer can use.
std::vector<std::string_view> SplitWords(std::string_view text) {
  const std::vector<CodePoint> cps = DecodeUtf8(text);
  const size_t n = cps.size();
  auto cls = [&](size_t k) { return k < n ? Classify(cps[k].value) : CharClass::kEnd; };
  auto skip = [&](size_t k, CharClass c) {
    while (cls(k) == c) ++k;
    return k;
  };
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < n) {
    const CharClass c = cls(i);
    size_t end;
    if (c == CharClass::kLetter) {
      end = skip(i, CharClass::kLetter);
    } else if (c == CharClass::kDigit) {
      end = i;
      while (end < i + 3 && cls(end) == CharClass::kDigit) ++end;
    } else if ((c == CharClass::kSpace || c == CharClass::kOther) &&
               cls(i + 1) == CharClass::kLetter) {
      end = skip(i + 1, CharClass::kLetter);
    } else if (c == CharClass::kOther ||
               (c == CharClass::kSpace && cls(i + 1) == CharClass::kOther)) {
      end = skip(skip(c == CharClass::kSpace ? i + 1 : i, CharClass::kOther), CharClass::kNewline);
    } else {
      end = i;
      while (cls(end) == CharClass::kSpace || cls(end) == CharClass::kNewline) ++end;
      // Leave the last space to lead the next word, as the regex's `\s+(?!\S)` does.
      if (end < n && end - i > 1 && cls(end - 1) == CharClass::kSpace) --end;
    }
    const size_t begin_byte = cps[i].offset;
    const size_t end_byte = end < n ? cps[end].offset : text.size();
    words.push_back(text.substr(begin_byte, end_byte - begin_byte));
    i = end;
  }
  return words;
}

}  // namespace

TestVocab BuildTestVocab(int32_t vocab_size) {
  const int32_t n_ordinary = vocab_size - kNumSpecialTokens;
  std::vector<std::string> raw;  // token bytes
  std::unordered_map<std::string, int32_t> id_of_raw;
  std::vector<std::string> merges;
  for (int32_t b = 0; b < kNumByteTokens; ++b) {
    raw.emplace_back(1, static_cast<char>(b));
    id_of_raw.emplace(raw.back(), b);
  }
  auto add_merge = [&](int32_t left, int32_t right) {
    merges.push_back(MapBytes(raw[left]) + " " + MapBytes(raw[right]));
    std::string joined = raw[left] + raw[right];
    const auto [it, inserted] = id_of_raw.emplace(joined, static_cast<int32_t>(raw.size()));
    if (inserted) raw.push_back(std::move(joined));
    return it->second;
  };

  struct Word {
    std::vector<int32_t> ids;
    int64_t count;
  };
  std::vector<Word> words;
  {
    std::map<std::string_view, int64_t> counts;  // ordered, so training is deterministic
    for (const std::string_view w : SplitWords(kSampleText)) ++counts[w];
    for (const auto& [text, count] : counts) {
      Word word{{}, count};
      for (const char c : text) word.ids.push_back(static_cast<uint8_t>(c));
      words.push_back(std::move(word));
    }
  }
  auto pair_key = [](int32_t left, int32_t right) {
    return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right);
  };
  while (static_cast<int32_t>(raw.size()) < n_ordinary) {
    std::unordered_map<uint64_t, int64_t> pair_counts;
    for (const Word& w : words) {
      for (size_t k = 0; k + 1 < w.ids.size(); ++k) {
        pair_counts[pair_key(w.ids[k], w.ids[k + 1])] += w.count;
      }
    }
    uint64_t best_key = 0;
    int64_t best_count = 0;
    for (const auto& [key, count] : pair_counts) {
      if (count > best_count || (count == best_count && key < best_key)) {
        best_key = key;
        best_count = count;
      }
    }
    // A pair seen once is memorising the sample, not learning from it.
    if (best_count < 2) break;
    const auto left = static_cast<int32_t>(best_key >> 32);
    const auto right = static_cast<int32_t>(best_key & 0xFFFFFFFFu);
    const int32_t joined = add_merge(left, right);
    for (Word& w : words) {
      std::vector<int32_t> next;
      next.reserve(w.ids.size());
      for (size_t k = 0; k < w.ids.size(); ++k) {
        if (k + 1 < w.ids.size() && w.ids[k] == left && w.ids[k + 1] == right) {
          next.push_back(joined);
          ++k;
        } else {
          next.push_back(w.ids[k]);
        }
      }
      w.ids = std::move(next);
    }
  }

  // Fillers: pairs of clean tokens (learned ones first, then printable ASCII) in order of
  // increasing index sum, so short joins come first. A join of clean texts is clean, and
  // the longest clean token joined with itself is always new, so this always progresses.
  std::vector<int32_t> base;
  for (int32_t id = kNumByteTokens; id < static_cast<int32_t>(raw.size()); ++id) {
    if (IsCleanText(raw[id])) base.push_back(id);
  }
  for (int32_t b = 0x21; b <= 0x7E; ++b) base.push_back(b);
  for (size_t diagonal = 0; static_cast<int32_t>(raw.size()) < n_ordinary; ++diagonal) {
    for (size_t i = 0; i <= diagonal && static_cast<int32_t>(raw.size()) < n_ordinary; ++i) {
      const size_t j = diagonal - i;
      if (i >= base.size() || j >= base.size()) continue;
      if (id_of_raw.count(raw[base[i]] + raw[base[j]]) != 0) continue;
      base.push_back(add_merge(base[i], base[j]));
    }
  }

  TestVocab vocab;
  vocab.merges = std::move(merges);
  for (const std::string& bytes : raw) {
    vocab.texts.push_back(MapBytes(bytes));
    vocab.types.push_back(kTokenTypeNormal);
    vocab.suppressed.push_back(!IsCleanText(bytes));
  }
  for (const char* special : kSpecialTokens) {
    vocab.texts.emplace_back(special);
    vocab.types.push_back(kTokenTypeControl);
    vocab.suppressed.push_back(true);
  }
  return vocab;
}

}  // namespace glmq
