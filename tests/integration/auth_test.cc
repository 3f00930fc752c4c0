// API keys as a client meets them: the job API and the seed API want the key, health,
// metrics and documents do not, and the command-line client sends GLMQ_API_KEY.
#include <gtest/gtest.h>

#include <fstream>

#include "integration/harness.h"

namespace glmq::integration {
namespace {

constexpr char kFlagKey[] = "flag-key-0123456789";
constexpr char kFileKey[] = "file-key-9876543210";

HttpResult WithKey(const Server& server, const std::string& method, const std::string& path,
                   const std::string& key, const std::string& body = "") {
  return server.client().Request(method, path, body, {{"Authorization", "Bearer " + key}});
}

TEST(AuthTest, TheApiWantsAKeyAndTheProbesDoNot) {
  const std::string dir = ScratchDir("glmq-auth");
  const std::string keys_file = dir + "/keys";
  std::ofstream(keys_file) << "# one per line\n" << kFileKey << "\n";
  Server server({"--api-key", kFlagKey, "--api-keys-file", keys_file});
  ASSERT_TRUE(server.Start()) << server.start_error();

  const json job = {{"text", "Name a colour."}, {"max_tokens", 4}};
  HttpResult none = server.Post("/v1/jobs", job);
  EXPECT_EQ(none.status, 401) << none.Describe();
  EXPECT_EQ(none.body_json["error"].value("code", ""), "unauthorized") << none.body;
  EXPECT_EQ(none.Header("www-authenticate"), R"(Bearer realm="glmq")");
  EXPECT_EQ(WithKey(server, "POST", "/v1/jobs", "wrong-key-0000000000", job.dump()).status, 401);
  EXPECT_EQ(server.Get("/v1/queue").status, 401);
  EXPECT_EQ(server.Get("/api/v1/queue/status").status, 401);
  // Nothing was accepted without a key.
  EXPECT_EQ(WithKey(server, "GET", "/v1/queue", kFlagKey).body_json["totals"].value("queued", -1) +
                WithKey(server, "GET", "/v1/jobs", kFlagKey).body_json["data"].size(),
            0u);

  // Either key works.
  HttpResult accepted = WithKey(server, "POST", "/v1/jobs", kFlagKey, job.dump());
  ASSERT_EQ(accepted.status, 202) << accepted.Describe();
  const std::string id = accepted.body_json.value("id", "");
  HttpResult read = WithKey(server, "GET", "/v1/jobs/" + id + "?wait=30", kFileKey);
  EXPECT_EQ(read.status, 200) << read.Describe();
  EXPECT_EQ(read.body_json.value("state", ""), "succeeded") << read.body;
  EXPECT_EQ(server.Get("/v1/jobs/" + id).status, 401);

  // Probes, metrics and documents stay open.
  for (const char* path : {"/healthz", "/readyz", "/metrics", "/openapi.json", "/"}) {
    EXPECT_EQ(server.Get(path).status, 200) << path;
  }

  // The client sends GLMQ_API_KEY (or --api-key); without it, it shows the 401 and fails.
  const std::string status = " status " + id + " --server " + server.base_url();
  const auto [ok_code, ok_out] =
      RunCommand("GLMQ_API_KEY=" + std::string(kFileKey) + " " + GlmqBin() + status);
  EXPECT_EQ(ok_code, 0) << ok_out;
  EXPECT_NE(ok_out.find("\"succeeded\""), std::string::npos) << ok_out;
  const auto [bad_code, bad_out] = RunCommand("env -u GLMQ_API_KEY " + GlmqBin() + status);
  EXPECT_EQ(bad_code, 1) << bad_out;
  EXPECT_NE(bad_out.find("unauthorized"), std::string::npos) << bad_out;
}

// An open API is served on loopback only, unless the operator says --insecure.
TEST(AuthTest, WithoutKeysANonLoopbackAddressNeedsInsecure) {
  const std::string dir = ScratchDir("glmq-insecure");
  const std::string serve = GlmqBin() + " serve --model " + TestModelPath() +
                            " --host 0.0.0.0 --port 0 --data-dir " + dir;
  const auto [code, out] = RunCommand("timeout 60 " + serve);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("--insecure"), std::string::npos) << out;
  // With it, the server comes up (and is stopped at once).
  const auto [up_code, up_out] = RunCommand("timeout -s INT 5 " + serve + " --insecure");
  EXPECT_NE(up_out.find("http://0.0.0.0:"), std::string::npos) << up_out;
}

TEST(AuthTest, AMalformedKeyStopsTheServerAtStart) {
  Server server({"--api-key", "short"});
  EXPECT_FALSE(server.Start());
  EXPECT_NE(server.LogTail().find("API key must be"), std::string::npos) << server.LogTail();
}

}  // namespace
}  // namespace glmq::integration
