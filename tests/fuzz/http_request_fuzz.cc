// libFuzzer target for the HTTP request parser: the bytes a client sends are fed to Beast's
// parser with glmq's limits (api/http_request_limits.h), in pieces as a socket delivers
// them, and whatever it makes of them is judged as the server judges it. Checked: no crash
// or sanitizer report, a refusal is a well-formed JSON error with a 4xx status, and a head
// that passes the checks is within the limits.
//
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DGLMQ_FUZZ=ON \
//         -DLLAMA_PREFIX=$(scripts/build-llama.sh)
//   ninja -C build-fuzz http_request_fuzz && build-fuzz/http_request_fuzz -runs=100000
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>

#include "api/http_request_limits.h"

namespace {

void Judge(const std::optional<glmq::HttpResponse>& refusal) {
  if (!refusal) return;
  const unsigned status = refusal->result_int();
  if (status < 400 || status > 499) __builtin_trap();
  const auto body = nlohmann::json::parse(refusal->body(), nullptr, false);
  if (!body.is_object() || !body.contains("error") || !body["error"].contains("code")) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  glmq::RequestParser parser;
  glmq::PrepareHeadRead(parser);
  parser.eager(false);
  // The first byte picks the size of the pieces the bytes arrive in.
  const size_t piece = size > 0 ? 1 + data[0] % 64 : 1;
  const char* at = reinterpret_cast<const char*>(data);
  std::string pending;
  boost::system::error_code ec;
  for (size_t offset = 0; offset < size && !parser.is_header_done() && !ec;) {
    const size_t n = std::min(piece, size - offset);
    pending.append(at + offset, n);
    offset += n;
    const size_t used = parser.put(boost::asio::buffer(pending), ec);
    if (ec == glmq::http::error::need_more) ec = {};
    pending.erase(0, used);
  }
  if (ec) {
    Judge(glmq::HeaderRefusal(ec, parser));
  } else if (parser.is_header_done()) {
    const auto refusal = glmq::HeaderCheck(parser);
    Judge(refusal);
    if (!refusal) {
      const auto& head = parser.get();
      if (head.target().size() > glmq::kRequestLineLimitBytes) __builtin_trap();
      if (static_cast<size_t>(std::distance(head.begin(), head.end())) > glmq::kHeaderFieldsLimit) {
        __builtin_trap();
      }
    }
  }
  return 0;
}
