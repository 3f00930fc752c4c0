#include "batch/input_lines.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace glmq {
namespace {

// One file's bytes, read back in pieces of at most `piece` bytes (a store's reads end where
// they like); the rest of the store is not needed here.
class OneFile final : public FileStore {
 public:
  OneFile(std::string bytes, size_t piece) : bytes_(std::move(bytes)), piece_(piece) {}
  Result<std::unique_ptr<FileUpload>> Begin(FileInfo) override { return Internal("unused"); }
  Result<FileInfo> Get(const std::string&, const std::string&) override {
    return Internal("unused");
  }
  Result<FilePage> List(const std::string&, const FileQuery&) override {
    return Internal("unused");
  }
  Status Delete(const std::string&, const std::string&) override { return Internal("unused"); }
  Result<std::string> Read(const std::string&, const std::string&, int64_t offset,
                           size_t max_bytes) override {
    const auto at = static_cast<size_t>(offset);
    if (at >= bytes_.size()) return std::string();
    return bytes_.substr(at, std::min({max_bytes, piece_, bytes_.size() - at}));
  }
  Result<int64_t> DeleteExpired(TimeMs) override { return Internal("unused"); }

 private:
  const std::string bytes_;
  const size_t piece_;
};

std::vector<InputLine> ReadAll(const std::string& bytes, size_t piece, size_t max_line_bytes) {
  OneFile file(bytes, piece);
  LineReader reader(file, "tenant", "file-1", max_line_bytes);
  std::vector<InputLine> out;
  InputLine line;
  for (;;) {
    Result<bool> more = reader.Next(&line);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) break;
    out.push_back(line);
  }
  return out;
}

// A line over the limit comes back as too long, with its number, and the lines after it
// are read as if it were short; a line at the limit is whole, its \r not counted. The same
// however the store's reads cut the file.
TEST(LineReaderTest, ALineOverTheLimitIsReadPastAndGivenAsTooLong) {
  const std::string bytes = "ab\n" + std::string(10, 'x') + "\ncd\r\n" + std::string(6, 'y') +
                            "\r\n" + std::string(7, 'z') + "\n\nlast" + std::string(9, 'l');
  struct Want {
    std::string text;
    bool too_long;
  };
  const std::vector<Want> want = {
      {"ab", false}, {"", true},  {"cd", false}, {"yyyyyy", false},
      {"", true},    {"", false}, {"", true}};  // "last..." at the end, without a line break
  for (size_t piece = 1; piece <= bytes.size(); ++piece) {
    const std::vector<InputLine> lines = ReadAll(bytes, piece, 6);
    ASSERT_EQ(lines.size(), want.size()) << "piece " << piece;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(lines[i].number, static_cast<int64_t>(i + 1)) << "piece " << piece;
      EXPECT_EQ(lines[i].text, want[i].text) << "piece " << piece << ", line " << i + 1;
      EXPECT_EQ(lines[i].too_long, want[i].too_long) << "piece " << piece << ", line " << i + 1;
    }
  }
  // Without a limit every line is whole.
  const std::vector<InputLine> whole = ReadAll(bytes, 4, std::numeric_limits<size_t>::max());
  ASSERT_EQ(whole.size(), want.size());
  EXPECT_EQ(whole[1].text, std::string(10, 'x'));
  EXPECT_EQ(whole[6].text, "last" + std::string(9, 'l'));
  EXPECT_FALSE(std::any_of(whole.begin(), whole.end(), [](const auto& l) { return l.too_long; }));
}

}  // namespace
}  // namespace glmq
