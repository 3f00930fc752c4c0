// The KV must fit in the accelerator's memory, not only in --ctx-size: what the GPUs have
// free once a model's weights are on them, and the context that leaves room for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace glmq {

struct DeviceMemory {
  std::string name;  // e.g. "CUDA0 (NVIDIA H200)"
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};

// llama.cpp's GPU devices as they are now (none in a CPU build).
std::vector<DeviceMemory> GpuDevices();

struct DeviceContextInput {
  int64_t requested_ctx = 0;  // --ctx-size; 0 = as large as the model and the device allow
  int64_t n_ctx_train = 0;
  int64_t kv_bytes_per_token = 0;  // of the layers on the device
  int64_t ubatch_size = 512;
  int64_t free_bytes = 0;  // on the devices, after the weights
  int64_t headroom_bytes = 0;
};

// Per token of context, besides its KV, a step's attention mask takes ubatch × 6 bytes on
// the device (llama.cpp builds it in f32 and casts it to f16 for flash attention): 3 GiB
// at a million tokens with a ubatch of 512.
inline constexpr int64_t kMaskBytesPerTokenPerUbatchRow = 6;

// The context to create: `requested_ctx` when its KV and masks fit the free memory less the
// headroom (ResourceExhausted saying what would fit otherwise), or for 0 the most that fits,
// capped at the trained context and rounded down to llama.cpp's 256 cells.
Result<int64_t> FitContextToDevice(const DeviceContextInput& in);

}  // namespace glmq
