// BatchCodec: the wire formats a batch runner needs and the API owns (api/batch_codec.h): a
// line's body read as the endpoint's request, and the lines of the output and error files.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "batch/batch.h"
#include "core/job.h"
#include "core/status.h"

namespace glmq {

class BatchCodec {
 public:
  virtual ~BatchCodec() = default;
  // One line of an input file as JSON, parsed as the API parses a request body (an object
  // with the same key twice is refused); kInvalidArgument says what is wrong with it.
  virtual Result<nlohmann::json> ParseLine(std::string text) const = 0;
  // A line's "body" (parsed with the line, taken apart here) as a request of `endpoint`;
  // kInvalidArgument says what is wrong with it.
  virtual Result<JobRequest> ParseBody(const std::string& endpoint, nlohmann::json body) const = 0;
  // The output-file line of a job that succeeded, or the error-file line of one that did not
  // (`code` and `message` given: the batch's own reason, e.g. batch_expired, instead of the
  // job's). Sets result, ok and usage of `line`.
  virtual void Render(const std::string& endpoint, const Job& job, BatchLine& line,
                      std::string_view code = {}, std::string_view message = {}) const = 0;
  // The error-file line of a request that never became a job.
  virtual void RenderRefusal(BatchLine& line, std::string_view code,
                             std::string_view message) const = 0;
};

}  // namespace glmq
