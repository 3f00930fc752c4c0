// libFuzzer target for the bytes a Batch API user uploads and for the notes gateways send
// each other: the multipart/form-data reader of POST /v1/files, a batch input file's line
// as the batch runner validates it, and the peer-note lines of admission/peer_notes.h.
// Checked beyond no crash or sanitizer report:
// - the multipart reader makes the same parts of a body fed in pieces as of the body fed
//   whole (the socket decides the pieces), and a refusal is kInvalidArgument;
// - a line's body the codec accepts is a request with a text or messages, not both;
// - a peer note decoded, encoded and decoded again is the same note.
//
// The input: a first line (the Content-Type of the upload) and the rest (the body, the
// line, the notes).
//
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DGLMQ_FUZZ=ON \
//         -DLLAMA_PREFIX=$(scripts/build-llama.sh)
//   ninja -C build-fuzz upload_fuzz && build-fuzz/upload_fuzz -runs=100000
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "admission/peer_notes.h"
#include "api/batch_codec.h"
#include "batch/input_lines.h"
#include "files/multipart.h"

namespace {

// What a reader handed on: one entry a part, its data joined, and how the body ended.
class Recorder final : public glmq::MultipartSink {
 public:
  glmq::Status Begin(const glmq::MultipartPart& part) override {
    parts.push_back(part.name + '\0' + part.filename + '\0' + part.content_type + '\0');
    return {};
  }
  glmq::Status Data(std::string_view bytes) override {
    if (parts.empty()) __builtin_trap();  // data before a part began
    parts.back().append(bytes);
    return {};
  }
  glmq::Status End() override { return {}; }

  std::vector<std::string> parts;
  glmq::StatusCode outcome = glmq::StatusCode::kOk;
};

// Feeds `body` in pieces whose sizes come from `sizes` (1 to 64 bytes each, cycled), or
// whole when `sizes` is empty; the first refusal ends the reading, as the server's does.
void Read(const std::string& boundary, std::string_view body, std::string_view sizes,
          Recorder& out) {
  glmq::MultipartReader reader(boundary, out);
  glmq::Status status;
  size_t at = 0;
  for (size_t k = 0; status.ok() && at < body.size(); ++k) {
    const size_t n =
        sizes.empty() ? body.size() : 1 + static_cast<unsigned char>(sizes[k % sizes.size()]) % 64;
    status = reader.Feed(body.substr(at, n));
    at += n;
  }
  if (status.ok()) status = reader.Finish();
  out.outcome = status.code();
}

void FuzzMultipart(std::string_view content_type, std::string_view body) {
  const auto boundary = glmq::MultipartBoundary(content_type);
  if (!boundary.ok()) {
    if (boundary.status().code() != glmq::StatusCode::kInvalidArgument) __builtin_trap();
    return;
  }
  Recorder whole, pieces;
  Read(*boundary, body, {}, whole);
  Read(*boundary, body, content_type, pieces);
  if (whole.outcome != pieces.outcome) __builtin_trap();
  if (whole.outcome != glmq::StatusCode::kOk &&
      whole.outcome != glmq::StatusCode::kInvalidArgument) {
    __builtin_trap();
  }
  // A refusal may come at another part's byte when the pieces differ; an accepted body
  // is the same parts however it arrived.
  if (whole.outcome == glmq::StatusCode::kOk && whole.parts != pieces.parts) __builtin_trap();
}

void FuzzBatchLine(std::string_view text) {
  const glmq::ApiBatchCodec codec(glmq::RequestLimits{}, "glmq-fuzz");
  auto line = codec.ParseLine(std::string(text));
  if (!line.ok()) return;
  if (!line->is_object()) return;
  auto body = line->find("body");
  if (body == line->end()) return;
  (void)glmq::DocumentHash(*body);
  if (glmq::MaxTokensGuess(*body) < 1) __builtin_trap();
  for (const char* endpoint : {"/v1/chat/completions", "/v1/jobs"}) {
    auto request = codec.ParseBody(endpoint, *body);
    if (request.ok() && request->text.empty() == request->messages.empty()) __builtin_trap();
  }
}

void FuzzPeerNotes(std::string_view lines) {
  for (const glmq::PeerNote& note : glmq::DecodePeerNotes(lines)) {
    const std::string encoded = glmq::EncodePeerNote(note);
    const auto again = glmq::DecodePeerNotes(encoded);
    if (again.size() != 1 || glmq::EncodePeerNote(again[0]) != encoded) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string_view head = input.substr(0, newline);
  const std::string_view rest =
      newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);
  FuzzMultipart(head, rest);
  FuzzBatchLine(rest);
  FuzzPeerNotes(input);
  return 0;
}
