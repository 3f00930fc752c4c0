#include "api/dashboard.h"

#include <string>

#include "api/dashboard_page.h"

namespace glmq {
namespace {

HttpResponse PageResponse() {
  HttpResponse res{http::status::ok, 11};
  res.set(http::field::content_type, "text/html; charset=utf-8");
  // The page is small and changes with each release; a stale copy would poll fields that
  // no longer exist.
  res.set(http::field::cache_control, "no-cache");
  res.body() = std::string(DashboardPage());
  return res;
}

asio::awaitable<HttpResponse> ServePage(RequestContext&) { co_return PageResponse(); }

}  // namespace

void AddDashboardRoutes(Router& router) {
  router.Add(http::verb::get, "/", ServePage, Access::kOpen);
  router.Add(http::verb::get, "/dashboard", ServePage, Access::kOpen);
}

}  // namespace glmq
