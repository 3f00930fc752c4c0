#include "alert/payloads.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>

#include "core/utf8.h"
#include "crypto/crypto.h"

namespace glmq {
namespace {

// Cuts well under the 20 KB request limits of the DingTalk and Feishu robots and Slack's
// attachment text limit, leaving room for the JSON around the text.
constexpr size_t kChatTextMaxBytes = 16000;
constexpr std::string_view kZeroTime = "0001-01-01T00:00:00Z";

std::tm UtcTime(TimeMs t) {
  std::time_t seconds = static_cast<std::time_t>(t >= 0 ? t / 1000 : (t - 999) / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return tm;
}

int FiringCount(const Notification& n) {
  return static_cast<int>(
      std::count_if(n.alerts.begin(), n.alerts.end(), [](const Alert& a) { return a.firing; }));
}

// The most severe level among the firing alerts, or among all when none fires.
AlertSeverity TopSeverity(const Notification& n) {
  bool any_firing = FiringCount(n) > 0;
  AlertSeverity top = AlertSeverity::kWarning;
  for (const Alert& a : n.alerts) {
    if ((a.firing || !any_firing) && a.severity == AlertSeverity::kCritical) top = a.severity;
  }
  return top;
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string Annotation(const Alert& a, const std::string& key) {
  auto it = a.annotations.find(key);
  return it == a.annotations.end() ? std::string() : it->second;
}

// The labels a reader has not already seen in the alert's heading.
std::string ExtraLabels(const Alert& a) {
  std::string out;
  for (const auto& [k, v] : a.labels) {
    if (k == "alertname" || k == "severity") continue;
    if (!out.empty()) out += ", ";
    out += k + "=" + v;
  }
  return out;
}

std::string EscapeSlack(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

template <typename Field>
std::map<std::string, std::string> Common(const Notification& n, Field field) {
  if (n.alerts.empty()) return {};
  std::map<std::string, std::string> common = field(n.alerts.front());
  for (const Alert& a : n.alerts) {
    const auto& m = field(a);
    for (auto it = common.begin(); it != common.end();) {
      auto found = m.find(it->first);
      it = (found == m.end() || found->second != it->second) ? common.erase(it) : std::next(it);
    }
  }
  return common;
}

void AppendAlert(const Alert& a, TextStyle style, std::string& out) {
  const std::string status = a.firing ? "FIRING" : "RESOLVED";
  const std::string severity = AlertSeverityName(a.severity);
  const std::string summary = Annotation(a, "summary");
  const std::string description = Annotation(a, "description");
  const std::string labels = ExtraLabels(a);
  std::string when = "since " + FormatRfc3339Millis(a.starts_at);
  if (!a.firing && a.ends_at != 0) when += ", resolved " + FormatRfc3339Millis(a.ends_at);
  const std::string measured =
      "value " + FormatNumber(a.value) + " (threshold " + FormatNumber(a.threshold) + ")";

  switch (style) {
    case TextStyle::kPlain:
      out += "[" + status + "] " + a.rule + " (" + severity + ")\n";
      if (!summary.empty()) out += "  " + summary + "\n";
      if (!description.empty()) out += "  " + description + "\n";
      if (!labels.empty()) out += "  labels: " + labels + "\n";
      out += "  " + measured + ", " + when + "\n";
      break;
    case TextStyle::kMarkdown:
      // DingTalk only breaks lines on a blank line; the others accept it too.
      out += "**[" + status + "] " + a.rule + "** (" + severity + ")\n\n";
      if (!summary.empty()) out += summary + "\n\n";
      if (!description.empty()) out += "> " + description + "\n\n";
      if (!labels.empty()) out += "labels: " + labels + "\n\n";
      out += measured + ", " + when + "\n\n";
      break;
    case TextStyle::kSlack:
      out += "*[" + status + "] " + EscapeSlack(a.rule) + "* (" + severity + ")\n";
      if (!summary.empty()) out += EscapeSlack(summary) + "\n";
      if (!description.empty()) out += "> " + EscapeSlack(description) + "\n";
      if (!labels.empty()) out += "labels: `" + EscapeSlack(labels) + "`\n";
      out += measured + ", " + when + "\n\n";
      break;
  }
}

std::string TruncatedNote(size_t max_bytes) {
  return "\n\n... (cut to " + std::to_string(max_bytes) +
         " bytes; every alert is in the webhook, " + "email and log channels)";
}

std::string OneLine(std::string_view text) {
  std::string out(text);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return out;
}

// RFC 2047 encoded-words for a header value that is not plain ASCII; each word stays under
// the 75-character limit and never splits a character.
std::string EncodeHeaderValue(std::string_view value) {
  bool ascii = std::all_of(value.begin(), value.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return std::string(value);
  std::string out;
  while (!value.empty()) {
    size_t take = std::min<size_t>(value.size(), 45);
    if (take < value.size()) take = std::max<size_t>(Utf8StablePrefix(value.substr(0, take)), 1);
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + Base64Encode(value.substr(0, take)) + "?=";
    value.remove_prefix(take);
  }
  return out;
}

// Quoted-printable (RFC 2045) with CRLF line ends: any byte and any line length survive
// every mail relay, while ASCII text stays readable.
std::string QuotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t line_len = 0;
  auto emit = [&](std::string_view piece) {
    if (line_len + piece.size() > 75) {
      out += "=\r\n";
      line_len = 0;
    }
    out += piece;
    line_len += piece.size();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\r\n";
      line_len = 0;
      continue;
    }
    if (c == '\r') continue;
    bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n' || text[i + 1] == '\r';
    bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    // A leading dot would read as SMTP's end of data to a careless relay.
    if (c == '.' && line_len == 0) literal = false;
    if (literal) {
      emit(text.substr(i, 1));
    } else {
      char enc[3] = {'=', kHex[c >> 4], kHex[c & 15]};
      emit(std::string_view(enc, 3));
    }
  }
  return out;
}

}  // namespace

std::string FormatRfc3339Millis(TimeMs t) {
  std::tm tm = UtcTime(t);
  int millis = static_cast<int>(((t % 1000) + 1000) % 1000);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string FormatRfc5322Date(TimeMs t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm = UtcTime(t);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string NotificationTitle(const Notification& n) {
  int firing = FiringCount(n);
  std::string title =
      firing > 0 ? "[FIRING:" + std::to_string(firing) + "] glmq " : "[RESOLVED] glmq ";
  if (n.merged_count > 1) {
    title += "digest of " + std::to_string(n.merged_count) + " notifications: ";
  }
  std::vector<std::string> rules;
  for (const Alert& a : n.alerts) {
    if (std::find(rules.begin(), rules.end(), a.rule) == rules.end()) rules.push_back(a.rule);
  }
  constexpr size_t kMaxRulesInTitle = 3;
  for (size_t i = 0; i < rules.size() && i < kMaxRulesInTitle; ++i) {
    title += (i ? ", " : "") + rules[i];
  }
  if (rules.size() > kMaxRulesInTitle) {
    title += " and " + std::to_string(rules.size() - kMaxRulesInTitle) + " more";
  }
  title += std::string(" (") + AlertSeverityName(TopSeverity(n)) + ")";
  return OneLine(title);
}

std::string NotificationText(const Notification& n, TextStyle style) {
  std::string title = NotificationTitle(n);
  std::string out;
  switch (style) {
    case TextStyle::kPlain:
      out = title + "\n\n";
      break;
    case TextStyle::kMarkdown:
      out = "### " + title + "\n\n";
      break;
    case TextStyle::kSlack:
      out = "*" + EscapeSlack(title) + "*\n";
      break;
  }
  if (n.merged_count > 1) {
    std::string note =
        "This digest merges " + std::to_string(n.merged_count) + " notifications (" +
        std::to_string(n.alerts.size()) +
        " alerts) that waited for this channel (its rate limit, or retries while it was down).";
    out += (style == TextStyle::kMarkdown ? "> " : "") + note + "\n\n";
  }
  for (const Alert& a : n.alerts) AppendAlert(a, style, out);
  if (!n.external_url.empty()) {
    switch (style) {
      case TextStyle::kPlain:
        out += "\nDashboard: " + n.external_url + "\n";
        break;
      case TextStyle::kMarkdown:
        out += "[Dashboard](" + n.external_url + ")\n";
        break;
      case TextStyle::kSlack:
        out += "<" + n.external_url + "|Dashboard>\n";
        break;
    }
  }
  return out;
}

nlohmann::json AlertmanagerPayload(const Notification& n) {
  nlohmann::json alerts = nlohmann::json::array();
  for (const Alert& a : n.alerts) {
    alerts.push_back({
        {"status", a.firing ? "firing" : "resolved"},
        {"labels", a.labels},
        {"annotations", a.annotations},
        {"startsAt", FormatRfc3339Millis(a.starts_at)},
        {"endsAt",
         a.firing || a.ends_at == 0 ? std::string(kZeroTime) : FormatRfc3339Millis(a.ends_at)},
        {"generatorURL", n.external_url},
        {"fingerprint", a.fingerprint},
    });
  }
  auto common_labels = Common(
      n, [](const Alert& a) -> const auto& { return a.labels; });
  std::map<std::string, std::string> group_labels;
  if (auto it = common_labels.find("alertname"); it != common_labels.end()) {
    group_labels.insert(*it);
  }
  return {
      {"version", "4"},
      {"groupKey", n.group_key},
      {"truncatedAlerts", 0},
      {"status", FiringCount(n) > 0 ? "firing" : "resolved"},
      {"receiver", n.receiver},
      {"groupLabels", group_labels},
      {"commonLabels", common_labels},
      {"commonAnnotations", Common(
                                n, [](const Alert& a) -> const auto& { return a.annotations; })},
      {"externalURL", n.external_url},
      {"alerts", std::move(alerts)},
  };
}

nlohmann::json SlackPayload(const Notification& n) {
  std::string color = "#2EB67D";  // resolved: green
  if (FiringCount(n) > 0) {
    color = TopSeverity(n) == AlertSeverity::kCritical ? "#E01E5A" : "#ECB22E";
  }
  std::string title = NotificationTitle(n);
  std::string text = TruncateUtf8(NotificationText(n, TextStyle::kSlack), kChatTextMaxBytes,
                                  TruncatedNote(kChatTextMaxBytes));
  return {
      {"text", EscapeSlack(title)},
      {"attachments", nlohmann::json::array({{{"color", color},
                                              {"fallback", title},
                                              {"text", std::move(text)},
                                              {"mrkdwn_in", nlohmann::json::array({"text"})},
                                              {"footer", "glmq"}}})},
  };
}

nlohmann::json DingTalkPayload(const Notification& n) {
  return {{"msgtype", "markdown"},
          {"markdown",
           {{"title", NotificationTitle(n)},
            {"text", TruncateUtf8(NotificationText(n, TextStyle::kMarkdown), kChatTextMaxBytes,
                                  TruncatedNote(kChatTextMaxBytes))}}}};
}

std::string DingTalkSign(std::string_view secret, int64_t timestamp_ms) {
  std::string message = std::to_string(timestamp_ms) + "\n" + std::string(secret);
  return UrlEncode(Base64Encode(HmacSha256(secret, message)));
}

std::string DingTalkSignedUrl(std::string_view url, std::string_view secret, int64_t timestamp_ms) {
  std::string out(url);
  out += url.find('?') == std::string_view::npos ? '?' : '&';
  out +=
      "timestamp=" + std::to_string(timestamp_ms) + "&sign=" + DingTalkSign(secret, timestamp_ms);
  return out;
}

nlohmann::json WeComPayload(const Notification& n) {
  return {
      {"msgtype", "markdown"},
      {"markdown",
       {{"content", TruncateUtf8(NotificationText(n, TextStyle::kMarkdown), kWeComMarkdownMaxBytes,
                                 TruncatedNote(kWeComMarkdownMaxBytes))}}}};
}

std::string FeishuSign(std::string_view secret, int64_t timestamp_s) {
  std::string key = std::to_string(timestamp_s) + "\n" + std::string(secret);
  return Base64Encode(HmacSha256(key, ""));
}

nlohmann::json FeishuPayload(const Notification& n, std::string_view secret, int64_t timestamp_s) {
  std::string color = "green";
  if (FiringCount(n) > 0) color = TopSeverity(n) == AlertSeverity::kCritical ? "red" : "orange";
  nlohmann::json card = {
      {"config", {{"wide_screen_mode", true}}},
      {"header",
       {{"title", {{"tag", "plain_text"}, {"content", NotificationTitle(n)}}},
        {"template", color}}},
      {"elements",
       nlohmann::json::array(
           {{{"tag", "div"},
             {"text",
              {{"tag", "lark_md"},
               {"content", TruncateUtf8(NotificationText(n, TextStyle::kMarkdown),
                                        kChatTextMaxBytes, TruncatedNote(kChatTextMaxBytes))}}}}})},
  };
  nlohmann::json body = {{"msg_type", "interactive"}, {"card", std::move(card)}};
  if (!secret.empty()) {
    body["timestamp"] = std::to_string(timestamp_s);
    body["sign"] = FeishuSign(secret, timestamp_s);
  }
  return body;
}

std::string EmailMessage(const Notification& n, std::string_view from,
                         const std::vector<std::string>& to, TimeMs date,
                         std::string_view message_id) {
  std::string to_header;
  size_t line_len = 4;  // "To: "
  for (size_t i = 0; i < to.size(); ++i) {
    std::string address = OneLine(to[i]);
    if (i > 0) {
      to_header += ",";
      // Fold long recipient lists: a header line must stay under 998 bytes.
      if (line_len + address.size() + 2 > 76) {
        to_header += "\r\n ";
        line_len = 1;
      } else {
        to_header += " ";
        line_len += 2;
      }
    }
    to_header += address;
    line_len += address.size();
  }
  std::string message;
  message += "From: " + OneLine(from) + "\r\n";
  message += "To: " + to_header + "\r\n";
  message += "Subject: " + EncodeHeaderValue(NotificationTitle(n)) + "\r\n";
  message += "Date: " + FormatRfc5322Date(date) + "\r\n";
  message += "Message-ID: " + OneLine(message_id) + "\r\n";
  message += "MIME-Version: 1.0\r\n";
  message += "Content-Type: text/plain; charset=UTF-8\r\n";
  message += "Content-Transfer-Encoding: quoted-printable\r\n";
  if (!n.group_key.empty()) message += "X-Glmq-Group-Key: " + OneLine(n.group_key) + "\r\n";
  message += "\r\n";
  message += QuotedPrintable(NotificationText(n, TextStyle::kPlain));
  if (message.size() < 2 || message.compare(message.size() - 2, 2, "\r\n") != 0) message += "\r\n";
  return message;
}

Notification MergeNotifications(const std::vector<Notification>& notifications) {
  Notification out;
  out.merged_count = 0;
  bool same_group = true;
  for (const Notification& n : notifications) {
    out.alerts.insert(out.alerts.end(), n.alerts.begin(), n.alerts.end());
    out.merged_count += n.merged_count;
    if (out.external_url.empty()) out.external_url = n.external_url;
    if (out.receiver.empty()) out.receiver = n.receiver;
    same_group = same_group && n.group_key == notifications.front().group_key;
  }
  if (!notifications.empty()) {
    out.group_key = same_group ? notifications.front().group_key : "glmq/digest";
  }
  return out;
}

std::string TruncateUtf8(std::string_view text, size_t max_bytes, std::string_view note) {
  if (text.size() <= max_bytes) return std::string(text);
  if (note.size() >= max_bytes) {
    return std::string(note.substr(0, Utf8StablePrefix(note.substr(0, max_bytes))));
  }
  std::string_view head = text.substr(0, max_bytes - note.size());
  std::string out(head.substr(0, Utf8StablePrefix(head)));
  out += note;
  return out;
}

}  // namespace glmq
