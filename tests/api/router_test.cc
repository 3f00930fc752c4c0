#include "api/router.h"

#include <gtest/gtest.h>

namespace glmq {
namespace {

TEST(ParseQueryTest, DecodesPairs) {
  auto q = ParseQuery("state=queued&limit=10&after=job_1&x=a%20b+c&flag");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)["state"], "queued");
  EXPECT_EQ((*q)["limit"], "10");
  EXPECT_EQ((*q)["x"], "a b c");
  EXPECT_EQ((*q)["flag"], "");
}

TEST(ParseQueryTest, RejectsBrokenEscapes) {
  EXPECT_FALSE(ParseQuery("a=%zz").ok());
  EXPECT_FALSE(ParseQuery("a=%4").ok());
  EXPECT_FALSE(ParseQuery("a=%").ok());
}

HttpResponse Dispatch(Router& router, http::verb method, const std::string& target,
                      const std::string& authorization = "") {
  asio::io_context io;
  HttpRequest req{method, target, 11};
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  HttpResponse out;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out = co_await router.Dispatch(std::move(req)); },
      asio::detached);
  io.run();
  return out;
}

TEST(RouterTest, MatchesParamsAndAnswers404And405) {
  Router router;
  std::string seen;
  router.Add(
      http::verb::get, "/v1/jobs/{id}",
      [&seen](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        seen = rc.params["id"] + "|" + rc.query["wait"];
        HttpResponse res{http::status::ok, 11};
        co_return res;
      },
      Access::kRead);
  EXPECT_EQ(Dispatch(router, http::verb::get, "/v1/jobs/abc?wait=5").result(), http::status::ok);
  EXPECT_EQ(seen, "abc|5");
  EXPECT_EQ(Dispatch(router, http::verb::get, "/v1/nothing").result(), http::status::not_found);
  HttpResponse wrong = Dispatch(router, http::verb::put, "/v1/jobs/abc");
  EXPECT_EQ(wrong.result(), http::status::method_not_allowed);
  EXPECT_EQ(wrong[http::field::allow], "GET");
  EXPECT_NE(wrong.body().find("\"code\":\"method_not_allowed\""), std::string::npos);
  EXPECT_EQ(Dispatch(router, http::verb::get, "/v1/jobs/abc?wait=%zz").result(),
            http::status::bad_request);
}

TEST(RouterTest, KeyRoutesAnswer401WithoutAKeyAnd403ToALesserRole) {
  Router router;
  std::string tenant_seen;
  auto ok = [&tenant_seen](RequestContext& rc) -> asio::awaitable<HttpResponse> {
    tenant_seen = rc.caller.tenant;
    co_return HttpResponse{http::status::ok, 11};
  };
  router.Add(http::verb::get, "/v1/queue", ok, Access::kRead);
  router.Add(http::verb::post, "/v1/jobs", ok, Access::kSubmit);
  router.Add(http::verb::get, "/v1/alerts", ok, Access::kAdmin);
  router.Add(http::verb::get, "/healthz", ok, Access::kOpen);
  // Without an authenticator every route is open, to an admin of the implicit tenant.
  EXPECT_EQ(Dispatch(router, http::verb::get, "/v1/alerts").result(), http::status::ok);

  router.Authenticate([](const HttpRequest& r) -> std::optional<Caller> {
    const auto it = r.find(http::field::authorization);
    if (it == r.end()) return std::nullopt;
    if (it->value() == "Bearer reader") return Caller{.tenant = "legal", .role = Role::kRead};
    if (it->value() == "Bearer submitter") return Caller{.tenant = "fin", .role = Role::kSubmit};
    return std::nullopt;
  });
  HttpResponse none = Dispatch(router, http::verb::get, "/v1/queue");
  EXPECT_EQ(none.result(), http::status::unauthorized);
  EXPECT_EQ(none[http::field::www_authenticate], R"(Bearer realm="glmq")");
  EXPECT_NE(none.body().find("\"code\":\"unauthorized\""), std::string::npos) << none.body();
  HttpResponse wrong = Dispatch(router, http::verb::get, "/v1/queue", "Bearer wrong");
  EXPECT_EQ(wrong.result(), http::status::unauthorized);
  EXPECT_NE(wrong[http::field::www_authenticate].find("invalid_token"), std::string::npos);
  EXPECT_EQ(Dispatch(router, http::verb::get, "/v1/queue", "Bearer reader").result(),
            http::status::ok);
  EXPECT_EQ(tenant_seen, "legal");
  HttpResponse forbidden = Dispatch(router, http::verb::post, "/v1/jobs", "Bearer reader");
  EXPECT_EQ(forbidden.result(), http::status::forbidden);
  EXPECT_NE(forbidden.body().find("\"code\":\"forbidden\""), std::string::npos);
  EXPECT_EQ(Dispatch(router, http::verb::post, "/v1/jobs", "Bearer submitter").result(),
            http::status::ok);
  EXPECT_EQ(tenant_seen, "fin");
  EXPECT_EQ(Dispatch(router, http::verb::get, "/v1/alerts", "Bearer submitter").result(),
            http::status::forbidden);
  EXPECT_EQ(Dispatch(router, http::verb::get, "/healthz").result(), http::status::ok);
}

}  // namespace
}  // namespace glmq
