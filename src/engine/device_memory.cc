#include "engine/device_memory.h"

#include <fmt/format.h>

#include <algorithm>

#include "ggml-backend.h"

namespace glmq {

std::vector<DeviceMemory> GpuDevices() {
  std::vector<DeviceMemory> out;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    const enum ggml_backend_dev_type type = ggml_backend_dev_type(dev);
    if (type != GGML_BACKEND_DEVICE_TYPE_GPU && type != GGML_BACKEND_DEVICE_TYPE_IGPU) continue;
    size_t free = 0;
    size_t total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    out.push_back(
        {fmt::format("{} ({})", ggml_backend_dev_name(dev), ggml_backend_dev_description(dev)),
         static_cast<int64_t>(free), static_cast<int64_t>(total)});
  }
  return out;
}

namespace {

constexpr int64_t kCells = 256;  // llama.cpp rounds a context up to a multiple of this

std::string GiB(int64_t bytes) { return fmt::format("{:.1f} GiB", bytes / double(1 << 30)); }

}  // namespace

Result<int64_t> FitContextToDevice(const DeviceContextInput& in) {
  const int64_t per_token = in.kv_bytes_per_token + in.ubatch_size * kMaskBytesPerTokenPerUbatchRow;
  const int64_t budget = in.free_bytes - in.headroom_bytes;
  const int64_t most = budget > 0 ? budget / std::max<int64_t>(per_token, 1) / kCells * kCells : 0;
  if (in.requested_ctx > 0) {
    const int64_t cells = (in.requested_ctx + kCells - 1) / kCells * kCells;
    if (cells <= most) return in.requested_ctx;
    return Status(
        StatusCode::kResourceExhausted,
        fmt::format("--ctx-size {} needs {} of KV and attention masks on the GPU, which has {} "
                    "free after the model's weights ({} of it kept for compute buffers): use "
                    "--ctx-size {} or less, --kv-type q8_0 (half the KV), fewer --gpu-layers, "
                    "or a smaller --ubatch-size",
                    in.requested_ctx, GiB(cells * per_token), GiB(in.free_bytes),
                    GiB(in.headroom_bytes), most));
  }
  const int64_t ctx = std::min(in.n_ctx_train, most);
  if (ctx < kCells * 4) {
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("the GPU has {} free after the model's weights, room for {} tokens "
                              "of context beside {} kept for compute buffers: use fewer "
                              "--gpu-layers, --kv-type q8_0, or a larger GPU",
                              GiB(in.free_bytes), most, GiB(in.headroom_bytes)));
  }
  return ctx;
}

}  // namespace glmq
