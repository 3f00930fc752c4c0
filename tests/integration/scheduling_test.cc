// Scheduling as a client sees it: a long document must not hold up short questions that
// arrive while it is being read, and must itself still finish.
#include <gtest/gtest.h>

#include <set>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

// About 24k prompt tokens of the test model: several seconds of reading on 2 cores.
constexpr size_t kLongDocumentBytes = 48 * 1024;
constexpr int kShortJobs = 5;

// Document `n`: each is read in full (no prefix in common with another, see --prefix-cache).
json LongJob(int n) {
  return {{"text", "Document " + std::to_string(n) + ".\n" + FillerText(kLongDocumentBytes)},
          {"question", "What is this about?"},
          {"max_tokens", 8},
          {"temperature", 0}};
}

double RunSeconds(const json& job) { return job.value("run_seconds", -1.0); }

TEST(SchedulingTest, ShortJobsFinishWhileALongDocumentIsRead) {
  Server server({"--parallel", "4", "--ctx-size", "65536"});
  ASSERT_TRUE(server.Start()) << server.start_error();

  // The long job alone, for the bound below.
  const std::string solo_id = SubmitJob(server, LongJob(1));
  ASSERT_FALSE(solo_id.empty());
  const json solo = WaitForTerminal(server, solo_id, seconds(120));
  ASSERT_EQ(solo.value("state", ""), "succeeded") << solo;
  const double solo_seconds = RunSeconds(solo);
  ASSERT_GT(solo_seconds, 0);

  const std::string long_id = SubmitJob(server, LongJob(2));
  ASSERT_FALSE(long_id.empty());
  const json reading = WaitForJob(
      server, long_id,
      [](const json& j) { return j["progress"].value("prompt_tokens_read", 0) > 0; }, seconds(30));
  ASSERT_GT(reading["progress"].value("prompt_tokens_read", 0), 0) << reading;

  // Short questions keep arriving while the document is read.
  std::vector<std::string> short_ids;
  for (int i = 0; i < kShortJobs; ++i) {
    short_ids.push_back(
        SubmitJob(server, {{"text", "Short question number " + std::to_string(i) + "?"},
                           {"max_tokens", 8},
                           {"temperature", 0}}));
    ASSERT_FALSE(short_ids.back().empty());
    PollUntil([] { return false; }, milliseconds(100));
  }
  // Watch them finish; each time one has, look at the document (a little late at worst,
  // which only makes the check stricter).
  int finished_while_reading = 0;
  std::set<std::string> finished;
  PollUntil(
      [&] {
        for (const std::string& id : short_ids) {
          if (finished.count(id)) continue;
          const json job = server.Get("/v1/jobs/" + id).body_json;
          if (!IsTerminalState(job.value("state", ""))) continue;
          finished.insert(id);
          EXPECT_EQ(job.value("state", ""), "succeeded") << job;
          const json long_now = server.Get("/v1/jobs/" + long_id).body_json;
          const auto& p = long_now["progress"];
          if (long_now.value("state", "") == "running" &&
              p.value("prompt_tokens_read", 0) < p.value("prompt_tokens", 0)) {
            ++finished_while_reading;
          }
        }
        return finished.size() == short_ids.size();
      },
      seconds(60));
  ASSERT_EQ(finished.size(), short_ids.size());
  // Every short question was answered while the document was still being read.
  EXPECT_EQ(finished_while_reading, kShortJobs);

  const json long_done = WaitForTerminal(server, long_id, seconds(120));
  ASSERT_EQ(long_done.value("state", ""), "succeeded") << long_done;
  // No starvation: sharing steps with the short jobs costs the document at most half again
  // its time alone, plus a few seconds of slack for a loaded machine.
  EXPECT_LT(RunSeconds(long_done), 1.5 * solo_seconds + 5.0)
      << "alone " << solo_seconds << " s, beside short jobs " << RunSeconds(long_done) << " s";
}

}  // namespace
}  // namespace glmq::integration
