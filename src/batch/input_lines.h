// A batch's input file as the runner reads it: its lines a piece at a time, and what the
// runner learns of a line's request before it is parsed as one (its document, its size).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "files/file_store.h"

namespace glmq {

// The input file's lines, read a piece at a time: each with its 1-based number.
class LineReader {
 public:
  LineReader(FileStore& files, std::string tenant, std::string id)
      : files_(files), tenant_(std::move(tenant)), id_(std::move(id)) {}

  // The next line (without its line break, or a \r before it) in *line; false at the end.
  Result<bool> Next(std::string* line, int64_t* number);

 private:
  FileStore& files_;
  const std::string tenant_, id_;
  std::string buffer_;
  size_t start_ = 0;
  int64_t offset_ = 0;
  int64_t line_ = 0;
  bool eof_ = false;
};

// Only spaces and tabs (a line to skip).
bool IsBlank(const std::string& line);

// What a line's request is about apart from its question: lines with the same document
// share it, and go next to each other in the queue so that the prefix cache reads it once.
// 0 when the body names none.
size_t DocumentHash(const nlohmann::json& body);

// The body's max_tokens (or max_completion_tokens), or a default when it names none.
int64_t MaxTokensGuess(const nlohmann::json& body);

}  // namespace glmq
