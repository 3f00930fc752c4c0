#include "api/metrics_api.h"

namespace glmq {

void AddMetricsRoute(Router& router, const metrics::Registry& registry, asio::thread_pool& pool) {
  router.Add(
      http::verb::get, "/metrics",
      [&registry, &pool](RequestContext&) -> asio::awaitable<HttpResponse> {
        // Collectors read the store: off the io thread.
        auto render = [&registry]() -> HttpResponse {
          HttpResponse res{http::status::ok, 11};
          res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
          res.set(http::field::cache_control, "no-store");
          res.body() = registry.Render();
          res.prepare_payload();
          return res;
        };
        co_return co_await RunBlocking(pool, std::move(render));
      },
      Access::kOpen);
}

}  // namespace glmq
