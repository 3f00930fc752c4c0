// Notifiers: one configured channel each (log, Alertmanager-compatible webhook, Slack,
// DingTalk, WeCom, Feishu, email), sending one Notification per call.
//
// Send blocks for up to the channel's timeout; the dispatcher (alert/dispatcher.h) calls it
// from the channel's own sender thread, never from the evaluator's.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "alert/alert.h"
#include "alert/transport.h"
#include "core/status.h"

namespace glmq {

// At most `max_messages` sends in any window of `per_seconds`.
struct RateLimit {
  int max_messages = 0;
  double per_seconds = 0;
};

struct ChannelConfig {
  std::string name;  // unique; the `receiver` of its notifications and its metrics label
  std::string type;  // log | webhook | slack | dingtalk | wecom | feishu | email
  std::string url;   // the webhook or robot URL (all but log and email)
  // dingtalk, feishu: the signing secret (optional: robots may be keyword-protected instead);
  // webhook: sent as "Authorization: Bearer <secret>" when set.
  std::string secret;
  // email:
  std::string smtp_url;  // smtp://host:587 (STARTTLS) or smtps://host:465
  std::string username;  // empty: no SMTP AUTH
  std::string password;
  std::string from;             // "glmq <alerts@example.com>" or "alerts@example.com"
  std::vector<std::string> to;  // one or more addresses
  bool starttls = true;         // smtp:// only: refuse to send unless the server upgrades
  double timeout_seconds = 10;  // per send attempt
  // Unset: the type's defaults (dispatcher.h, DefaultRateLimits); empty: unlimited.
  std::optional<std::vector<RateLimit>> rate_limits;
};

// Every problem a channel's configuration can have, as InvalidArgument naming the channel and
// the field, e.g. `alert channel "ops": url must start with http:// or https://`.
Status ValidateChannelConfig(const ChannelConfig& config);

class Notifier {
 public:
  Notifier(std::string name, std::string type);
  virtual ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  virtual const std::string& name() const;
  virtual const std::string& type() const;

  // Delivers `n` (its `receiver` is replaced by this channel's name). kInvalidArgument means
  // the peer refused the request as such and a retry cannot help; any other error may pass.
  virtual Status Send(const Notification& n) = 0;

 private:
  std::string name_;
  std::string type_;
};

// What notifiers use from outside, replaceable in tests.
struct NotifierDeps {
  std::shared_ptr<HttpTransport> http;  // null: libcurl
  std::shared_ptr<MailTransport> mail;  // null: libcurl
  std::function<TimeMs()> wall_clock;   // null: NowMs; for signatures and the email Date
};

// Validates `config` and builds its notifier.
Result<std::unique_ptr<Notifier>> MakeNotifier(const ChannelConfig& config, NotifierDeps deps = {});

}  // namespace glmq
