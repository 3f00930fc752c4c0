// Digests, MACs and the encodings that carry them: what webhook signatures, the signed chat
// channels (DingTalk, Feishu), idempotency keys and API keys need. OpenSSL underneath; one
// home so that every part uses the same few functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace glmq {

std::string Sha256(std::string_view bytes);                              // raw 32 bytes
std::string Sha256Hex(std::string_view bytes);                           // 64 hex digits
std::string HmacSha256(std::string_view key, std::string_view message);  // raw 32 bytes
std::string Base64Encode(std::string_view bytes);
std::string HexEncode(std::string_view bytes);  // two lowercase digits a byte
// The bytes of hex digits (either case); nullopt for an odd length or another character.
std::optional<std::string> HexDecode(std::string_view hex);
// `bytes` bytes from the system's CSPRNG, as hex (secrets: API keys and their ids).
std::string RandomHex(size_t bytes);
std::string UrlEncode(std::string_view text);  // RFC 3986: all but unreserved become %XX

}  // namespace glmq
