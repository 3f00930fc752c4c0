// Histogram bucket bounds for glmq's metrics. Each call returns a fresh vector to hand to
// Registry::AddHistogram.
#pragma once

#include <vector>

namespace glmq::metrics {

// Seconds, 5 ms to 4 h: a job's queue wait or run time spans milliseconds (a short job on an
// idle worker) to hours (a 1M-token backlog), so the tail has 30 min, 1 h, 2 h and 4 h.
std::vector<double> JobLatencyBuckets();

// Seconds, 100 us to 10 s: an HTTP request is answered without waiting for the engine.
std::vector<double> HttpLatencyBuckets();

// Tokens, 16 to 1,048,576 (the longest context glmq serves) in powers of 4, then 2.
std::vector<double> TokenCountBuckets();

// `count` bounds: start, start*factor, ... (start > 0, factor > 1, else aborts).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace glmq::metrics
