// GET /v1/jobs/{id}/events: a job followed as server-sent events on `glmq serve`.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <array>
#include <sstream>
#include <thread>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

struct Event {
  std::string name;
  json data;
};

// Splits a text/event-stream body into its events (comments and `retry:` lines are not
// events); a data line that is not JSON fails the test.
std::vector<Event> ParseEvents(const std::string& body) {
  std::vector<Event> events;
  std::istringstream in(body);
  std::string line;
  Event current;
  bool has_data = false;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (has_data) events.push_back(std::move(current));
      current = {};
      has_data = false;
    } else if (line.rfind("event: ", 0) == 0) {
      current.name = line.substr(7);
    } else if (line.rfind("data: ", 0) == 0) {
      current.data = json::parse(line.substr(6), nullptr, /*allow_exceptions=*/false);
      EXPECT_FALSE(current.data.is_discarded()) << line;
      has_data = true;
    }
  }
  return events;
}

std::string Names(const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) out += e.name + " ";
  return out;
}

TEST(EventsTest, AJobIsFollowedFromItsStateThroughProgressToDone) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  // Several seconds on the test model: progress is sent once a second while it runs.
  const std::string id = SubmitJob(server, {{"text", "Tell a long story."}, {"max_tokens", 4000}});
  ASSERT_FALSE(id.empty());

  const HttpResult stream = server.client().Get("/v1/jobs/" + id + "/events", seconds(120));
  ASSERT_EQ(stream.status, 200) << stream.Describe();
  EXPECT_EQ(stream.Header("content-type"), "text/event-stream");
  EXPECT_EQ(stream.Header("cache-control"), "no-cache");
  const std::vector<Event> events = ParseEvents(stream.body);
  ASSERT_GE(events.size(), 3u) << stream.body;
  EXPECT_EQ(events.front().name, "state") << Names(events);
  EXPECT_EQ(events.back().name, "done") << Names(events);
  int progress_events = 0;
  int64_t last_tokens = -1;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    EXPECT_EQ(e.data.value("id", ""), id) << e.data;
    if (i > 0 && i + 1 < events.size()) {
      EXPECT_TRUE(e.name == "state" || e.name == "progress") << Names(events);
      EXPECT_NE(e.data.value("state", ""), "succeeded") << "an end sent before `done`";
    }
    if (e.name == "progress") ++progress_events;
    const int64_t tokens = e.data["progress"].value("completion_tokens", int64_t{-1});
    EXPECT_GE(tokens, last_tokens) << Names(events);  // never goes back
    last_tokens = tokens;
  }
  EXPECT_GE(progress_events, 1) << Names(events);
  const json& done = events.back().data;
  EXPECT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(done["usage"].value("completion_tokens", 0), 4000) << done;
  EXPECT_TRUE(done.contains("text")) << done;

  // A finished job: one `done` event, at once.
  const HttpResult again = server.client().Get("/v1/jobs/" + id + "/events", seconds(10));
  ASSERT_EQ(again.status, 200) << again.Describe();
  const std::vector<Event> replay = ParseEvents(again.body);
  ASSERT_EQ(replay.size(), 1u) << again.body;
  EXPECT_EQ(replay[0].name, "done");
  EXPECT_EQ(replay[0].data, done);
}

TEST(EventsTest, ACancelEndsTheStreamWithTheCancelledJob) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string id = SubmitJob(server, {{"text", "Write an essay."}, {"max_tokens", 20000}});
  ASSERT_FALSE(id.empty());
  WaitForState(server, id, "running", seconds(30));
  HttpResult stream;
  std::thread reader(
      [&] { stream = server.client().Get("/v1/jobs/" + id + "/events", seconds(60)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a progress event or so
  const HttpResult cancel = server.Delete("/v1/jobs/" + id);
  reader.join();
  ASSERT_EQ(cancel.status, 200) << cancel.Describe();
  ASSERT_EQ(stream.status, 200) << stream.Describe();
  const std::vector<Event> events = ParseEvents(stream.body);
  ASSERT_GE(events.size(), 2u) << stream.body;
  EXPECT_EQ(events.front().data.value("state", ""), "running");
  EXPECT_EQ(events.back().name, "done") << Names(events);
  EXPECT_EQ(events.back().data.value("state", ""), "cancelled") << events.back().data;
}

TEST(EventsTest, AnUnknownJobIsA404) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const HttpResult missing = server.Get("/v1/jobs/job_000000000000000000000000/events");
  EXPECT_EQ(missing.status, 404) << missing.Describe();
  EXPECT_EQ(missing.body_json["error"].value("code", ""), "not_found") << missing.body;
}

TEST(EventsTest, GlmqWatchPrintsALinePerChangeUntilTheJobEnds) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string id = SubmitJob(server, {{"text", "Watch this."}, {"max_tokens", 3000}});
  ASSERT_FALSE(id.empty());
  const std::string watch = GlmqBin() + " watch " + id + " --server " + server.base_url();
  const auto [code, output] = RunCommand(watch);
  EXPECT_EQ(code, 0) << output;
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_GE(lines.size(), 2u) << output;
  EXPECT_TRUE(lines.front().rfind("queued", 0) == 0 || lines.front().rfind("running", 0) == 0)
      << output;
  EXPECT_EQ(lines.back().rfind("succeeded", 0), 0u) << output;
  EXPECT_NE(lines.back().find("generated 3000/3000"), std::string::npos) << output;

  const auto [missing_code, missing] =
      RunCommand(GlmqBin() + " watch job_000000000000000000000000 --server " + server.base_url());
  EXPECT_EQ(missing_code, 1) << missing;
  EXPECT_NE(missing.find("not_found"), std::string::npos) << missing;
}

}  // namespace
}  // namespace glmq::integration
