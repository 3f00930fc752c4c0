#include "files/multipart.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace glmq {
namespace {

// Records the parts as the reader hands them on.
struct Recorder : MultipartSink {
  struct Got {
    MultipartPart part;
    std::string data;
    bool ended = false;
  };
  std::vector<Got> parts;
  size_t data_calls = 0;
  Status Begin(const MultipartPart& part) override {
    parts.push_back({part, "", false});
    return Status::Ok();
  }
  Status Data(std::string_view bytes) override {
    ++data_calls;
    parts.back().data.append(bytes);
    return Status::Ok();
  }
  Status End() override {
    parts.back().ended = true;
    return Status::Ok();
  }
};

const std::string kBoundary = "----glmqBoundary7MA4YWxkTrZu0gW";

std::string Form(const std::string& file_bytes) {
  return "--" + kBoundary +
         "\r\n"
         "Content-Disposition: form-data; name=\"purpose\"\r\n\r\n"
         "batch\r\n"
         "--" +
         kBoundary +
         "\r\n"
         "Content-Disposition: form-data; name=\"file\"; filename=\"in \\\"1\\\".jsonl\"\r\n"
         "Content-Type: application/jsonl\r\n\r\n" +
         file_bytes + "\r\n--" + kBoundary + "--\r\n";
}

TEST(MultipartBoundaryTest, TakesTheBoundaryOfAFormAndRefusesOtherTypes) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b;c\""), "a b;c");
  EXPECT_EQ(MultipartBoundary("application/json").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MultipartBoundary("multipart/form-data").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'x')).status().code(),
      StatusCode::kInvalidArgument);
}

// The body split at every byte gives the same parts: a delimiter, a header block or a line
// break cut between two reads of the socket is still found.
TEST(MultipartReaderTest, ReadsTheSamePartsWhereverTheBodyIsSplit) {
  const std::string file =
      "{\"custom_id\":\"a\"}\r\n{\"custom_id\":\"b\"}\n--" + kBoundary.substr(0, 9);
  const std::string body = Form(file);
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    Recorder rec;
    MultipartReader reader(kBoundary, rec);
    ASSERT_TRUE(reader.Feed(std::string_view(body).substr(0, cut)).ok()) << cut;
    ASSERT_TRUE(reader.Feed(std::string_view(body).substr(cut)).ok()) << cut;
    ASSERT_TRUE(reader.Finish().ok()) << cut;
    ASSERT_EQ(rec.parts.size(), 2u) << cut;
    EXPECT_EQ(rec.parts[0].part.name, "purpose");
    EXPECT_EQ(rec.parts[0].data, "batch");
    EXPECT_EQ(rec.parts[1].part.name, "file");
    EXPECT_EQ(rec.parts[1].part.filename, "in \"1\".jsonl");
    EXPECT_EQ(rec.parts[1].part.content_type, "application/jsonl");
    EXPECT_EQ(rec.parts[1].data, file) << cut;
    EXPECT_TRUE(rec.parts[0].ended && rec.parts[1].ended);
  }
}

// A byte at a time: the file's bytes go on as they come (not held until the part ends).
TEST(MultipartReaderTest, HandsAFileOnAsItArrives) {
  const std::string file(100'000, 'x');
  const std::string body = Form(file);
  Recorder rec;
  MultipartReader reader(kBoundary, rec);
  size_t held_most = 0;
  for (size_t i = 0; i < body.size(); i += 4096) {
    ASSERT_TRUE(reader.Feed(std::string_view(body).substr(i, 4096)).ok());
    if (rec.parts.size() == 2) {
      held_most = std::max(held_most, std::min(i + 4096, body.size()) - rec.parts[1].data.size());
    }
  }
  ASSERT_TRUE(reader.Finish().ok());
  ASSERT_EQ(rec.parts.size(), 2u);
  EXPECT_EQ(rec.parts[1].data, file);
  EXPECT_GT(rec.data_calls, 20u);
  // What was fed and not yet handed on: the headers before the file and a boundary's length.
  EXPECT_LT(held_most, 400u);
}

TEST(MultipartReaderTest, SkipsAPreambleAndAnEpilogueAndReadsAnEmptyPart) {
  const std::string body = "preamble text\r\n--" + kBoundary +
                           "\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--" +
                           kBoundary + "--\r\nepilogue";
  Recorder rec;
  MultipartReader reader(kBoundary, rec);
  ASSERT_TRUE(reader.Feed(body).ok());
  ASSERT_TRUE(reader.Finish().ok());
  ASSERT_EQ(rec.parts.size(), 1u);
  EXPECT_EQ(rec.parts[0].part.name, "empty");
  EXPECT_EQ(rec.parts[0].data, "");
  EXPECT_TRUE(rec.parts[0].ended);
}

TEST(MultipartReaderTest, RefusesBrokenFormsWithAReason) {
  struct Case {
    std::string body;
    std::string says;
  };
  const std::string open = "--" + kBoundary + "\r\n";
  const std::vector<Case> cases = {
      {"", "no multipart/form-data part"},
      {open + "Content-Disposition: form-data; name=\"file\"\r\n\r\nabc", "closing boundary"},
      {open + "Content-Type: text/plain\r\n\r\nabc\r\n--" + kBoundary + "--",
       "Content-Disposition"},
      {open + "Content-Disposition: attachment; name=\"f\"\r\n\r\nabc\r\n--" + kBoundary + "--",
       "form-data"},
      {open + "Content-Disposition: form-data\r\n\r\nabc\r\n--" + kBoundary + "--", "no name"},
      {open + "no colon here\r\n\r\nabc\r\n--" + kBoundary + "--", "no ':'"},
      {"--" + kBoundary + "junk\r\n", "other text"},
      {open + std::string(20'000, 'h') + "\r\n\r\n", "16 KiB"},
  };
  for (const Case& c : cases) {
    Recorder rec;
    MultipartReader reader(kBoundary, rec);
    Status s = reader.Feed(c.body);
    if (s.ok()) s = reader.Finish();
    ASSERT_FALSE(s.ok()) << c.body.substr(0, 80);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
    EXPECT_FALSE(reader.Feed("more").ok());
  }
}

// The reader's own limits (blanks after a delimiter, a part's header block) judge a body
// the same however the socket splits it: whole and a byte at a time, at and past each limit.
TEST(MultipartReaderTest, JudgesABodyAtItsLimitsAlikeWholeAndInPieces) {
  const auto outcome = [](const std::string& body, size_t piece) {
    Recorder rec;
    MultipartReader reader(kBoundary, rec);
    Status s;
    for (size_t i = 0; s.ok() && i < body.size(); i += piece) {
      s = reader.Feed(std::string_view(body).substr(i, piece));
    }
    if (s.ok()) s = reader.Finish();
    return s.code();
  };
  const std::string disposition = "Content-Disposition: form-data; name=\"a\"";
  const auto padded = [&](size_t blanks) {
    return "--" + kBoundary + std::string(blanks, '\t') + "\r\n" + disposition + "\r\n\r\nx\r\n--" +
           kBoundary + "--\r\n";
  };
  // A header block of `bytes` bytes, its terminating blank line not counted.
  const auto headers = [&](size_t bytes) {
    const std::string pad = "\r\nX-Pad: ";
    return "--" + kBoundary + "\r\n" + disposition + pad +
           std::string(bytes - disposition.size() - pad.size(), 'p') + "\r\n\r\nx\r\n--" +
           kBoundary + "--\r\n";
  };
  const struct {
    std::string body;
    StatusCode code;
  } cases[] = {
      {padded(70), StatusCode::kOk},
      {padded(71), StatusCode::kInvalidArgument},
      {headers(16 * 1024), StatusCode::kOk},
      {headers(16 * 1024 + 1), StatusCode::kInvalidArgument},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(outcome(c.body, c.body.size()), c.code) << c.body.substr(0, 120);
    EXPECT_EQ(outcome(c.body, 1), c.code) << c.body.substr(0, 120);
  }
}

// A sink's own error (a full disk) ends the reading with that error, unchanged.
TEST(MultipartReaderTest, PassesASinksErrorThrough) {
  struct Full : Recorder {
    Status Data(std::string_view) override { return StorageFull("disk full"); }
  } sink;
  MultipartReader reader(kBoundary, sink);
  const Status s = reader.Feed(Form(std::string(1000, 'x')));
  EXPECT_EQ(s.code(), StatusCode::kStorageFull);
}

}  // namespace
}  // namespace glmq
