// --kv-type as ggml names it: for the KV size the tokenizer reports and the context the
// engine makes. Private to engine/.
#pragma once

#include <string>

#include "core/status.h"
#include "ggml.h"

namespace glmq {

inline Result<ggml_type> ParseKvType(const std::string& name) {
  if (name == "f16") return GGML_TYPE_F16;
  if (name == "q8_0") return GGML_TYPE_Q8_0;
  if (name == "q4_0") return GGML_TYPE_Q4_0;
  return InvalidArgument("--kv-type must be f16, q8_0 or q4_0, not '" + name + "'");
}

}  // namespace glmq
