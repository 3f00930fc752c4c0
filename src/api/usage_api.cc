#include "api/usage_api.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "api/json_response.h"

namespace glmq {
namespace {

// "2026-12-06" <-> days since the Unix epoch (UTC).
std::optional<int64_t> ParseDay(const std::string& text) {
  int y = 0;
  unsigned m = 0, d = 0;
  char tail = 0;
  if (text.size() != 10 || std::sscanf(text.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                        std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd).time_since_epoch().count();
}

std::string DayText(int64_t day) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(day))};
  char out[16];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return out;
}

// GET /v1/usage?from=&to=: jobs by outcome and tokens per tenant and day, for chargeback.
HttpResponse UsageReport(ApiContext& ctx, const RequestContext& rc) {
  constexpr int64_t kMaxDays = 366;
  const int64_t today = NowMs() / 86'400'000;
  int64_t from = today - 29, to = today;
  for (auto [name, day] : {std::pair{"from", &from}, std::pair{"to", &to}}) {
    if (auto it = rc.query.find(name); it != rc.query.end()) {
      const std::optional<int64_t> parsed = ParseDay(it->second);
      if (!parsed) {
        return ErrorResponse(ErrorCode::kInvalidRequest,
                             std::string("'") + name + "' must be a date, YYYY-MM-DD");
      }
      *day = *parsed;
    }
  }
  if (to < from || to - from >= kMaxDays) {
    return ErrorResponse(ErrorCode::kInvalidRequest,
                         "'from' must not be after 'to', and the range is at most 366 days");
  }
  std::optional<std::string> tenant;
  if (!rc.caller.admin()) {
    tenant = rc.caller.tenant;
  } else if (auto it = rc.query.find("tenant"); it != rc.query.end()) {
    tenant = it->second == kDefaultTenantName ? "" : it->second;
  }
  auto rows = ctx.store.Usage(tenant, from, to);
  if (!rows.ok()) return ErrorResponse(rows.status());
  json data = json::array();
  for (const JobStore::UsageRow& r : *rows) {
    data.push_back({{"tenant", TenantName(r.tenant)},
                    {"date", DayText(r.day)},
                    {"jobs",
                     {{"succeeded", r.succeeded},
                      {"failed", r.failed},
                      {"cancelled", r.cancelled},
                      {"expired", r.expired}}},
                    {"prompt_tokens", r.prompt_tokens},
                    {"cached_tokens", r.cached_tokens},
                    {"completion_tokens", r.completion_tokens}});
  }
  return JsonResponse(
      http::status::ok,
      {{"object", "list"}, {"from", DayText(from)}, {"to", DayText(to)}, {"data", data}});
}

}  // namespace

void AddUsageRoute(Router& router, ApiContext& ctx) {
  router.Add(
      http::verb::get, "/v1/usage",
      [&ctx](RequestContext& rc) -> asio::awaitable<HttpResponse> {
        auto work = [&ctx, &rc] { return UsageReport(ctx, rc); };
        co_return co_await RunBlocking(ctx.pool, std::move(work));
      },
      Access::kRead);
}

}  // namespace glmq
