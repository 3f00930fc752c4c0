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
  router.Add(http::verb::get, "/v1/jobs/{id}",
             [&seen](RequestContext& rc) -> asio::awaitable<HttpResponse> {
               seen = rc.params["id"] + "|" + rc.query["wait"];
               HttpResponse res{http::status::ok, 11};
               co_return res;
             });
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

TEST(RouterTest, KeyRoutesAnswer401WithoutTheKeyAndOpenRoutesAnswerAll) {
  Router router;
  auto ok = [](RequestContext&) -> asio::awaitable<HttpResponse> {
    co_return HttpResponse{http::status::ok, 11};
  };
  router.Add(http::verb::get, "/v1/queue", ok);
  router.Add(http::verb::get, "/healthz", ok, Access::kOpen);
  // Without RequireKey every route is open.
  EXPECT_EQ(Dispatch(router, http::verb::get, "/v1/queue").result(), http::status::ok);

  router.RequireKey([](const HttpRequest& r) {
    const auto it = r.find(http::field::authorization);
    return it != r.end() && it->value() == "Bearer right";
  });
  HttpResponse none = Dispatch(router, http::verb::get, "/v1/queue");
  EXPECT_EQ(none.result(), http::status::unauthorized);
  EXPECT_EQ(none[http::field::www_authenticate], R"(Bearer realm="glmq")");
  EXPECT_NE(none.body().find("\"code\":\"unauthorized\""), std::string::npos) << none.body();
  HttpResponse wrong = Dispatch(router, http::verb::get, "/v1/queue", "Bearer wrong");
  EXPECT_EQ(wrong.result(), http::status::unauthorized);
  EXPECT_NE(wrong[http::field::www_authenticate].find("invalid_token"), std::string::npos);
  EXPECT_EQ(Dispatch(router, http::verb::get, "/v1/queue", "Bearer right").result(),
            http::status::ok);
  EXPECT_EQ(Dispatch(router, http::verb::get, "/healthz").result(), http::status::ok);
}

}  // namespace
}  // namespace glmq
