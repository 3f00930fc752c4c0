// A batch's input file as the runner reads it: its lines a piece at a time, and what the
// runner learns of a line's request before it is parsed as one (its document, its size).
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "files/file_store.h"

namespace glmq {

// One line of an input file.
struct InputLine {
  std::string text;       // without its line break (or a \r before it); empty when too long
  int64_t number = 0;     // 1-based
  bool too_long = false;  // over the reader's max_line_bytes: read past, never held whole
};

// The input file's lines, read a piece at a time. A line longer than `max_line_bytes` is
// dropped as its bytes come and given as too long, so that no line costs more memory than
// the limit (a 200 MB file may be one line).
class LineReader {
 public:
  LineReader(FileStore& files, std::string tenant, std::string id,
             size_t max_line_bytes = std::numeric_limits<size_t>::max())
      : files_(files),
        tenant_(std::move(tenant)),
        id_(std::move(id)),
        max_line_bytes_(max_line_bytes) {}

  // The next line in *line; false at the end.
  Result<bool> Next(InputLine* line);

 private:
  FileStore& files_;
  const std::string tenant_, id_;
  const size_t max_line_bytes_;
  std::string buffer_;
  size_t start_ = 0;
  int64_t offset_ = 0;
  int64_t line_ = 0;
  bool eof_ = false;
  bool skipping_ = false;  // the line being read is over the limit
};

// Only spaces and tabs (a line to skip); a line too long is not blank, whatever its bytes.
bool IsBlank(const InputLine& line);

// What a line's request is about apart from its question: lines with the same document
// share it, and go next to each other in the queue so that the prefix cache reads it once.
// 0 when the body names none.
size_t DocumentHash(const nlohmann::json& body);

// The body's max_tokens (or max_completion_tokens), or a default when it names none.
int64_t MaxTokensGuess(const nlohmann::json& body);

}  // namespace glmq
