// The dashboard page: served as HTML, and, in a real headless Chromium, showing the same
// numbers as GET /v1/queue. Leaves a screenshot in the test artifacts for a person to look at.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

namespace fs = std::filesystem;

constexpr auto kJobTimeout = seconds(60);
// Minutes of decoding on the test model, so the running job stays running (and the queue
// behind it stays still) while the browser looks, even on a loaded machine. Its KV cache
// costs a few hundred bytes a token.
constexpr int kLongMaxTokens = 100000;

// The first of the usual Chromium names found on $PATH, or empty.
std::string FindChromium() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::vector<std::string> entries;
  for (std::string dir; std::getline(dirs, dir, ':');) entries.push_back(dir);
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    for (const std::string& dir : entries) {
      const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return {};
}

// ${GLMQ_TEST_ARTIFACTS:-<build dir>/test-artifacts}, where the test binary lives in the
// build directory.
fs::path ArtifactsDir() {
  const char* env = std::getenv("GLMQ_TEST_ARTIFACTS");
  fs::path dir;
  if (env != nullptr && *env != '\0') {
    dir = env;
  } else {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    dir = (ec ? fs::path(GlmqBin()).parent_path() : self.parent_path()) / "test-artifacts";
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs headless Chromium with its own profile, bounded by `timeout`. Returns its stdout;
// `log` gets its stderr for failure messages.
std::string RunChromium(const std::string& chromium, const std::vector<std::string>& args,
                        int* exit_status, std::string* log) {
  const std::string profile = ScratchDir("glmq-chromium");
  std::string command = "timeout 60 " + Quote(chromium);
  for (const char* flag :
       {"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
        "--disable-component-update", "--hide-scrollbars", "--window-size=1366,900"}) {
    command += std::string(" ") + flag;
  }
  command += " " + Quote("--user-data-dir=" + profile);
  for (const std::string& a : args) command += " " + Quote(a);
  command += " 2> " + Quote(profile + "/stderr.log");
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe != nullptr) {
    char buf[8192];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    *exit_status = ::pclose(pipe);
  } else {
    *exit_status = -1;
  }
  const std::string err = ReadFile(profile + "/stderr.log");
  *log = "command: " + command +
         "\nstderr (tail): " + (err.size() > 3000 ? err.substr(err.size() - 3000) : err);
  std::error_code ec;
  fs::remove_all(profile, ec);
  return out;
}

// The page's source mentions attribute names too; only the rendered elements count.
std::string WithoutScripts(std::string html) {
  for (size_t start; (start = html.find("<script")) != std::string::npos;) {
    const size_t end = html.find("</script>", start);
    html.erase(start, end == std::string::npos ? std::string::npos : end + 9 - start);
  }
  return html;
}

std::optional<std::string> AttributeInTag(const std::string& dom, size_t inside,
                                          const std::string& attribute) {
  const size_t open = dom.rfind('<', inside);
  const size_t close = dom.find('>', inside);
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  const std::string tag = dom.substr(open, close - open);
  const std::string key = " " + attribute + "=\"";
  const size_t at = tag.find(key);
  if (at == std::string::npos) return std::nullopt;
  const size_t begin = at + key.size();
  const size_t end = tag.find('"', begin);
  if (end == std::string::npos) return std::nullopt;
  return tag.substr(begin, end - begin);
}

// The data-value of the element with data-testid `testid`, if there is one.
std::optional<std::string> TestValue(const std::string& dom, const std::string& testid) {
  const size_t at = dom.find("data-testid=\"" + testid + "\"");
  if (at == std::string::npos) return std::nullopt;
  return AttributeInTag(dom, at, "data-value");
}

std::string IntText(const json& v) {
  return v.is_number_integer() ? std::to_string(v.get<int64_t>()) : "not an integer: " + v.dump();
}

TEST(DashboardTest, ServesOneSelfContainedPage) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  HttpResult root = server.Get("/");
  ASSERT_EQ(root.status, 200) << root.Describe();
  EXPECT_EQ(root.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(root.Header("cache-control"), "no-cache");
  EXPECT_NE(root.body.find("<title>glmq dashboard</title>"), std::string::npos);
  for (const char* testid : {"queued-total", "queued-tokens", "running-count", "engine-parallel"}) {
    EXPECT_NE(root.body.find(std::string("data-testid=\"") + testid + "\""), std::string::npos)
        << testid;
  }
  // Operators' machines may have no internet: nothing may load from elsewhere.
  for (const char* external : {"src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import"}) {
    EXPECT_EQ(root.body.find(external), std::string::npos) << external;
  }

  HttpResult named = server.Get("/dashboard?refresh=5");
  ASSERT_EQ(named.status, 200) << named.Describe();
  EXPECT_EQ(named.body, root.body);
}

TEST(DashboardTest, BrowserShowsWhatTheQueueApiSays) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "no chromium, chromium-browser or google-chrome on PATH; "
                    "scripts/install-deps.sh installs Debian's chromium";
  }
  Server server({"--parallel", "1", "--ctx-size", "131072", "--max-tokens-limit", "120000"});
  ASSERT_TRUE(server.Start()) << server.start_error();

  // One finished job, one running for long, and queued jobs of two classes behind it.
  const std::string done_id = SubmitJob(server, {{"text", "Name a colour."}, {"max_tokens", 4}});
  ASSERT_FALSE(done_id.empty());
  ASSERT_EQ(WaitForTerminal(server, done_id, kJobTimeout).value("state", ""), "succeeded");
  const std::string long_id = SubmitJob(
      server, {{"text", "Write a long essay about the sea."}, {"max_tokens", kLongMaxTokens}});
  ASSERT_FALSE(long_id.empty());
  ASSERT_EQ(WaitForState(server, long_id, "running", kJobTimeout).value("state", ""), "running");
  std::vector<std::string> queued_ids;
  for (const json& body : {json{{"text", "Name a fruit."}, {"max_tokens", 8}},
                           json{{"text", FillerText(2000)}, {"max_tokens", 16}},
                           json{{"text", FillerText(12000)}, {"max_tokens", 32}}}) {
    HttpResult reply;
    queued_ids.push_back(SubmitJob(server, body, &reply));
    ASSERT_FALSE(queued_ids.back().empty()) << reply.Describe();
  }
  HttpResult medium = server.Get("/v1/jobs/" + queued_ids.back());
  ASSERT_EQ(medium.body_json.value("length_class", ""), "medium") << medium.body;
  // A batch whose file is refused: listed in the batches panel, no job made.
  const std::string input = ScratchDir("glmq-dashboard") + "/input.jsonl";
  { std::ofstream(input) << "not json\n"; }
  const auto [upload_status, file] = UploadForm(server, "", {"purpose=batch", "file=@" + input});
  ASSERT_EQ(upload_status, 200) << file.dump();
  const HttpResult batch = server.Post("/v1/batches", json{{"input_file_id", file["id"]},
                                                           {"endpoint", "/v1/chat/completions"},
                                                           {"completion_window", "24h"}});
  ASSERT_EQ(batch.status, 200) << batch.Describe();
  const std::string batch_id = batch.body_json["id"];
  ASSERT_TRUE(PollUntil(
      [&] { return server.Get("/v1/batches/" + batch_id).body_json["status"] == "failed"; },
      seconds(30)));

  int exit_status = 0;
  std::string log;
  const std::string url = server.base_url() + "/";
  const std::string dom = WithoutScripts(
      RunChromium(chromium, {"--virtual-time-budget=8000", "--dump-dom", url}, &exit_status, &log));
  HttpResult queue = server.Get("/v1/queue");
  ASSERT_EQ(queue.status, 200) << queue.Describe();
  const json& q = queue.body_json;
  ASSERT_FALSE(dom.empty()) << "exit status " << exit_status << "\n" << log;
  { std::ofstream(ArtifactsDir() / "dashboard-dom.html") << dom; }

  // The queue must not have moved while the browser looked, or nothing can be compared.
  ASSERT_EQ(q["running"].size(), 1u) << q;
  ASSERT_EQ(q["running"][0].value("id", ""), long_id) << q;
  ASSERT_EQ(q.value("queued", -1), 3) << q;

  const size_t body_at = dom.find("<body");
  ASSERT_NE(body_at, std::string::npos) << dom.substr(0, 2000);
  const auto updated = AttributeInTag(dom, body_at, "data-updated");
  ASSERT_TRUE(updated.has_value()) << dom.substr(body_at, 300);
  EXPECT_GE(std::atoi(updated->c_str()), 1) << "the page never rendered a refresh\n" << log;

  std::vector<std::pair<std::string, json>> expected = {
      {"queued-total", q["queued"]},
      {"queued-tokens", q["queued_prompt_tokens"]},
      {"running-count", json(q["running"].size())},
      {"dead-letter", q["dead_letter"]},
      {"engine-parallel", q["engine"]["parallel"]},
      {"engine-ctx-size", q["engine"]["ctx_size"]},
  };
  for (const char* c : {"short", "medium", "long"}) {
    const json& s = q["classes"][c];
    const std::string prefix = std::string("class-") + c;
    expected.emplace_back(prefix + "-queued", s["queued"]);
    expected.emplace_back(prefix + "-queued-tokens", s["queued_prompt_tokens"]);
    expected.emplace_back(prefix + "-queued-max-tokens", s["queued_max_tokens"]);
  }
  for (const char* state : {"queued", "running", "succeeded", "failed", "cancelled", "expired"}) {
    expected.emplace_back(std::string("totals-") + state, json(q["totals"].value(state, 0)));
  }
  for (const auto& [testid, want] : expected) {
    const auto got = TestValue(dom, testid);
    ASSERT_TRUE(got.has_value()) << "no data-value for data-testid=\"" << testid << "\"";
    EXPECT_EQ(*got, IntText(want)) << testid;
  }
  EXPECT_EQ(TestValue(dom, "class-short-queued"), "2");
  EXPECT_EQ(TestValue(dom, "class-medium-queued"), "1");
  EXPECT_EQ(TestValue(dom, "totals-succeeded"), "1");
  EXPECT_NE(dom.find("data-id=\"" + long_id + "\""), std::string::npos)
      << "the running job is not in the running table";
  const size_t batch_row = dom.find("data-batch=\"" + batch_id + "\"");
  ASSERT_NE(batch_row, std::string::npos) << "the batch is not in the batches panel";
  EXPECT_NE(dom.substr(batch_row, 400).find("<td>failed</td>"), std::string::npos)
      << dom.substr(batch_row, 400);

  // A picture for people; a longer virtual time fills the charts with a minute of samples.
  const fs::path png = ArtifactsDir() / "dashboard.png";
  std::error_code ec;
  fs::remove(png, ec);
  RunChromium(chromium,
              {"--virtual-time-budget=40000", "--screenshot=" + png.string(), url + "?refresh=1"},
              &exit_status, &log);
  ASSERT_TRUE(fs::exists(png)) << "exit status " << exit_status << "\n" << log;
  EXPECT_GT(fs::file_size(png), 10u * 1024) << png;
  EXPECT_EQ(ReadFile(png).substr(0, 4), "\x89PNG");

  HttpResult cancel = server.Delete("/v1/jobs/" + long_id);
  EXPECT_EQ(cancel.status, 200) << cancel.Describe();
  EXPECT_EQ(WaitForTerminal(server, long_id, kJobTimeout).value("state", ""), "cancelled");
}

}  // namespace
}  // namespace glmq::integration
