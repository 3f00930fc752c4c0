// The test model's tokenizer: a byte-level BPE vocabulary with GLM-4's special tokens,
// learned deterministically from a small built-in text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace glmq {

// GLM-4's special tokens in the order of the real tokenizer; they follow the ordinary
// vocabulary, so their ids are vocab - 14 ... vocab - 1.
// clang-format off
constexpr std::array<const char*, 14> kSpecialTokens = {
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>",
    "<|begin_of_video|>", "<|end_of_video|>"};
// clang-format on
constexpr int32_t kNumSpecialTokens = static_cast<int32_t>(kSpecialTokens.size());
constexpr int32_t kEndOfTextIndex = 0;  // eos, and what unknown and padding point at
constexpr int32_t kUserIndex = 7;       // eot: GLM-4 ends an assistant turn with <|user|>
constexpr int32_t kNumByteTokens = 256;

// Values of llama.cpp's token types; llama.h stays out of the generator.
constexpr int32_t kTokenTypeNormal = 1;
constexpr int32_t kTokenTypeControl = 3;

struct TestVocab {
  std::vector<std::string> texts;   // GGUF token texts: mapped bytes, or a special token
  std::vector<int32_t> types;       // llama.cpp token types
  std::vector<std::string> merges;  // "left right", both in mapped form, by rank
  std::vector<bool> suppressed;     // tokens the model must never emit
};

// Byte-level BPE: 256 byte tokens, then merges learned greedily from a built-in text, then
// (if the text runs out of pairs seen at least twice, as it does for large vocabularies)
// filler merges that join two clean tokens, then the special tokens. Every merge's result
// is a token, as llama.cpp's tokenizer requires.
TestVocab BuildTestVocab(int32_t vocab_size);

}  // namespace glmq
