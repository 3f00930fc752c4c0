#include "alert/silences.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace glmq {
namespace {

using json = nlohmann::json;
constexpr TimeMs kNow = 1'800'000'000'000;

TEST(SilencesTest, ParsesAlertmanagerShape) {
  auto s = ParseSilence(json::parse(R"({"matchers":[{"name":"alertname","value":"queue_depth"},
      {"name":"class","value":"long|medium","isRegex":true,"isEqual":false}],
      "startsAt":"2027-01-15T08:00:00.500Z","endsAt":"2027-01-15T12:00:00+02:00",
      "createdBy":"ops","comment":"migration"})"),
                        kNow);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->matchers.size(), 2u);
  EXPECT_TRUE(s->matchers[1].is_regex);
  EXPECT_FALSE(s->matchers[1].is_equal);
  EXPECT_EQ(s->starts_at, 1'800'000'000'500);  // 2027-01-15T08:00:00.500Z
  EXPECT_EQ(s->ends_at, 1'800'007'200'000);    // 12:00 at +02:00 is 10:00Z
  EXPECT_EQ(s->created_by, "ops");
}

TEST(SilencesTest, RefusesBadBodies) {
  for (const char* body : {
           R"({"duration":60})",
           R"({"matchers":[],"duration":60})",
           R"({"matchers":[{"name":"a"}],"duration":60})",
           R"({"matchers":[{"name":"a","value":"("," isRegex":true}],"duration":60})",
           R"({"matchers":[{"name":"a","value":"b"}]})",
           R"({"matchers":[{"name":"a","value":"b"}],"endsAt":"yesterday"})",
           R"({"matchers":[{"name":"a","value":"b"}],"startsAt":100,"endsAt":50})",
           R"([1,2])",
       }) {
    auto s = ParseSilence(json::parse(body), kNow);
    if (std::string(body).find(" isRegex") != std::string::npos) {
      EXPECT_TRUE(s.ok()) << body;  // an unknown key is ignored, "(" is then a plain value
      continue;
    }
    EXPECT_FALSE(s.ok()) << body;
  }
  auto regex = ParseSilence(
      json::parse(R"({"matchers":[{"name":"a","value":"(","isRegex":true}],"duration":60})"), kNow);
  ASSERT_FALSE(regex.ok());
  EXPECT_NE(regex.status().message().find("regular expression"), std::string::npos);
}

TEST(SilencesTest, MatchesActiveSilencesAndSurvivesARestart) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("glmq-silences-" + std::to_string(::getpid()) + ".json"))
                               .string();
  std::filesystem::remove(path);
  std::string id;
  {
    Silences silences(FileSilenceStorage(path));
    ASSERT_TRUE(silences.Load().ok());
    auto s = ParseSilence(json::parse(R"({"matchers":[{"name":"class","value":"sh.*",
        "isRegex":true}],"duration":600})"),
                          kNow);
    ASSERT_TRUE(s.ok());
    auto added = silences.Add(*s);
    ASSERT_TRUE(added.ok());
    id = *added;
  }
  Silences reloaded(FileSilenceStorage(path));
  ASSERT_TRUE(reloaded.Load().ok());
  ASSERT_EQ(reloaded.List().size(), 1u);
  EXPECT_EQ(reloaded.List()[0].id, id);
  EXPECT_EQ(reloaded.Matching({{"class", "short"}}, kNow + 1000), std::vector<std::string>{id});
  EXPECT_TRUE(reloaded.Matching({{"class", "long"}}, kNow + 1000).empty());
  EXPECT_TRUE(reloaded.Matching({{"class", "short"}}, kNow - 1000).empty());     // not yet
  EXPECT_TRUE(reloaded.Matching({{"class", "short"}}, kNow + 601'000).empty());  // over
  ASSERT_TRUE(reloaded.Expire(id, kNow + 2000).ok());
  EXPECT_TRUE(reloaded.Matching({{"class", "short"}}, kNow + 3000).empty());
  EXPECT_EQ(reloaded.Expire("sil_nope", kNow).code(), StatusCode::kNotFound);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace glmq
