#include "alert/notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string_view>

#include "alert/payloads.h"
#include "core/utf8.h"

namespace glmq {
namespace {

constexpr std::string_view kTypes[] = {"log",   "webhook", "slack", "dingtalk",
                                       "wecom", "feishu",  "email"};
constexpr double kMaxTimeoutSeconds = 300;
constexpr size_t kErrorBodyBytes = 200;

bool IsHttpType(std::string_view type) {
  return type == "webhook" || type == "slack" || type == "dingtalk" || type == "wecom" ||
         type == "feishu";
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool HasControlOrSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F; });
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// "Name <a@b>" -> "a@b"; a bare address comes back as it is.
std::string BareAddress(std::string_view address) {
  size_t open = address.rfind('<');
  size_t close = address.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    address = address.substr(open + 1, close - open - 1);
  }
  while (!address.empty() && address.front() == ' ') address.remove_prefix(1);
  while (!address.empty() && address.back() == ' ') address.remove_suffix(1);
  return std::string(address);
}

bool LooksLikeAddress(std::string_view address) {
  std::string bare = BareAddress(address);
  size_t at = bare.find('@');
  return !HasLineBreak(address) && at != std::string::npos && at > 0 && at + 1 < bare.size() &&
         !HasControlOrSpace(bare) && bare.find('@', at + 1) == std::string::npos;
}

Status Invalid(const ChannelConfig& c, const std::string& problem) {
  return InvalidArgument("alert channel \"" + c.name + "\": " + problem);
}

std::string Snippet(std::string_view body) {
  return TruncateUtf8(SanitizeUtf8(body), kErrorBodyBytes, "...");
}

std::string Dump(const nlohmann::json& j) {
  // Annotations may carry text from anywhere; never throw on broken UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class LogNotifier : public Notifier {
 public:
  using Notifier::Notifier;

  Status Send(const Notification& n) override {
    std::string digest =
        n.merged_count > 1 ? " digest_of=" + std::to_string(n.merged_count) : std::string();
    for (const Alert& a : n.alerts) {
      std::string labels;
      for (const auto& [k, v] : a.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
      auto summary = a.annotations.find("summary");
      auto level = a.firing ? spdlog::level::warn : spdlog::level::info;
      spdlog::log(level,
                  "alert {} channel={} rule={} severity={} value={} threshold={} labels={{{}}}{} "
                  "summary=\"{}\"",
                  a.firing ? "firing" : "resolved", name(), a.rule, AlertSeverityName(a.severity),
                  a.value, a.threshold, labels, digest,
                  summary == a.annotations.end() ? "" : summary->second);
    }
    return Status::Ok();
  }
};

class HttpNotifier : public Notifier {
 public:
  HttpNotifier(const ChannelConfig& config, NotifierDeps deps)
      : Notifier(config.name, config.type), config_(config), deps_(std::move(deps)) {}

  Status Send(const Notification& original) override {
    Notification n = original;
    n.receiver = name();
    HttpPostRequest request;
    request.url = config_.url;
    request.timeout_seconds = config_.timeout_seconds;
    request.headers.push_back("Content-Type: application/json; charset=utf-8");
    const std::string& t = type();
    if (t == "webhook") {
      request.body = Dump(AlertmanagerPayload(n));
      if (!config_.secret.empty()) {
        request.headers.push_back("Authorization: Bearer " + config_.secret);
      }
    } else if (t == "slack") {
      request.body = Dump(SlackPayload(n));
    } else if (t == "dingtalk") {
      request.body = Dump(DingTalkPayload(n));
      if (!config_.secret.empty()) {
        request.url = DingTalkSignedUrl(config_.url, config_.secret, deps_.wall_clock());
      }
    } else if (t == "wecom") {
      request.body = Dump(WeComPayload(n));
    } else {  // feishu
      request.body = Dump(FeishuPayload(n, config_.secret, deps_.wall_clock() / 1000));
    }
    Result<HttpPostResponse> response = deps_.http->Post(request);
    if (!response.ok()) return Prefixed(response.status());
    return CheckResponse(*response);
  }

 private:
  Status Prefixed(const Status& s) const {
    return Status(s.code(), "alert channel \"" + name() + "\" (" + type() + "): " + s.message());
  }

  Status CheckResponse(const HttpPostResponse& r) const {
    if (r.status < 200 || r.status >= 300) {
      std::string message = "HTTP " + std::to_string(r.status) + ": " + Snippet(r.body);
      // Other 4xx answers refuse the request itself (a revoked token, a bad payload).
      bool permanent = r.status >= 400 && r.status < 500 && r.status != 408 && r.status != 429;
      return Prefixed(permanent ? InvalidArgument(message) : Unavailable(message));
    }
    const std::string& t = type();
    if (t != "dingtalk" && t != "wecom" && t != "feishu") return Status::Ok();
    // These robots answer 200 and report failure in the body.
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) {
      return Prefixed(Unavailable("unexpected answer: " + Snippet(r.body)));
    }
    for (const char* key : {"errcode", "code", "StatusCode"}) {
      auto it = body.find(key);
      if (it == body.end()) continue;
      if (it->is_number_integer() && it->get<int64_t>() == 0) return Status::Ok();
      return Prefixed(Unavailable(std::string(key) + " " + it->dump() + ": " + Snippet(r.body)));
    }
    return Prefixed(Unavailable("answer has no status code: " + Snippet(r.body)));
  }

  ChannelConfig config_;
  NotifierDeps deps_;
};

class EmailNotifier : public Notifier {
 public:
  EmailNotifier(const ChannelConfig& config, NotifierDeps deps)
      : Notifier(config.name, config.type), config_(config), deps_(std::move(deps)) {}

  Status Send(const Notification& original) override {
    Notification n = original;
    n.receiver = name();
    TimeMs now = deps_.wall_clock();
    MailRequest request;
    request.smtp_url = config_.smtp_url;
    request.username = config_.username;
    request.password = config_.password;
    request.mail_from = BareAddress(config_.from);
    for (const std::string& to : config_.to) request.recipients.push_back(BareAddress(to));
    request.require_tls = config_.starttls || StartsWith(config_.smtp_url, "smtps://");
    request.timeout_seconds = config_.timeout_seconds;
    request.message = EmailMessage(n, config_.from, config_.to, now, MessageId(now));
    Status s = deps_.mail->Send(request);
    if (s.ok()) return s;
    return Status(s.code(), "alert channel \"" + name() + "\" (email): " + s.message());
  }

 private:
  std::string MessageId(TimeMs now) const {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string from = BareAddress(config_.from);
    char random[17];
    std::snprintf(random, sizeof(random), "%016llx", static_cast<unsigned long long>(rng()));
    return "<" + std::to_string(now) + "." + random + from.substr(from.find('@')) + ">";
  }

  ChannelConfig config_;
  NotifierDeps deps_;
};

}  // namespace

Status ValidateChannelConfig(const ChannelConfig& c) {
  if (c.name.empty()) {
    return InvalidArgument("alert channel of type \"" + c.type + "\": name is required");
  }
  if (HasControlOrSpace(c.name))
    return Invalid(c, "name must not contain spaces or control characters");
  if (std::find(std::begin(kTypes), std::end(kTypes), c.type) == std::end(kTypes)) {
    return Invalid(c, "type \"" + c.type +
                          "\" is not one of log, webhook, slack, dingtalk, wecom, feishu, email");
  }
  if (!std::isfinite(c.timeout_seconds) || c.timeout_seconds <= 0 ||
      c.timeout_seconds > kMaxTimeoutSeconds) {
    return Invalid(c, "timeout_seconds must be in (0, 300]");
  }
  if (c.rate_limits) {
    for (const RateLimit& r : *c.rate_limits) {
      if (r.max_messages < 1 || !std::isfinite(r.per_seconds) || r.per_seconds <= 0) {
        return Invalid(c, "rate_limits: each needs max_messages >= 1 and per_seconds > 0");
      }
    }
  }
  const bool http = IsHttpType(c.type);
  const bool email = c.type == "email";
  // A field that the type ignores is most likely a mistake in the configuration.
  if (!http && !c.url.empty()) return Invalid(c, "url does not apply to type " + c.type);
  if (!c.secret.empty() && (c.type == "log" || c.type == "slack" || c.type == "wecom" || email)) {
    return Invalid(c, "secret does not apply to type " + c.type +
                          " (a Slack or WeCom webhook URL carries its own key)");
  }
  if (!email) {
    for (auto [field, value] : {std::pair<const char*, const std::string*>{"smtp_url", &c.smtp_url},
                                {"username", &c.username},
                                {"password", &c.password},
                                {"from", &c.from}}) {
      if (!value->empty()) return Invalid(c, std::string(field) + " applies to type email only");
    }
    if (!c.to.empty()) return Invalid(c, "to applies to type email only");
  }
  if (http) {
    if (c.url.empty()) return Invalid(c, "url is required for type " + c.type);
    if (!StartsWith(c.url, "http://") && !StartsWith(c.url, "https://")) {
      return Invalid(c, "url must start with http:// or https://");
    }
    if (HasControlOrSpace(c.url)) return Invalid(c, "url must not contain spaces");
    if (HasLineBreak(c.secret)) return Invalid(c, "secret must not contain line breaks");
  }
  if (email) {
    if (c.smtp_url.empty()) return Invalid(c, "smtp_url is required for type email");
    if (!StartsWith(c.smtp_url, "smtp://") && !StartsWith(c.smtp_url, "smtps://")) {
      return Invalid(c, "smtp_url must start with smtp:// or smtps://");
    }
    if (HasControlOrSpace(c.smtp_url)) return Invalid(c, "smtp_url must not contain spaces");
    if (c.from.empty()) return Invalid(c, "from is required for type email");
    if (!LooksLikeAddress(c.from)) return Invalid(c, "from \"" + c.from + "\" is not an address");
    if (c.to.empty()) return Invalid(c, "to needs at least one address");
    for (const std::string& to : c.to) {
      if (!LooksLikeAddress(to)) return Invalid(c, "to \"" + to + "\" is not an address");
    }
    if (!c.password.empty() && c.username.empty()) {
      return Invalid(c, "password is set but username is not");
    }
  }
  return Status::Ok();
}

Notifier::Notifier(std::string name, std::string type)
    : name_(std::move(name)), type_(std::move(type)) {}
Notifier::~Notifier() = default;
const std::string& Notifier::name() const { return name_; }
const std::string& Notifier::type() const { return type_; }

Result<std::unique_ptr<Notifier>> MakeNotifier(const ChannelConfig& config, NotifierDeps deps) {
  GLMQ_RETURN_IF_ERROR(ValidateChannelConfig(config));
  if (!deps.wall_clock) deps.wall_clock = NowMs;
  if (config.type == "log") {
    return std::unique_ptr<Notifier>(std::make_unique<LogNotifier>(config.name, config.type));
  }
  if (config.type == "email") {
    if (!deps.mail) deps.mail = MakeCurlMailTransport();
    if (!config.password.empty() && !config.starttls && StartsWith(config.smtp_url, "smtp://")) {
      spdlog::warn("alert channel \"{}\": the SMTP password travels unencrypted (starttls off)",
                   config.name);
    }
    return std::unique_ptr<Notifier>(std::make_unique<EmailNotifier>(config, std::move(deps)));
  }
  if (!deps.http) deps.http = MakeCurlHttpTransport();
  return std::unique_ptr<Notifier>(std::make_unique<HttpNotifier>(config, std::move(deps)));
}

}  // namespace glmq
