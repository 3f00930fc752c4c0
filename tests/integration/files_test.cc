// The Batch API's files on the real binary, uploaded as a user would: with curl's -F
// (multipart/form-data), and read back, listed, deleted; bad forms answered with a reason;
// a large upload that never sits whole in the server's memory; another tenant's ids unknown.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

constexpr char kTeamA[] = "glmq_files_key_team_a_0123456789";
constexpr char kTeamB[] = "glmq_files_key_team_b_0123456789";

// A JSONL file of `lines` batch requests.
std::string BatchLines(int lines) {
  std::string out;
  for (int i = 0; i < lines; ++i) {
    out +=
        R"({"custom_id":"req-)" + std::to_string(i) +
        R"(","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"Question )" +
        std::to_string(i) + R"("}],"max_tokens":4}})" + "\n";
  }
  return out;
}

std::string WriteTemp(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

HttpClient KeyedClient(const Server& server, const std::string& key) {
  HttpClient c = server.client();
  if (!key.empty()) c.SetHeader("Authorization", "Bearer " + key);
  return c;
}

TEST(FilesTest, AnUploadedFileIsListedReadBackAndDeleted) {
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string dir = ScratchDir("glmq-files");
  const std::string bytes = BatchLines(500);
  const std::string path = WriteTemp(dir, "requests.jsonl", bytes);

  const auto [status, file] = UploadForm(server, "", {"purpose=batch", "file=@" + path});
  ASSERT_EQ(status, 200) << file.dump();
  EXPECT_EQ(file["object"], "file");
  EXPECT_EQ(file["purpose"], "batch");
  EXPECT_EQ(file["filename"], "requests.jsonl");
  EXPECT_EQ(file["bytes"], bytes.size());
  const std::string id = file["id"];
  EXPECT_EQ(id.rfind("file-", 0), 0u);
  // Kept thirty days by default, as OpenAI keeps batch files.
  EXPECT_EQ(file["expires_at"].get<int64_t>() - file["created_at"].get<int64_t>(), 30 * 86400);

  const HttpResult content = server.Get("/v1/files/" + id + "/content");
  ASSERT_EQ(content.status, 200) << content.Describe();
  EXPECT_EQ(content.body, bytes);
  const HttpResult one = server.Get("/v1/files/" + id);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body_json, file);

  // The file part first and the purpose after it, as OpenAI's SDKs send them; and a
  // second file to page through.
  const auto [second_status, second] =
      UploadForm(server, "", {"file=@" + path + ";filename=more.jsonl", "purpose=batch"});
  ASSERT_EQ(second_status, 200) << second.dump();
  const HttpResult page = server.Get("/v1/files?limit=1");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.body_json["object"], "list");
  ASSERT_EQ(page.body_json["data"].size(), 1u);
  EXPECT_EQ(page.body_json["data"][0]["id"], second["id"]);
  EXPECT_TRUE(page.body_json["has_more"]);
  const HttpResult rest = server.Get("/v1/files?limit=10&after=" + second["id"].get<std::string>());
  ASSERT_EQ(rest.body_json["data"].size(), 1u);
  EXPECT_EQ(rest.body_json["data"][0]["id"], id);
  EXPECT_FALSE(rest.body_json["has_more"]);

  const HttpResult deleted = server.Delete("/v1/files/" + id);
  ASSERT_EQ(deleted.status, 200);
  EXPECT_EQ(deleted.body_json, json({{"id", id}, {"object", "file"}, {"deleted", true}}));
  EXPECT_EQ(server.Get("/v1/files/" + id).status, 404);
  // An upload says what it cost the server, as every other answer does.
  const auto [curl_code, head] = RunCommand("curl -s -D - -o /dev/null -F purpose=batch -F file=@" +
                                            path + " " + server.base_url() + "/v1/files");
  ASSERT_EQ(curl_code, 0) << head;
  EXPECT_NE(head.find("Server-Timing: app;dur="), std::string::npos) << head;
  EXPECT_EQ(server.Get("/v1/files/" + id + "/content").status, 404);

  // Kept across a restart.
  server.Kill(SIGKILL);
  ASSERT_TRUE(server.Restart()) << server.start_error();
  const HttpResult after = server.Get("/v1/files/" + second["id"].get<std::string>() + "/content");
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(after.body, bytes);
}

TEST(FilesTest, ABadFormIsRefusedWithAReasonAndLeavesNothing) {
  Server server({"--parallel", "1", "--max-file-bytes", "100000"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string dir = ScratchDir("glmq-files");
  const std::string path = WriteTemp(dir, "in.jsonl", BatchLines(10));
  const std::string big = WriteTemp(dir, "big.jsonl", BatchLines(2000));  // ~250 kB

  struct Case {
    std::vector<std::string> fields;
    long status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"file=@" + path}, 400, "purpose"},
      {{"purpose=fine-tune", "file=@" + path}, 400, "'batch'"},
      {{"purpose=batch"}, 400, "no 'file' part"},
      {{"purpose=batch", "file=@" + path, "file=@" + path}, 400, "more than one"},
      {{"purpose=batch", "expires_after[anchor]=created_at", "expires_after[seconds]=5",
        "file=@" + path},
       400,
       "expires_after[seconds]"},
      {{"purpose=batch", "file=@" + big}, 413, "100000"},
  };
  for (const Case& c : cases) {
    const auto [status, body] = UploadForm(server, "", c.fields);
    EXPECT_EQ(status, c.status) << body.dump();
    ASSERT_TRUE(body.is_object()) << c.says;
    EXPECT_NE(body["error"]["message"].get<std::string>().find(c.says), std::string::npos)
        << body.dump();
  }
  // Not a form at all.
  const HttpResult json_body = server.Post("/v1/files", json{{"file", "x"}});
  EXPECT_EQ(json_body.status, 400) << json_body.Describe();
  EXPECT_TRUE(IsErrorBody(json_body));

  EXPECT_EQ(server.Get("/v1/files").body_json["data"].size(), 0u);
  size_t stored = 0;
  for (const auto& e : std::filesystem::directory_iterator(server.data_dir() + "/files")) {
    stored += e.path().filename().string().rfind("file-", 0) == 0;
  }
  EXPECT_EQ(stored, 0u);
  // A good upload still goes through after the refusals.
  EXPECT_EQ(UploadForm(server, "", {"purpose=batch", "file=@" + path}).first, 200);
}

// Peak resident memory of a process, in bytes (VmHWM).
int64_t PeakRss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

// 200 MB goes from the socket to the disk a piece at a time: the server's peak memory grows
// by a small part of the file's size.
TEST(FilesTest, A200MegabyteUploadNeverSitsInTheServersMemory) {
#ifdef GLMQ_SANITIZE
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine (up to 256 MB), so the "
                  "peak RSS is its allocator's, not the server's";
#endif
  Server server({"--parallel", "1"});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string dir = ScratchDir("glmq-files");
  const std::string path = dir + "/big.jsonl";
  {
    const std::string chunk = BatchLines(8000);  // ~1 MB
    std::ofstream out(path, std::ios::binary);
    int64_t written = 0;
    while (written + static_cast<int64_t>(chunk.size()) <= 200'000'000) {
      out << chunk;
      written += static_cast<int64_t>(chunk.size());
    }
  }
  const int64_t size = static_cast<int64_t>(std::filesystem::file_size(path));
  const int64_t before = PeakRss(server.pid());
  ASSERT_GT(before, 0);
  const auto [status, file] = UploadForm(server, "", {"purpose=batch", "file=@" + path});
  ASSERT_EQ(status, 200) << file.dump();
  EXPECT_EQ(file["bytes"], size);
  const int64_t growth = PeakRss(server.pid()) - before;
  std::printf("a %lld-byte upload grew the server's peak RSS by %lld bytes\n",
              static_cast<long long>(size), static_cast<long long>(growth));
  EXPECT_LT(growth, size / 10);
  EXPECT_EQ(
      std::filesystem::file_size(server.data_dir() + "/files/" + file["id"].get<std::string>()),
      static_cast<uintmax_t>(size));
  std::filesystem::remove(path);
}

TEST(FilesTest, AnotherTenantsFileIsNotFound) {
  const std::string keys = ScratchDir("glmq-files") + "/keys";
  std::ofstream(keys) << "team-a submit " << kTeamA << "\nteam-b submit " << kTeamB << "\n";
  Server server({"--parallel", "1", "--api-keys-file", keys});
  ASSERT_TRUE(server.Start()) << server.start_error();
  const std::string path = WriteTemp(ScratchDir("glmq-files"), "in.jsonl", BatchLines(3));
  EXPECT_EQ(UploadForm(server, "", {"purpose=batch", "file=@" + path}).first, 401);
  const auto [status, file] = UploadForm(server, kTeamA, {"purpose=batch", "file=@" + path});
  ASSERT_EQ(status, 200) << file.dump();
  const std::string id = file["id"];
  const HttpClient a = KeyedClient(server, kTeamA), b = KeyedClient(server, kTeamB);
  EXPECT_EQ(a.Get("/v1/files/" + id).status, 200);
  for (const std::string path : {"/v1/files/" + id, "/v1/files/" + id + "/content"}) {
    const HttpResult r = b.Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_TRUE(IsErrorBody(r));
  }
  EXPECT_EQ(b.Delete("/v1/files/" + id).status, 404);
  EXPECT_EQ(b.Get("/v1/files").body_json["data"].size(), 0u);
  EXPECT_EQ(a.Get("/v1/files").body_json["data"].size(), 1u);
}

}  // namespace
}  // namespace glmq::integration
