#include "api/alerts_api.h"

#include "api/json_response.h"

namespace glmq {

void AddAlertRoutes(Router& router, AlertService& alerts, Silences& silences,
                    asio::thread_pool& pool) {
  router.Add(
      http::verb::get, "/v1/alerts",
      [&alerts](RequestContext&) -> asio::awaitable<HttpResponse> {
        co_return JsonResponse(http::status::ok, alerts.AlertsJson(NowMs()));
      },
      Access::kAdmin);

  router.Add(
      http::verb::get, "/v1/silences",
      [&silences](RequestContext&) -> asio::awaitable<HttpResponse> {
        const TimeMs now = NowMs();
        json list = json::array();
        for (const Silence& s : silences.List()) list.push_back(SilenceJson(s, now));
        co_return JsonResponse(http::status::ok, {{"silences", list}});
      },
      Access::kAdmin);

  router.Add(
      http::verb::post, "/v1/silences",
      [&alerts, &silences, &pool](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto work = [&alerts, &silences, &rc]() -> HttpResponse {
          const json body = json::parse(rc.request.body(), nullptr, /*allow_exceptions=*/false);
          if (body.is_discarded()) {
            return ErrorResponse(ErrorCode::kInvalidJson, "the body is not valid JSON");
          }
          const TimeMs now = NowMs();
          auto silence = ParseSilence(body, now);
          if (!silence.ok()) {
            return ErrorResponse(ErrorCode::kInvalidSilence, silence.status().message());
          }
          auto id = silences.Add(*silence);
          if (!id.ok()) return ErrorResponse(id.status());
          silence->id = *id;
          // Take effect at once rather than at the next evaluation.
          alerts.EvaluateOnce();
          return JsonResponse(http::status::created,
                              {{"silenceID", *id}, {"silence", SilenceJson(*silence, now)}});
        };
        co_return co_await RunBlocking(pool, std::move(work));
      },
      Access::kAdmin);

  router.Add(
      http::verb::delete_, "/v1/silences/{id}",
      [&silences, &pool](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto work = [&silences, &rc]() -> HttpResponse {
          const Status s = silences.Expire(rc.params.at("id"), NowMs());
          if (!s.ok()) return ErrorResponse(s);
          return JsonResponse(http::status::ok,
                              {{"silenceID", rc.params.at("id")}, {"state", "expired"}});
        };
        co_return co_await RunBlocking(pool, std::move(work));
      },
      Access::kAdmin);
}

}  // namespace glmq
