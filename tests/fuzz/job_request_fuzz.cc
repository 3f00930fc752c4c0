// libFuzzer target for everything that parses untrusted request bytes: the JSON body
// parsers of /v1/jobs and of the seed API, and query strings.
//
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DGLMQ_FUZZ=ON \
//         -DLLAMA_PREFIX=$(scripts/build-llama.sh)
//   ninja -C build-fuzz job_request_fuzz && build-fuzz/job_request_fuzz -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/fast_json.h"
#include "api/job_request.h"
#include "api/query_string.h"
#include "net/address_policy.h"
#include "net/curl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const glmq::RequestLimits limits;
  // The parsers take the body (and free it as they go).
  auto job = glmq::ParseJobRequest(std::string(input), limits);
  if (job.ok() && job->text.empty() == job->messages.empty()) __builtin_trap();
  // An accepted webhook_url never names an address other than a public one.
  if (job.ok() && !job->webhook_url.empty() &&
      glmq::net::IsPublicHost(glmq::net::UrlHost(job->webhook_url)) == false) {
    __builtin_trap();
  }
  (void)glmq::ParseSeedChatRequest(std::string(input), limits);
  auto chat = glmq::ParseOpenAiChatRequest(std::string(input), limits);
  if (chat.ok() && chat->messages.empty()) __builtin_trap();
  (void)glmq::ParseQuery(input);
  // The fast parser accepts what nlohmann accepts, but for a key twice in one object.
  const auto fast = glmq::ParseJson(std::string(input));
  const bool reference =
      !nlohmann::json::parse(input.begin(), input.end(), nullptr, false).is_discarded();
  if (fast.ok() && !reference) __builtin_trap();
  if (!fast.ok() && reference && fast.status().message().find("twice") == std::string::npos) {
    __builtin_trap();
  }
  return 0;
}
