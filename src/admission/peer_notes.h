// What one admission tells the others that share its queue (gateways on one Redis) of each
// job it accepted: the arrival its overtaking forecast counts (sched/overtaking.h) and the
// document later questions take from the job's reading (DocumentMemory). Without them each
// gateway behind a load balancer sees its share of the submits only: a long job is told the
// overtaking of a fraction of the jobs that will pass it, and a question that reaches
// another gateway than its document's first job is priced as a second reading and sorted
// apart from the document's other questions, whose KV may be gone by the time it runs.
//
// They are hints for estimates and order, never state: a note lost (pub/sub is at most
// once) or late leaves a forecast as it would be without it. One line a job, text:
//   <at> <order_key> <prompt tokens to read> <max_tokens> <arrival 0|1>
//   [<document key, hex> <read_at> <slack seconds> [<key offset ms>]]
// (a line without the key offset, from a gateway of an earlier version, reads as 0).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/document_memory.h"
#include "core/job.h"

namespace glmq {

struct PeerNote {
  TimeMs at = 0;           // accepted (its created_at)
  int64_t order_key = 0;   // before any promise moved it
  int64_t to_read = 0;     // prompt tokens it reads (less what it takes from its document)
  int32_t max_tokens = 0;  // its answer's limit
  bool arrival = false;    // an arrival forecasts count (not a batch's line)
  struct Document {
    DocumentMemory::Key key = 0;
    TimeMs read_at = 0;         // when its reading should end (DocumentMemory::Note)
    double slack_seconds = 0;   // the slack its questions sort with
    int64_t key_offset_ms = 0;  // and their keys' move (DocumentMemory::Recall)
  };
  std::optional<Document> document;
};

std::string EncodePeerNote(const PeerNote& note);
// The notes of a payload of lines; a malformed line is skipped (and counted in `skipped`).
std::vector<PeerNote> DecodePeerNotes(std::string_view lines, int* skipped = nullptr);

}  // namespace glmq
