#include "api/webhooks.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "api/batch_codec.h"
#include "api/job_json.h"
#include "crypto/crypto.h"
#include "metrics/exposition.h"
#include "net/curl.h"

namespace glmq {
namespace {

constexpr int64_t kMaxBackoffMs = 10 * 60 * 1000;

}  // namespace

WebhookSender::WebhookSender(JobStore& store, std::shared_ptr<HttpTransport> http,
                             WebhookOptions options, BatchStore* batches)
    : store_(store), batches_(batches), http_(std::move(http)), options_(std::move(options)) {}

WebhookSender::~WebhookSender() {
  stopping_ = true;
  poller_.reset();
}

void WebhookSender::Start() {
  // A full batch says more is due: a backlog goes out batch after batch, not one per poll.
  poller_ = std::make_unique<Periodic>(std::chrono::milliseconds(options_.poll_ms), [this] {
    while (!stopping_ && SendDue() >= options_.batch) {
    }
  });
}

std::string WebhookSender::Signature(const std::string& secret, int64_t t,
                                     const std::string& body) {
  const std::string signed_text = std::to_string(t) + "." + body;
  return "t=" + std::to_string(t) + ",v1=" + HexEncode(HmacSha256(secret, signed_text));
}

int64_t WebhookSender::BackoffMs(int32_t attempts) {
  const int shift = std::clamp(attempts - 1, 0, 20);
  return std::min<int64_t>(int64_t{1000} << shift, kMaxBackoffMs);
}

int WebhookSender::SendDue() {
  auto due = store_.ClaimWebhooks(NowMs(), options_.lease_ms, options_.batch);
  if (!due.ok()) {
    spdlog::warn("webhooks: cannot claim deliveries: {}", due.status().ToString());
    return 0;
  }
  // Several at once: a slow receiver does not hold up the others, and the stores' writes
  // that mark them sent share their commits.
  std::atomic<size_t> next{0};
  std::atomic<int> sent{0};
  auto send = [&] {
    for (size_t i = next++; i < due->size() && !stopping_; i = next++) {
      Send((*due)[i]);
      ++sent;
    }
  };
  std::vector<std::thread> senders;
  const size_t threads = std::min<size_t>(kConcurrentSends, due->size());
  for (size_t t = 1; t < threads; ++t) senders.emplace_back(send);
  send();
  for (std::thread& t : senders) t.join();
  return sent;
}

// Reads the clock itself: a round's earlier tries may have taken up to timeout_seconds each,
// and the signature's time and the next try's are counted from this one.
std::optional<WebhookSender::Message> WebhookSender::Compose(const JobStore::WebhookDue& due) {
  constexpr nlohmann::json::error_handler_t kReplace = nlohmann::json::error_handler_t::replace;
  if (due.job_id.rfind("batch_", 0) == 0) {
    auto batch = batches_ != nullptr ? batches_->Find(due.job_id)
                                     : Result<Batch>(NotFound("no batch store"));
    if (batch.status().code() == StatusCode::kNotFound) {
      spdlog::warn("webhooks: batch {} is gone; its delivery is dropped", due.job_id);
      (void)store_.EndWebhook(due.job_id);
      return std::nullopt;
    }
    if (!batch.ok()) return std::nullopt;  // a store error: the lease runs out, tried again
    if (!IsTerminal(batch->status)) {
      // Queued just before its end was written (or the runner died between the two, and the
      // next runner takes over in a lease's time): sent once it has ended, with every try.
      (void)store_.DeferWebhook(due.job_id, NowMs() + 1000);
      return std::nullopt;
    }
    const std::string event = std::string("batch.") + BatchStatusName(batch->status);
    return Message{batch->webhook_url, event,
                   nlohmann::json{{"event", event}, {"batch", BatchJson(*batch)}}.dump(
                       -1, ' ', false, kReplace)};
  }
  auto job = store_.Get(due.job_id, /*with_request=*/false);
  if (!job.ok()) {
    if (job.status().code() == StatusCode::kNotFound) {  // its retention ran out
      spdlog::warn("webhooks: job {} is gone; its delivery is dropped", due.job_id);
      (void)store_.EndWebhook(due.job_id);
    }
    return std::nullopt;  // a store error: the lease runs out and it is tried again
  }
  const std::string event = std::string("job.") + JobStateName(job->state);
  return Message{
      job->request.webhook_url, event,
      nlohmann::json{{"event", event}, {"job", JobToJson(*job)}}.dump(-1, ' ', false, kReplace)};
}

void WebhookSender::Send(const JobStore::WebhookDue& due) {
  std::optional<Message> message = Compose(due);
  if (!message) return;
  // Accepted before --webhook-allow-hosts said otherwise: not sent.
  if (const auto host = RefusedWebhookHost(message->url, options_.allow_hosts)) {
    counts_.gave_up++;
    spdlog::error("webhooks: {}'s host '{}' is not in --webhook-allow-hosts; not sent", due.job_id,
                  *host);
    (void)store_.EndWebhook(due.job_id);
    return;
  }
  const std::string& event = message->event;
  const std::string& body = message->body;
  HttpPostRequest request{
      .url = message->url,
      .body = body,
      .headers = {"Content-Type: application/json", "User-Agent: glmq", "Glmq-Event: " + event,
                  "Glmq-Delivery: " + due.job_id, "Glmq-Attempt: " + std::to_string(due.attempts)},
      .timeout_seconds = options_.timeout_seconds,
      .public_addresses_only = !WebhookMayReachPrivate(
          net::UrlHost(message->url), options_.allow_hosts, options_.allow_private)};
  if (!options_.secret.empty()) {
    request.headers.push_back("Glmq-Signature: " +
                              Signature(options_.secret, NowMs() / 1000, body));
  }
  auto response = http_->Post(request);
  const bool delivered = response.ok() && response->status >= 200 && response->status < 300;
  if (delivered) {
    counts_.delivered++;
    if (Status s = store_.EndWebhook(due.job_id); !s.ok()) {
      spdlog::warn("webhooks: {} delivered, but not marked so: {}", due.job_id, s.ToString());
    }
    return;
  }
  // The transport's errors name the (redacted) URL already.
  const std::string why = response.ok() ? "HTTP " + std::to_string(response->status) + " from " +
                                              net::RedactUrl(request.url)
                                        : std::string(response.status().message());
  // A URL that cannot work (malformed, or only private addresses behind it) is not tried
  // again.
  const bool hopeless = !response.ok() && response.status().code() == StatusCode::kInvalidArgument;
  if (due.attempts >= options_.max_attempts || hopeless) {
    counts_.gave_up++;
    spdlog::error("webhooks: giving up on {} after {} tries; last: {}", due.job_id, due.attempts,
                  why);
    (void)store_.EndWebhook(due.job_id);
    return;
  }
  counts_.failed++;
  const int64_t wait = BackoffMs(due.attempts);
  spdlog::info("webhooks: {}: try {} failed ({}); next in {} s", due.job_id, due.attempts, why,
               wait / 1000.0);
  if (Status s = store_.RetryWebhook(due.job_id, NowMs() + wait); !s.ok()) {
    spdlog::warn("webhooks: cannot schedule {}'s next try: {}", due.job_id, s.ToString());
  }
}

void AddWebhookCollector(metrics::Registry& registry, const WebhookSender& sender) {
  registry.AddCollector([&sender](metrics::Exposition& out) {
    const char* help =
        "Webhook tries by result: delivered (2xx), failed (tried again later), gave_up.";
    const WebhookSender::Counts& c = sender.counts();
    out.Counter("glmq_webhook_deliveries_total", help, {{"result", "delivered"}},
                static_cast<double>(c.delivered.load()));
    out.Counter("glmq_webhook_deliveries_total", help, {{"result", "failed"}},
                static_cast<double>(c.failed.load()));
    out.Counter("glmq_webhook_deliveries_total", help, {{"result", "gave_up"}},
                static_cast<double>(c.gave_up.load()));
  });
}

}  // namespace glmq
