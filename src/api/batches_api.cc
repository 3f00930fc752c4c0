#include "api/batches_api.h"

#include <optional>

#include "api/batch_codec.h"
#include "api/json_response.h"
#include "api/query_string.h"

namespace glmq {
namespace {

constexpr size_t kMaxMetadataPairs = 16;
constexpr size_t kMaxMetadataKey = 64;
constexpr size_t kMaxMetadataValue = 512;

// POST /v1/batches: checks the request and the input file, and records the batch; the
// runner validates the lines.
Result<Batch> NewBatch(BatchStore& batches, FileStore& files, const RequestLimits& limits,
                       const std::string& tenant, const std::string& body) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument("the body must be a JSON object");
  for (const auto& [name, value] : j.items()) {
    if (name != "input_file_id" && name != "endpoint" && name != "completion_window" &&
        name != "metadata" && name != "webhook_url") {
      return InvalidArgument(
          "unknown field '" + name +
          "' (allowed: input_file_id, endpoint, completion_window, metadata, webhook_url)");
    }
  }
  auto text = [&j](const char* name) -> Result<std::string> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      return InvalidArgument(std::string("'") + name + "' is required and must be a string");
    }
    return it->get<std::string>();
  };
  Batch b;
  b.tenant = tenant;
  GLMQ_ASSIGN_OR_RETURN(b.input_file_id, text("input_file_id"));
  GLMQ_ASSIGN_OR_RETURN(b.endpoint, text("endpoint"));
  GLMQ_ASSIGN_OR_RETURN(b.completion_window, text("completion_window"));
  if (!IsBatchEndpoint(b.endpoint)) {
    return InvalidArgument("endpoint '" + b.endpoint +
                           "' is not served in batches (allowed: /v1/chat/completions, /v1/jobs)");
  }
  const std::optional<int64_t> window = ParseCompletionWindow(b.completion_window);
  if (!window) {
    return InvalidArgument(
        "completion_window must be a duration such as \"24h\", \"90m\" or "
        "\"30s\", from 10 seconds to 7 days");
  }
  if (auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
    if (!m->is_object() || m->size() > kMaxMetadataPairs) {
      return InvalidArgument("metadata must be an object of at most 16 pairs");
    }
    for (const auto& [key, value] : m->items()) {
      if (key.size() > kMaxMetadataKey || !value.is_string() ||
          value.get_ref<const std::string&>().size() > kMaxMetadataValue) {
        return InvalidArgument(
            "metadata keys are at most 64 characters and values strings of "
            "at most 512");
      }
    }
    b.metadata_json = m->dump();
  }
  if (auto w = j.find("webhook_url"); w != j.end() && !w->is_null()) {
    if (!w->is_string()) return InvalidArgument("'webhook_url' must be a string");
    b.webhook_url = w->get<std::string>();
    GLMQ_RETURN_IF_ERROR(CheckWebhookUrl(b.webhook_url, limits));
  }
  Result<FileInfo> input = files.Get(tenant, b.input_file_id);
  if (input.status().code() == StatusCode::kNotFound) {
    return InvalidArgument("input_file_id '" + b.input_file_id + "' names no file of yours");
  }
  GLMQ_RETURN_IF_ERROR(input.status());
  if (input->purpose != "batch") {
    return InvalidArgument("input_file_id '" + b.input_file_id +
                           "' was not uploaded with purpose 'batch'");
  }
  b.id = NewBatchId();
  b.created_at = NowMs();
  b.expires_at = b.created_at + *window;
  GLMQ_RETURN_IF_ERROR(batches.Create(b));
  return b;
}

// POST /v1/batches/{id}/cancel: a batch not yet finalizing moves to cancelling (the runner
// stops its jobs); one cancelling or cancelled already is answered as it is.
Result<Batch> CancelBatch(BatchStore& batches, const std::string& tenant, const std::string& id) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    GLMQ_ASSIGN_OR_RETURN(Batch b, batches.Get(tenant, id));
    if (b.status == BatchStatus::kCancelling || b.status == BatchStatus::kCancelled) return b;
    if (b.status != BatchStatus::kValidating && b.status != BatchStatus::kInProgress) {
      return Conflict(std::string("batch ") + id + " is " + BatchStatusName(b.status) +
                      " and can no longer be cancelled");
    }
    const BatchStatus from = b.status;
    b.status = BatchStatus::kCancelling;
    b.cancelling_at = NowMs();
    Status s = batches.Update(b, from);
    if (s.ok()) return b;
    if (s.code() != StatusCode::kConflict) return s;
    // The runner moved it meanwhile: look again.
  }
  return Conflict("batch " + id + " kept changing; try again");
}

}  // namespace

void AddBatchRoutes(Router& router, BatchRoutes routes) {
  router.Add(
      http::verb::post, "/v1/batches",
      [routes](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto create = [&routes, &rc] {
          return NewBatch(routes.batches, routes.files, routes.limits, rc.caller.tenant,
                          rc.request.body());
        };
        Result<Batch> b = co_await RunBlocking(routes.pool, create);
        if (!b.ok()) co_return ErrorResponse(b.status());
        if (routes.wake) routes.wake();
        co_return JsonResponse(http::status::ok, BatchJson(*b));
      },
      Access::kSubmit);

  router.Add(
      http::verb::get, "/v1/batches",
      [routes](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        const Result<std::optional<int64_t>> limit = WholeNumberParam(rc.query, "limit", 1, 100);
        if (!limit.ok()) co_return ErrorResponse(limit.status());
        auto after = rc.query.find("after");
        auto list = [&routes, tenant = rc.caller.tenant,
                     after = after == rc.query.end() ? std::string() : after->second,
                     limit = static_cast<int32_t>(limit->value_or(20))] {
          return routes.batches.List(tenant, after, limit);
        };
        Result<BatchPage> page = co_await RunBlocking(routes.pool, list);
        if (!page.ok()) co_return ErrorResponse(page.status());
        json data = json::array();
        for (const Batch& b : page->batches) data.push_back(BatchJson(b));
        co_return JsonResponse(http::status::ok, ListPageJson(std::move(data), page->has_more));
      },
      Access::kRead);

  router.Add(
      http::verb::get, "/v1/batches/{id}",
      [routes](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto get = [&routes, tenant = rc.caller.tenant, id = rc.params["id"]] {
          return routes.batches.Get(tenant, id);
        };
        Result<Batch> b = co_await RunBlocking(routes.pool, get);
        if (!b.ok()) co_return ErrorResponse(b.status());
        co_return JsonResponse(http::status::ok, BatchJson(*b));
      },
      Access::kRead);

  router.Add(
      http::verb::post, "/v1/batches/{id}/cancel",
      [routes](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto cancel = [&routes, tenant = rc.caller.tenant, id = rc.params["id"]] {
          return CancelBatch(routes.batches, tenant, id);
        };
        Result<Batch> b = co_await RunBlocking(routes.pool, cancel);
        if (!b.ok()) co_return ErrorResponse(b.status());
        if (routes.wake) routes.wake();
        co_return JsonResponse(http::status::ok, BatchJson(*b));
      },
      Access::kSubmit);
}

BatchEvents AddBatchMetrics(metrics::Registry& registry) {
  metrics::GaugeFamily* batches =
      registry.AddGauge("glmq_batches", "Batches retained, by status.", {"status"});
  metrics::CounterFamily* requests = registry.AddCounter(
      "glmq_batch_requests_total",
      "Batch requests whose outcome was recorded: succeeded, failed, refused (never ran), "
      "expired, cancelled.",
      {"outcome"});
  for (const char* outcome : {"succeeded", "failed", "refused", "expired", "cancelled"}) {
    requests->With({outcome});
  }
  BatchEvents events;
  events.statuses = [batches](const std::map<BatchStatus, int64_t>& counts) {
    for (const BatchStatus s :
         {BatchStatus::kValidating, BatchStatus::kFailed, BatchStatus::kInProgress,
          BatchStatus::kFinalizing, BatchStatus::kCompleted, BatchStatus::kExpired,
          BatchStatus::kCancelling, BatchStatus::kCancelled}) {
      const auto it = counts.find(s);
      batches->With({BatchStatusName(s)})
          .Set(it == counts.end() ? 0.0 : static_cast<double>(it->second));
    }
  };
  events.request_ended = [requests](const char* outcome) { requests->With({outcome}).Inc(); };
  return events;
}

Result<std::vector<BatchOutlook>> BatchOutlooks(BatchStore& batches) {
  GLMQ_ASSIGN_OR_RETURN(const std::vector<Batch> active, batches.Active());
  std::vector<BatchOutlook> out;
  for (const Batch& b : active) {
    if (b.status != BatchStatus::kInProgress) continue;
    out.push_back(
        {.id = b.id, .expires_at = b.expires_at, .estimated_finish_at = b.estimated_finish_at});
  }
  return out;
}

void AddModelRoutes(Router& router, std::string model, TimeMs started_at) {
  const json entry = {{"id", model.empty() ? std::string("glmq") : model},
                      {"object", "model"},
                      {"created", started_at / 1000},
                      {"owned_by", "glmq"}};
  router.Add(
      http::verb::get, "/v1/models",
      [entry](RequestContext&) -> asio::awaitable<HttpResponse> {
        co_return JsonResponse(http::status::ok,
                               {{"object", "list"}, {"data", json::array({entry})}});
      },
      Access::kRead);
  router.Add(
      http::verb::get, "/v1/models/{id}",
      [entry](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        if (rc.params["id"] != entry["id"]) {
          co_return ErrorResponse(ErrorCode::kNotFound, "no model " + rc.params["id"]);
        }
        co_return JsonResponse(http::status::ok, entry);
      },
      Access::kRead);
}

}  // namespace glmq
