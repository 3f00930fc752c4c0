#include "engine/device_memory.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// GLM-4-9B with all 40 layers on the GPU: 40 KiB of f16 KV per token.
DeviceContextInput NineB(int64_t free_bytes, int64_t requested) {
  DeviceContextInput in;
  in.requested_ctx = requested;
  in.n_ctx_train = 1048576;
  in.kv_bytes_per_token = 40960;
  in.ubatch_size = 512;
  in.free_bytes = free_bytes;
  in.headroom_bytes = kGiB;
  return in;
}

TEST(FitContextToDeviceTest, AMillionTokensFitAnH200BesideA4BitNineBModel) {
  // 139 GiB less 5.3 GB of weights.
  const auto ctx = FitContextToDevice(NineB(134 * kGiB, 1048576));
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  EXPECT_EQ(*ctx, 1048576);
}

TEST(FitContextToDeviceTest, ARequestedContextThatDoesNotFitIsRefusedWithWhatWould) {
  // An 80 GB card less the weights: 1M tokens need 40 GiB of KV and 3 GiB of masks.
  const auto refused = FitContextToDevice(NineB(30 * kGiB, 1048576));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  const std::string& m = refused.status().message();
  EXPECT_NE(m.find("--ctx-size 1048576 needs 43.0 GiB"), std::string::npos) << m;
  EXPECT_NE(m.find("--kv-type q8_0"), std::string::npos) << m;
  // The largest context it names fits, and one more cell does not.
  const int64_t most = (29 * kGiB) / (40960 + 512 * kMaskBytesPerTokenPerUbatchRow) / 256 * 256;
  EXPECT_NE(m.find("--ctx-size " + std::to_string(most) + " or less"), std::string::npos) << m;
  EXPECT_TRUE(FitContextToDevice(NineB(30 * kGiB, most)).ok());
  EXPECT_FALSE(FitContextToDevice(NineB(30 * kGiB, most + 256)).ok());
}

TEST(FitContextToDeviceTest, AnAutomaticContextTakesWhatTheDeviceHoldsUpToTheTrainedOne) {
  const auto some = FitContextToDevice(NineB(30 * kGiB, 0));
  ASSERT_TRUE(some.ok());
  EXPECT_GT(*some, 600'000);
  EXPECT_LT(*some, 1048576);
  EXPECT_EQ(*some % 256, 0);
  const auto all = FitContextToDevice(NineB(134 * kGiB, 0));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 1048576);  // never past the trained context
}

TEST(FitContextToDeviceTest, ADeviceWithNoRoomBesideTheHeadroomIsAClearError) {
  const auto none = FitContextToDevice(NineB(kGiB / 2, 0));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("fewer --gpu-layers"), std::string::npos);
  EXPECT_FALSE(FitContextToDevice(NineB(kGiB / 2, 4096)).ok());
}

TEST(GpuDevicesTest, ACpuBuildHasNone) {
#ifndef GLMQ_CUDA_BUILD
  EXPECT_TRUE(GpuDevices().empty());
#else
  for (const DeviceMemory& d : GpuDevices()) EXPECT_GT(d.total_bytes, 0) << d.name;
#endif
}

}  // namespace
}  // namespace glmq
