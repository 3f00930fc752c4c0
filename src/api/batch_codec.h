// The Batch API's wire formats (batch/batch_codec.h): a line's body parsed as its endpoint's
// request, the output and error files' lines in OpenAI's shape, and the batch object.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/job_request.h"
#include "batch/batch.h"
#include "batch/batch_codec.h"

namespace glmq {

class ApiBatchCodec : public BatchCodec {
 public:
  // `model`: the name chat completions carry.
  ApiBatchCodec(RequestLimits limits, std::string model)
      : limits_(std::move(limits)), model_(std::move(model)) {}

  Result<nlohmann::json> ParseLine(std::string text) const override;
  Result<JobRequest> ParseBody(const std::string& endpoint, nlohmann::json body) const override;
  void Render(const std::string& endpoint, const Job& job, BatchLine& line,
              std::string_view code = {}, std::string_view message = {}) const override;
  void RenderRefusal(BatchLine& line, std::string_view code,
                     std::string_view message) const override;

 private:
  const RequestLimits limits_;
  const std::string model_;
};

// The endpoints a batch may name.
bool IsBatchEndpoint(std::string_view endpoint);

// The batch object OpenAI's clients read.
nlohmann::json BatchJson(const Batch& batch);

}  // namespace glmq
