// WebhookSender: POSTs a job to its webhook_url once the job ends, and a batch to its own
// once the batch ends.
//
// Delivery is at least once. The store queues a delivery in the same write that ends a job
// whose request names a webhook_url (JobStore::ClaimWebhooks), so a crash loses none; a
// sender claims due deliveries with a lease, so among many gateways each is sent by one at a
// time, and one that dies mid-POST leaves it to another once the lease runs out. A 2xx
// answer ends a delivery; anything else (another status, no answer in time) tries again
// after 1 s, 2 s, 4 s, ... up to 10 min, and after `max_attempts` tries it is given up and
// logged. Receivers tell repeats apart by the Glmq-Delivery header (the job id; the attempt
// is in Glmq-Attempt).
//
// The request: POST with a JSON body {"event": "job.<state>", "job": <the job as GET
// /v1/jobs/{id} shows it, text included>} -- for a batch {"event": "batch.<status>", "batch":
// <the batch as GET /v1/batches/{id} shows it>}, its delivery queued by the batch runner
// (JobStore::QueueWebhook) before the batch's end is written -- and with a secret, a
// Glmq-Signature header
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" for the receiver to check
// (and to refuse old timestamps, against replays).
//
// Threads: one of its own (Periodic); Wake may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "alert/transport.h"
#include "api/webhook_hosts.h"
#include "batch/batch_store.h"
#include "core/periodic.h"
#include "metrics/metrics.h"
#include "store/job_store.h"

namespace glmq {

struct WebhookOptions {
  std::string secret;  // empty: deliveries are not signed
  double timeout_seconds = 10;
  int32_t max_attempts = 10;
  // > timeout_seconds, so a POST in progress keeps its delivery; also how long a delivery
  // caught mid-try by a crash waits before another sender takes it.
  int64_t lease_ms = 30000;
  int64_t poll_ms = 500;
  int32_t batch = 32;  // deliveries claimed per round
  // Hosts a webhook may go to (WebhookHostAllowed); empty = any.
  std::vector<std::string> allow_hosts;
  // Whether webhooks may connect to addresses that are not public (WebhookMayReachPrivate);
  // by default they connect to public ones only, checked on the address dialled.
  bool allow_private = false;
};

class WebhookSender {
 public:
  struct Counts {
    std::atomic<int64_t> delivered{0};
    std::atomic<int64_t> failed{0};  // tries that will be repeated
    std::atomic<int64_t> gave_up{0};
  };

  // `batches`: where a delivery named by a batch id finds its batch (null: none are sent).
  WebhookSender(JobStore& store, std::shared_ptr<HttpTransport> http, WebhookOptions options,
                BatchStore* batches = nullptr);
  // Lets a POST in progress finish (up to timeout_seconds); deliveries claimed and not sent
  // yet go to whoever claims them once their lease runs out.
  ~WebhookSender();
  // Starts polling the store for due deliveries.
  void Start();
  // Claims what is due now and sends it, kConcurrentSends at a time; returns how many it
  // sent.
  int SendDue();
  const Counts& counts() const { return counts_; }

  // The signature header's value for `body` at unix time `t` (for receivers' tests).
  static std::string Signature(const std::string& secret, int64_t t, const std::string& body);
  // The wait before try `attempts + 1`.
  static int64_t BackoffMs(int32_t attempts);

 private:
  static constexpr size_t kConcurrentSends = 8;

  // What a delivery POSTs: to where, as which event, with which body; nullopt when there is
  // nothing to send now (its subject is gone, or a batch has not ended yet).
  struct Message {
    std::string url;
    std::string event;
    std::string body;
  };
  std::optional<Message> Compose(const JobStore::WebhookDue& due);
  void Send(const JobStore::WebhookDue& due);

  JobStore& store_;
  BatchStore* const batches_;
  std::shared_ptr<HttpTransport> http_;
  const WebhookOptions options_;
  Counts counts_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<Periodic> poller_;
};

// glmq_webhook_deliveries_total{result}: this process's webhook tries.
void AddWebhookCollector(metrics::Registry& registry, const WebhookSender& sender);

}  // namespace glmq
