// Faults a hostile tester finds: malformed HTTP framing, too many connections, descriptors
// running out, a NUL inside a prompt, and a full disk. Each gets an honest answer, the
// server carries on, and nothing already accepted is lost or left stuck.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

namespace fs = std::filesystem;

// The status code of a raw HTTP reply ("HTTP/1.1 431 ..."), and its JSON body.
struct RawReply {
  int status = 0;
  HttpResult parsed;
};

RawReply ParseRaw(const std::string& reply) {
  RawReply out;
  if (reply.rfind("HTTP/1.1 ", 0) == 0) out.status = std::atoi(reply.c_str() + 9);
  const size_t body_at = reply.find("\r\n\r\n");
  if (body_at != std::string::npos) {
    out.parsed.body = reply.substr(body_at + 4);
    out.parsed.body_json = json::parse(out.parsed.body, nullptr, false);
    out.parsed.is_json = !out.parsed.body_json.is_discarded();
  }
  return out;
}

// An open TCP connection to the server on loopback that sends nothing, or -1.
int Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

std::string ErrorCode(const HttpResult& r) {
  return r.is_json && r.body_json.is_object() ? r.body_json["error"].value("code", "") : "";
}

// RFC 9110/9112: a header or request line over the server's limits, and a body whose framing
// is ambiguous, are answered (431, 414, 400), not dropped without a word.
TEST(FaultsTest, OversizedAndAmbiguousRequestsAreAnswered) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  std::string many_headers;
  for (int i = 0; i < 10'000; ++i) many_headers += "X-" + std::to_string(i) + ": v\r\n";
  struct Case {
    const char* name;
    std::string request;
    int status;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"a 100 KB header line",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100'000, 'a') + "\r\n\r\n", 431,
       "headers_too_large"},
      {"10,000 headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n" + many_headers + "\r\n", 431,
       "headers_too_large"},
      {"a 1 MB request line",
       "GET /" + std::string(1'000'000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"},
      {"two Content-Lengths",
       "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}", 400,
       "bad_http"},
      {"Content-Length and Transfer-Encoding",
       "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400, "bad_http"},
  };
  for (const Case& c : cases) {
    const RawReply r = ParseRaw(RawExchange(server.port(), c.request, seconds(10)));
    EXPECT_EQ(r.status, c.status) << c.name;
    EXPECT_TRUE(IsErrorBody(r.parsed)) << c.name << ": " << r.parsed.body;
    EXPECT_EQ(ErrorCode(r.parsed), c.code) << c.name;
  }
  EXPECT_EQ(server.Get("/healthz").status, 200);
  HttpResult list = server.Get("/v1/jobs");
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.body_json["data"].empty()) << "none of them became a job: " << list.body;
}

// Past --max-connections a new connection is answered 503 with Retry-After and closed; once
// connections close, new ones are served again.
TEST(FaultsTest, ConnectionsPastTheLimitGetA503) {
  Server server({"--max-connections", "3"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(Connect(server.port()));
    ASSERT_GE(idle.back(), 0);
  }
  // The server counts a connection once it accepts it.
  std::string reply;
  ASSERT_TRUE(PollUntil(
      [&] {
        reply = RawExchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", seconds(5));
        return ParseRaw(reply).status == 503;
      },
      seconds(10)))
      << reply;
  const RawReply refused = ParseRaw(reply);
  EXPECT_TRUE(IsErrorBody(refused.parsed)) << reply;
  EXPECT_EQ(ErrorCode(refused.parsed), "unavailable");
  EXPECT_NE(reply.find("Retry-After: "), std::string::npos) << reply;
  for (int fd : idle) ::close(fd);
  EXPECT_TRUE(PollUntil([&] { return server.Get("/healthz").status == 200; }, seconds(10)));
}

// CPU seconds the process has used (user + system).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// With its descriptors used up, the server waits for one to free instead of retrying the
// accept at once: before, it spun a core and logged "accept failed" ~400,000 times a second.
TEST(FaultsTest, RunningOutOfDescriptorsBacksOffAndRecovers) {
#ifdef GLMQ_SANITIZE
  GTEST_SKIP() << "a sanitizer's runtime needs descriptors of its own (UBSan checks a vtable "
                  "is readable through a pipe), so it reports errors that are not there once "
                  "the server has none left";
#endif
  // No connection limit of its own: the descriptor limit is what is hit.
  Server server({"--max-connections", "1000000"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const size_t open_now = static_cast<size_t>(
      std::distance(fs::directory_iterator("/proc/" + std::to_string(server.pid()) + "/fd"),
                    fs::directory_iterator()));
  const rlimit low{open_now + 20, open_now + 20};
  ASSERT_EQ(::prlimit(server.pid(), RLIMIT_NOFILE, &low, nullptr), 0) << std::strerror(errno);
  std::vector<int> held;
  for (int i = 0; i < 60; ++i) {
    const int fd = Connect(server.port());
    if (fd < 0) break;
    held.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(500));  // the accepts fail from here on
  const double cpu_before = CpuSeconds(server.pid());
  std::this_thread::sleep_for(seconds(3));
  const double cpu_share = (CpuSeconds(server.pid()) - cpu_before) / 3.0;
  EXPECT_LT(cpu_share, 0.25) << "the accept loop spins";
  const std::string log = server.LogTail(1'000'000);
  size_t reports = 0;
  for (size_t at = log.find("accept failed"); at != std::string::npos;
       at = log.find("accept failed", at + 1)) {
    ++reports;
  }
  EXPECT_GE(reports, 1u) << "the descriptor limit was never hit";
  EXPECT_LE(reports, 8u) << "accept failures are reported at most once a second";
  for (int fd : held) ::close(fd);
  EXPECT_TRUE(PollUntil([&] { return server.Get("/healthz").status == 200; }, seconds(10)));
  EXPECT_EQ(server.Post("/v1/jobs", json{{"text", "Still here?"}, {"max_tokens", 2}}).status, 202);
}

// A NUL (\u0000) in a text, a question or a message is a character like any other: the
// whole prompt reaches the model. Before, the prompt was cut there: the question never
// reached the model and the 202 counted the shorter prompt.
TEST(FaultsTest, ANulCharacterDoesNotCutThePrompt) {
  Server server;
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string text = "The harbour was quiet that morning.";
  const std::string rest = " Then the boats came back, one after another, with the tide.";
  const std::string question = "When did the boats come back, and how many were there?";
  auto count = [&](const json& body) {
    HttpResult r;
    const std::string id = SubmitJob(server, body, &r);
    EXPECT_FALSE(id.empty()) << r.Describe();
    const json done = WaitForTerminal(server, id, seconds(60));
    EXPECT_EQ(done.value("state", ""), "succeeded") << done;
    EXPECT_EQ(r.body_json.value("prompt_tokens", -1), done["usage"].value("prompt_tokens", -2));
    return r.body_json.value("prompt_tokens", int64_t{0});
  };
  const int64_t cut = count({{"text", text}, {"max_tokens", 1}});
  const int64_t with_nul = count(
      {{"text", text + std::string(1, '\0') + rest}, {"question", question}, {"max_tokens", 1}});
  const int64_t without_nul =
      count({{"text", text + rest}, {"question", question}, {"max_tokens", 1}});
  EXPECT_GT(with_nul, cut + 20);
  EXPECT_NEAR(with_nul, without_nul, 2);
  const int64_t chat_with_nul =
      count({{"messages",
              json::array({{{"role", "user"}, {"content", text + std::string(1, '\0') + rest}}})},
             {"max_tokens", 1}});
  EXPECT_GT(chat_with_nul, cut + 10);
}

// A tmpfs mounted on a directory for the life of the test (root only; skipped elsewhere).
class SmallDisk {
 public:
  SmallDisk(const std::string& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  // Takes every free byte; Free() gives them back.
  void Fill() {
    std::ofstream out(dir_ + "/filler", std::ios::binary);
    const std::string block(64 * 1024, 'x');
    while (out.write(block.data(), block.size())) {
    }
    out.close();
    std::ofstream small(dir_ + "/filler2", std::ios::binary);
    while (small.put('x')) {
    }
  }
  void Free() {
    fs::remove(dir_ + "/filler");
    fs::remove(dir_ + "/filler2");
  }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string why_;
};

// The data directory's disk fills up while a job runs and others arrive: submits answer
// 507 with Retry-After (nothing half-written), /readyz answers 503, the running job's
// answer is kept and written once there is room, and everything heals by itself.
TEST(FaultsTest, AFullDiskIsAnHonest507AndHealsByItself) {
  Server server({"--parallel", "1", "--ctx-size", "8192"});
  SmallDisk disk(server.data_dir(), "8m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.why();
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string running =
      SubmitJob(server, {{"text", "Tell a long story."}, {"max_tokens", 3000}});
  ASSERT_FALSE(running.empty());
  ASSERT_EQ(WaitForState(server, running, "running", seconds(30)).value("state", ""), "running");
  disk.Fill();

  std::vector<std::string> accepted;
  HttpResult refused;
  for (int i = 0; i < 1000 && refused.status == 0; ++i) {
    HttpResult r = server.Post("/v1/jobs", json{{"text", FillerText(8'000)}, {"max_tokens", 1}});
    if (r.status == 202) {
      accepted.push_back(r.body_json.value("id", ""));
    } else {
      refused = r;
    }
  }
  ASSERT_EQ(refused.status, 507) << refused.Describe();
  EXPECT_TRUE(IsErrorBody(refused)) << refused.body;
  EXPECT_EQ(ErrorCode(refused), "insufficient_storage");
  EXPECT_FALSE(refused.Header("retry-after").empty());
  HttpResult ready = server.Get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.Describe();
  EXPECT_FALSE(ready.body_json.value("store_writable", true)) << ready.body;
  EXPECT_GT(MetricSample(server, "glmq_store_write_failures_total"), 0);
  EXPECT_LT(MetricSample(server, "glmq_data_dir_free_bytes"), 1 << 20);

  disk.Free();
  EXPECT_TRUE(PollUntil([&] { return server.Get("/readyz").status == 200; }, seconds(30)))
      << server.Get("/readyz").body;
  const json done = WaitForTerminal(server, running, seconds(120));
  EXPECT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(done["usage"].value("completion_tokens", 0), 3000) << done;
  for (const std::string& id : accepted) {
    EXPECT_EQ(WaitForTerminal(server, id, seconds(60)).value("state", ""), "succeeded") << id;
  }
  const std::string after = SubmitJob(server, {{"text", "And now?"}, {"max_tokens", 2}});
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(WaitForTerminal(server, after, seconds(60)).value("state", ""), "succeeded");
}

// The embedded store deletes ended jobs after --retention-hours, as Redis does; queued and
// running ones stay whatever their age.
TEST(FaultsTest, EndedJobsLeaveTheEmbeddedStoreAfterTheirRetention) {
  Server server({"--retention-hours", "0.0005", "--parallel", "1"});  // 1.8 s
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string done = SubmitJob(server, {{"text", "Soon forgotten."}, {"max_tokens", 2}});
  ASSERT_FALSE(done.empty());
  ASSERT_EQ(WaitForTerminal(server, done, seconds(60)).value("state", ""), "succeeded");
  const std::string long_running =
      SubmitJob(server, {{"text", "Still going."}, {"max_tokens", 20000}});
  ASSERT_FALSE(long_running.empty());
  EXPECT_TRUE(PollUntil([&] { return server.Get("/v1/jobs/" + done).status == 404; }, seconds(20)));
  EXPECT_EQ(server.Get("/v1/jobs/" + long_running).status, 200);
  EXPECT_EQ(server.Delete("/v1/jobs/" + long_running).status, 200);
}

}  // namespace
}  // namespace glmq::integration
