// JSON encoding of the parts of a JobRequest that SqliteJobStore keeps outside the document
// column. The document text itself is never encoded: it is stored as given, once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "store/job_store.h"

namespace glmq {

// Everything in `request` except `text` and `messages`: the small fields a job listing
// shows. Fails with kInvalidArgument when a string is not valid UTF-8.
Result<std::string> EncodeRequestParams(const JobRequest& request);

// Fills the fields EncodeRequestParams wrote; leaves `text` and `messages` alone. Missing
// keys keep their defaults, so rows written before a field existed still decode.
Status DecodeRequestParams(std::string_view json, JobRequest* request);

// Chat messages live beside the document because they can be as large as it is.
Result<std::string> EncodeMessages(const std::vector<ChatMessage>& messages);
Status DecodeMessages(std::string_view json, std::vector<ChatMessage>* messages);

// A worker's report as stored in a shared store. Missing fields decode as their defaults.
std::string EncodeWorkerReport(const WorkerReport& report);
Result<WorkerReport> DecodeWorkerReport(std::string_view json);

// An API key's record as a shared store keeps it. Missing fields decode as their defaults.
std::string EncodeApiKeyRecord(const JobStore::ApiKeyRecord& key);
Result<JobStore::ApiKeyRecord> DecodeApiKeyRecord(std::string_view json);

}  // namespace glmq
