#include "metrics/buckets.h"

#include "metrics/text_format.h"

namespace glmq::metrics {

std::vector<double> JobLatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,    2.5,  5,    10,
          30,    60,   120,   300,  600, 900,  1800, 3600, 7200, 14400};
}

std::vector<double> HttpLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> TokenCountBuckets() {
  return {16, 64, 256, 1024, 4096, 16384, 65536, 131072, 262144, 524288, 1048576};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 0) {
    internal::CheckProgrammerError(
        InvalidArgument("exponential buckets need start > 0, factor > 1, count >= 0"));
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

}  // namespace glmq::metrics
