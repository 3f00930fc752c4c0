#include "metrics/catalogue.h"

#include <gtest/gtest.h>

#include <string>

#include "core/job.h"

namespace glmq {
namespace {

// The value of one sample in the exposition, or -1 when it is missing.
double Sample(const metrics::Registry& registry, const std::string& series) {
  const std::string text = registry.Render();
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

double Finished(const metrics::Registry& registry, const char* state, const char* cls) {
  return Sample(registry, std::string("glmq_jobs_finished_total{state=\"") + state + "\",class=\"" +
                              cls + "\"}");
}

Job JobOfClass(LengthClass length_class) {
  Job job;
  job.id = NewJobId();
  job.length_class = length_class;
  return job;
}

// Gateways and workers each hear every job's end: one counted everywhere would make the sum
// over processes count each job once per process.
TEST(JobMetricsTest, AJobsEndCountsOnlyWhereItWasMade) {
  metrics::Registry registry;
  JobMetrics metrics(registry);
  ASSERT_EQ(Finished(registry, "succeeded", "short"), 0);

  // Accepted here, finished by a worker elsewhere: heard, not counted.
  const Job remote = JobOfClass(LengthClass::kShort);
  metrics.Submitted(remote);
  metrics.StateChanged(remote.id, JobState::kRunning, ChangeOrigin::kElsewhere);
  metrics.StateChanged(remote.id, JobState::kSucceeded, ChangeOrigin::kElsewhere);
  EXPECT_EQ(Finished(registry, "succeeded", "short"), 0);

  // Accepted and ended here (serve mode, or a cancel on the gateway): counted with its class.
  const Job local = JobOfClass(LengthClass::kMedium);
  metrics.Submitted(local);
  metrics.StateChanged(local.id, JobState::kCancelled, ChangeOrigin::kHere);
  EXPECT_EQ(Finished(registry, "cancelled", "medium"), 1);

  // A worker knows a job's class from the run it started.
  JobEvent started;
  started.kind = JobEvent::Kind::kStarted;
  started.job_id = NewJobId();
  started.length_class = LengthClass::kLong;
  metrics.JobEvent(started);
  metrics.StateChanged(started.job_id, JobState::kFailed, ChangeOrigin::kHere);
  EXPECT_EQ(Finished(registry, "failed", "long"), 1);

  // The remote end above already let go of its job: ending it here again finds no class.
  metrics.StateChanged(remote.id, JobState::kSucceeded, ChangeOrigin::kHere);
  EXPECT_EQ(Finished(registry, "succeeded", "unknown"), 1);
  EXPECT_EQ(Finished(registry, "succeeded", "short"), 0);
  // Not an end: nothing counts.
  metrics.StateChanged(NewJobId(), JobState::kQueued, ChangeOrigin::kHere);
  EXPECT_EQ(Finished(registry, "succeeded", "unknown"), 1);
}

}  // namespace
}  // namespace glmq
