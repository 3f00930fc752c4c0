#include "alert/payloads.h"

#include <gtest/gtest.h>

#include "core/utf8.h"

namespace glmq {
namespace {

// 2024-05-01T12:00:00.123Z
constexpr TimeMs kStart = 1714564800123;

Alert MakeAlert(std::string rule, AlertSeverity severity, bool firing = true) {
  Alert a;
  a.rule = rule;
  a.severity = severity;
  a.firing = firing;
  a.labels = {{"alertname", rule}, {"severity", AlertSeverityName(severity)}, {"class", "long"}};
  a.annotations = {{"summary", rule + " is high"}, {"description", "measured 120, threshold 100"}};
  a.value = 120;
  a.threshold = 100;
  a.starts_at = kStart;
  a.ends_at = firing ? 0 : kStart + 60000;
  a.fingerprint = "0123456789abcdef";
  return a;
}

Notification TwoFiring() {
  Notification n;
  n.alerts = {MakeAlert("queue_depth", AlertSeverity::kCritical),
              MakeAlert("queue_depth", AlertSeverity::kWarning)};
  n.alerts[1].labels["class"] = "short";
  n.group_key = "glmq/queue_depth";
  n.external_url = "http://glmq.example:8080/";
  n.receiver = "ops";
  return n;
}

// Undoes quoted-printable so that tests can read an email's body.
std::string DecodeQuotedPrintable(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '=' && i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
      i += 2;
    } else if (in[i] == '=' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

TEST(PayloadsTest, DingTalkSignatureMatchesTheKnownVector) {
  EXPECT_EQ(DingTalkSign("this is secret", 1599360473000),
            "hXZTWifRGHclNuZSKxoXc%2F%2Fsh51SWfVfRIhcdeKs63I%3D");
  EXPECT_EQ(DingTalkSignedUrl("https://oapi.dingtalk.com/robot/send?access_token=t",
                              "this is secret", 1599360473000),
            "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1599360473000"
            "&sign=hXZTWifRGHclNuZSKxoXc%2F%2Fsh51SWfVfRIhcdeKs63I%3D");
  EXPECT_EQ(DingTalkSignedUrl("http://h/x", "s", 5).substr(0, 23), "http://h/x?timestamp=5&");
}

TEST(PayloadsTest, FeishuSignatureMatchesTheKnownVector) {
  EXPECT_EQ(FeishuSign("this is secret", 1599360473),
            "/eYKrXQBzTjUZJ3s6NX16VxGbTwmK7AEs8/FnvC1CSw=");
}

TEST(PayloadsTest, TimesAreUtc) {
  EXPECT_EQ(FormatRfc3339Millis(kStart), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc5322Date(kStart), "Wed, 01 May 2024 12:00:00 +0000");
}

TEST(PayloadsTest, TitleCountsFiringAlertsAndNamesTheTopSeverity) {
  Notification n = TwoFiring();
  EXPECT_EQ(NotificationTitle(n), "[FIRING:2] glmq queue_depth (critical)");
  n.alerts[0].firing = false;
  EXPECT_EQ(NotificationTitle(n), "[FIRING:1] glmq queue_depth (warning)");
  n.alerts[1].firing = false;
  EXPECT_EQ(NotificationTitle(n), "[RESOLVED] glmq queue_depth (critical)");
}

TEST(PayloadsTest, AlertmanagerPayloadHasVersion4Shape) {
  Notification n = TwoFiring();
  n.alerts[1].firing = false;
  n.alerts[1].ends_at = kStart + 1000;
  nlohmann::json j = nlohmann::json::parse(AlertmanagerPayload(n).dump());
  EXPECT_EQ(j["version"], "4");
  EXPECT_EQ(j["groupKey"], "glmq/queue_depth");
  EXPECT_EQ(j["truncatedAlerts"], 0);
  EXPECT_EQ(j["status"], "firing");
  EXPECT_EQ(j["receiver"], "ops");
  EXPECT_EQ(j["externalURL"], "http://glmq.example:8080/");
  EXPECT_EQ(j["groupLabels"], nlohmann::json({{"alertname", "queue_depth"}}));
  // class and severity differ between the two alerts.
  EXPECT_EQ(j["commonLabels"], nlohmann::json({{"alertname", "queue_depth"}}));
  EXPECT_EQ(j["commonAnnotations"]["description"], "measured 120, threshold 100");
  ASSERT_EQ(j["alerts"].size(), 2u);
  const auto& firing = j["alerts"][0];
  EXPECT_EQ(firing["status"], "firing");
  EXPECT_EQ(firing["labels"]["class"], "long");
  EXPECT_EQ(firing["annotations"]["summary"], "queue_depth is high");
  EXPECT_EQ(firing["startsAt"], "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(firing["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(firing["generatorURL"], "http://glmq.example:8080/");
  EXPECT_EQ(firing["fingerprint"], "0123456789abcdef");
  EXPECT_EQ(j["alerts"][1]["status"], "resolved");
  EXPECT_EQ(j["alerts"][1]["endsAt"], "2024-05-01T12:00:01.123Z");

  n.alerts[0].firing = false;
  EXPECT_EQ(AlertmanagerPayload(n)["status"], "resolved");
}

TEST(PayloadsTest, SlackIsColouredBySeverityAndGreenWhenResolved) {
  Notification n = TwoFiring();
  n.alerts[0].annotations["summary"] = "a <b> & c";
  nlohmann::json j = SlackPayload(n);
  EXPECT_EQ(j["text"], "[FIRING:2] glmq queue_depth (critical)");
  ASSERT_EQ(j["attachments"].size(), 1u);
  EXPECT_EQ(j["attachments"][0]["color"], "#E01E5A");
  std::string text = j["attachments"][0]["text"];
  EXPECT_NE(text.find("a &lt;b&gt; &amp; c"), std::string::npos) << text;
  EXPECT_NE(text.find("class=short"), std::string::npos);

  n.alerts.erase(n.alerts.begin());
  EXPECT_EQ(SlackPayload(n)["attachments"][0]["color"], "#ECB22E");
  n.alerts[0].firing = false;
  EXPECT_EQ(SlackPayload(n)["attachments"][0]["color"], "#2EB67D");
}

TEST(PayloadsTest, DingTalkIsMarkdown) {
  nlohmann::json j = DingTalkPayload(TwoFiring());
  EXPECT_EQ(j["msgtype"], "markdown");
  EXPECT_EQ(j["markdown"]["title"], "[FIRING:2] glmq queue_depth (critical)");
  std::string text = j["markdown"]["text"];
  EXPECT_EQ(text.rfind("### [FIRING:2]", 0), 0u);
  EXPECT_NE(text.find("**[FIRING] queue_depth** (critical)"), std::string::npos);
  EXPECT_NE(text.find("[Dashboard](http://glmq.example:8080/)"), std::string::npos);
}

TEST(PayloadsTest, FeishuCardIsSignedOnlyWithASecret) {
  nlohmann::json j = FeishuPayload(TwoFiring(), "this is secret", 1599360473);
  EXPECT_EQ(j["msg_type"], "interactive");
  EXPECT_EQ(j["timestamp"], "1599360473");
  EXPECT_EQ(j["sign"], "/eYKrXQBzTjUZJ3s6NX16VxGbTwmK7AEs8/FnvC1CSw=");
  EXPECT_EQ(j["card"]["header"]["template"], "red");
  EXPECT_EQ(j["card"]["header"]["title"]["content"], "[FIRING:2] glmq queue_depth (critical)");
  EXPECT_NE(j["card"]["elements"][0]["text"]["content"].get<std::string>().find("class=long"),
            std::string::npos);
  nlohmann::json unsigned_body = FeishuPayload(TwoFiring(), "", 1599360473);
  EXPECT_FALSE(unsigned_body.contains("sign"));
  EXPECT_FALSE(unsigned_body.contains("timestamp"));
}

TEST(PayloadsTest, TruncateUtf8CutsOnACharacterBoundary) {
  const std::string ni = "\xE4\xBD\xA0";  // 3 bytes
  std::string text;
  for (int i = 0; i < 10; ++i) text += ni;
  EXPECT_EQ(TruncateUtf8(text, 30, "!"), text);
  // 8 bytes for text leaves two whole characters (6 bytes), never a split one.
  std::string cut = TruncateUtf8(text, 10, "..");
  EXPECT_EQ(cut, ni + ni + "..");
  for (size_t max = 3; max < 30; ++max) {
    std::string t = TruncateUtf8(text, max, "~");
    EXPECT_LE(t.size(), max);
    EXPECT_TRUE(IsValidUtf8(t)) << max;
    EXPECT_EQ(t.back(), '~');
  }
}

TEST(PayloadsTest, WeComContentStaysUnder4096BytesOnACharacterBoundary) {
  Notification n = TwoFiring();
  std::string long_text;
  for (int i = 0; i < 3000; ++i) long_text += "\xE9\x98\x9F";  // 队, 9000 bytes
  n.alerts[0].annotations["description"] = long_text;
  nlohmann::json j = WeComPayload(n);
  EXPECT_EQ(j["msgtype"], "markdown");
  std::string content = j["markdown"]["content"];
  EXPECT_LE(content.size(), kWeComMarkdownMaxBytes);
  EXPECT_GT(content.size(), kWeComMarkdownMaxBytes - 100);
  EXPECT_TRUE(IsValidUtf8(content));
  EXPECT_NE(content.find("cut to 4096 bytes"), std::string::npos);
  // A short one is left whole.
  std::string whole = WeComPayload(TwoFiring())["markdown"]["content"];
  EXPECT_EQ(whole, NotificationText(TwoFiring(), TextStyle::kMarkdown));
}

TEST(PayloadsTest, EmailHasHeadersCrlfAndQuotedPrintableBody) {
  Notification n = TwoFiring();
  n.alerts[0].annotations["summary"] = "queue é " + std::string(120, 'x');
  std::string mail =
      EmailMessage(n, "glmq <alerts@example.com>", {"a@example.com", "B <b@example.com>"}, kStart,
                   "<1.abc@example.com>");
  size_t split = mail.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos);
  std::string headers = mail.substr(0, split + 2);
  std::string body = mail.substr(split + 4);
  EXPECT_NE(headers.find("From: glmq <alerts@example.com>\r\n"), std::string::npos);
  EXPECT_NE(headers.find("To: a@example.com, B <b@example.com>\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Subject: [FIRING:2] glmq queue_depth (critical)\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Date: Wed, 01 May 2024 12:00:00 +0000\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Message-ID: <1.abc@example.com>\r\n"), std::string::npos);
  EXPECT_NE(headers.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Content-Type: text/plain; charset=UTF-8\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Content-Transfer-Encoding: quoted-printable\r\n"), std::string::npos);
  // Every line ends in CRLF and fits in 78 characters.
  size_t start = 0;
  while (start < mail.size()) {
    size_t end = mail.find("\r\n", start);
    ASSERT_NE(end, std::string::npos) << "unterminated line at " << start;
    EXPECT_LE(end - start, 78u) << mail.substr(start, end - start);
    EXPECT_EQ(mail.substr(start, end - start).find('\n'), std::string::npos);
    start = end + 2;
  }
  std::string decoded = DecodeQuotedPrintable(body);
  EXPECT_NE(decoded.find("queue é " + std::string(120, 'x')), std::string::npos) << decoded;
  EXPECT_NE(decoded.find("labels: class=short"), std::string::npos);
  EXPECT_NE(decoded.find("Dashboard: http://glmq.example:8080/"), std::string::npos);
}

TEST(PayloadsTest, EmailSubjectOutsideAsciiIsEncoded) {
  Notification n = TwoFiring();
  for (Alert& a : n.alerts) a.rule = "队列深度";
  std::string mail = EmailMessage(n, "a@b.c", {"d@e.f"}, kStart, "<x@b.c>");
  size_t subject = mail.find("Subject: ");
  std::string line = mail.substr(subject, mail.find("\r\n", subject) - subject);
  EXPECT_EQ(line.rfind("Subject: =?UTF-8?B?", 0), 0u) << line;
  for (char c : mail.substr(0, mail.find("\r\n\r\n"))) {
    EXPECT_LT(static_cast<unsigned char>(c), 0x80);
  }
}

TEST(PayloadsTest, DigestKeepsEveryAlertAndSaysHowManyItMerges) {
  std::vector<Notification> parts;
  for (int i = 0; i < 5; ++i) {
    Notification n = TwoFiring();
    n.group_key = "glmq/rule" + std::to_string(i % 2);
    for (Alert& a : n.alerts) a.labels["n"] = std::to_string(i);
    parts.push_back(n);
  }
  Notification digest = MergeNotifications(parts);
  EXPECT_EQ(digest.merged_count, 5);
  ASSERT_EQ(digest.alerts.size(), 10u);
  EXPECT_EQ(digest.alerts[9].labels["n"], "4");
  EXPECT_EQ(digest.group_key, "glmq/digest");
  EXPECT_EQ(digest.receiver, "ops");
  EXPECT_EQ(NotificationTitle(digest),
            "[FIRING:10] glmq digest of 5 notifications: queue_depth (critical)");
  std::string text = NotificationText(digest, TextStyle::kPlain);
  EXPECT_NE(text.find("merges 5 notifications (10 alerts)"), std::string::npos) << text;
  nlohmann::json am = AlertmanagerPayload(digest);
  EXPECT_EQ(am["alerts"].size(), 10u);

  // A digest of a digest counts its originals.
  EXPECT_EQ(MergeNotifications({digest, TwoFiring()}).merged_count, 6);
  parts.resize(2);
  parts[1].group_key = parts[0].group_key;
  EXPECT_EQ(MergeNotifications(parts).group_key, parts[0].group_key);
}

}  // namespace
}  // namespace glmq
