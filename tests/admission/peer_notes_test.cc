#include "admission/peer_notes.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace glmq {
namespace {

TEST(PeerNotesTest, ANoteSurvivesItsLine) {
  PeerNote arrival{.at = 1'796'647'996'603,
                   .order_key = 1'796'647'999'103,
                   .to_read = 266,
                   .max_tokens = 40,
                   .arrival = true};
  PeerNote document = arrival;
  document.arrival = false;
  document.document = PeerNote::Document{.key = 0xfedcba9876543210ULL,
                                         .read_at = 1'796'648'010'000,
                                         .slack_seconds = 12.345678901,
                                         .key_offset_ms = -9'655};
  std::string lines = EncodePeerNote(arrival) + "\n" + EncodePeerNote(document) + "\n";
  int skipped = 0;
  auto notes = DecodePeerNotes(lines, &skipped);
  EXPECT_EQ(skipped, 0);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0].at, arrival.at);
  EXPECT_EQ(notes[0].order_key, arrival.order_key);
  EXPECT_EQ(notes[0].to_read, 266);
  EXPECT_EQ(notes[0].max_tokens, 40);
  EXPECT_TRUE(notes[0].arrival);
  EXPECT_FALSE(notes[0].document.has_value());
  EXPECT_FALSE(notes[1].arrival);
  ASSERT_TRUE(notes[1].document.has_value());
  EXPECT_EQ(notes[1].document->key, 0xfedcba9876543210ULL);
  EXPECT_EQ(notes[1].document->read_at, 1'796'648'010'000);
  EXPECT_DOUBLE_EQ(notes[1].document->slack_seconds, 12.345678901);
  EXPECT_EQ(notes[1].document->key_offset_ms, -9'655);
}

// A gateway of the version before kept estimates sends no key offset: it reads as none.
TEST(PeerNotesTest, ADocumentWithoutAKeyOffsetReadsAsNotMoved) {
  int skipped = 0;
  auto notes = DecodePeerNotes("5 6 7 8 1 abc 9000 2.5\n5 6 7 8 1 abc 9000 2.5 -40 1\n", &skipped);
  EXPECT_EQ(skipped, 1);  // one word too many
  ASSERT_EQ(notes.size(), 1u);
  ASSERT_TRUE(notes[0].document.has_value());
  EXPECT_EQ(notes[0].document->key, 0xabcULL);
  EXPECT_DOUBLE_EQ(notes[0].document->slack_seconds, 2.5);
  EXPECT_EQ(notes[0].document->key_offset_ms, 0);
}

TEST(PeerNotesTest, AMalformedLineIsSkippedAndTheRestKept) {
  const std::string good = EncodePeerNote({.at = 5, .order_key = 6, .to_read = 7, .max_tokens = 8});
  const std::string lines = good + "\n" +
                            "5 6 7\n"                     // too few words
                            "5 6 7 8 2\n"                 // arrival neither 0 nor 1
                            "5 6 7 8 1 zz 9 1.5\n"        // a key that is not hex
                            "5 6 7 8 1 ab 9\n"            // a document without its slack
                            "5 6 7 8 1 ab 9 1.5 extra\n"  // a word too many
                            "x 6 7 8 1\n" +
                            good;  // the last line without its '\n'
  int skipped = 0;
  auto notes = DecodePeerNotes(lines, &skipped);
  EXPECT_EQ(skipped, 6);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[1].max_tokens, 8);
}

// The lines come from other processes over Redis: valid lines with bytes changed, dropped
// or added either are skipped or decode to a note that its own line gives back whole.
TEST(PeerNotesTest, DamagedLinesAreSkippedOrDecodeToWholeNotes) {
  std::mt19937 rng(7);
  const std::string alphabet = "0123456789abcdef -.e+\n\xff";
  const std::string valid = EncodePeerNote(
      {.at = 1'000'000,
       .order_key = 1'004'000,
       .to_read = 300,
       .max_tokens = 64,
       .arrival = true,
       .document = PeerNote::Document{.key = 0xabc, .read_at = 1'009'000, .slack_seconds = 4.5}});
  int decoded = 0, skipped = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string line = valid;
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0 && !line.empty(); --edits) {
      const size_t at = rng() % line.size();
      switch (rng() % 3) {
        case 0:
          line[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          line.erase(at, 1);
          break;
        default:
          line.insert(at, 1, alphabet[rng() % alphabet.size()]);
      }
    }
    for (const PeerNote& note : DecodePeerNotes(line, &skipped)) {
      ++decoded;
      auto again = DecodePeerNotes(EncodePeerNote(note));
      ASSERT_EQ(again.size(), 1u) << line;
      EXPECT_EQ(again[0].at, note.at);
      EXPECT_EQ(again[0].order_key, note.order_key);
      EXPECT_EQ(again[0].to_read, note.to_read);
      EXPECT_EQ(again[0].max_tokens, note.max_tokens);
      EXPECT_EQ(again[0].arrival, note.arrival);
      EXPECT_EQ(again[0].document.has_value(), note.document.has_value());
    }
  }
  EXPECT_GT(decoded, 0);  // some edits leave a valid line (a digit for a digit)
  EXPECT_GT(skipped, 0);
}

}  // namespace
}  // namespace glmq
