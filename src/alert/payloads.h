// The bodies each notifier sends, built from a Notification: pure functions, no I/O.
//
// Every format lists every alert of the notification (a digest included); only the chat
// robots with a hard size limit cut the text, on a UTF-8 boundary and saying so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "alert/alert.h"

namespace glmq {

// WeCom rejects markdown content over 4096 bytes.
inline constexpr size_t kWeComMarkdownMaxBytes = 4096;

// "2024-05-01T12:00:00.123Z".
std::string FormatRfc3339Millis(TimeMs t);
// "Wed, 01 May 2024 12:00:00 +0000", as an email's Date header wants it.
std::string FormatRfc5322Date(TimeMs t);

// One line that says what a notification is about, e.g. "[FIRING:2] glmq queue_depth
// (critical)" or "[RESOLVED] glmq queue_depth (warning)"; a digest says how many it merges.
std::string NotificationTitle(const Notification& n);

enum class TextStyle {
  kPlain,     // email, log
  kMarkdown,  // DingTalk, WeCom, Feishu (lark_md)
  kSlack,     // Slack mrkdwn, with &, < and > escaped
};
// The human-readable body: the title, a digest note where it applies, then every alert.
std::string NotificationText(const Notification& n, TextStyle style);

// Alertmanager's webhook payload, version "4", so that any Alertmanager receiver can read it.
nlohmann::json AlertmanagerPayload(const Notification& n);

// Slack incoming webhook: `text` for previews, one attachment coloured by severity (green
// once everything resolved).
nlohmann::json SlackPayload(const Notification& n);

// DingTalk robot: {msgtype: "markdown", markdown: {title, text}}.
nlohmann::json DingTalkPayload(const Notification& n);
// URL-encoded Base64(HMAC-SHA256(key = secret, msg = timestamp_ms + "\n" + secret)).
std::string DingTalkSign(std::string_view secret, int64_t timestamp_ms);
// `url` with &timestamp=...&sign=... appended (`?` if it has no query yet).
std::string DingTalkSignedUrl(std::string_view url, std::string_view secret, int64_t timestamp_ms);

// WeCom group robot: {msgtype: "markdown", markdown: {content}}, content cut to 4096 bytes.
nlohmann::json WeComPayload(const Notification& n);

// Base64(HMAC-SHA256(key = timestamp_s + "\n" + secret, msg = "")).
std::string FeishuSign(std::string_view secret, int64_t timestamp_s);
// Feishu bot: an interactive card; `timestamp` and `sign` only when `secret` is set.
nlohmann::json FeishuPayload(const Notification& n, std::string_view secret, int64_t timestamp_s);

// A complete RFC 5322 message (CRLF line ends, text/plain UTF-8, quoted-printable), ready for
// SMTP DATA. `from` and `to` are addresses as configured ("Name <a@b>" or "a@b").
std::string EmailMessage(const Notification& n, std::string_view from,
                         const std::vector<std::string>& to, TimeMs date,
                         std::string_view message_id);

// One notification that holds every alert of `notifications`, in order, with merged_count
// the sum of theirs. Used for a channel's rate-limit overflow: nothing is dropped.
Notification MergeNotifications(const std::vector<Notification>& notifications);

// `text` if it fits in `max_bytes`; otherwise its longest prefix that ends on a character
// boundary and leaves room for `note`, followed by `note`.
std::string TruncateUtf8(std::string_view text, size_t max_bytes, std::string_view note);

}  // namespace glmq
