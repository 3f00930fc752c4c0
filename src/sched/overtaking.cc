#include "sched/overtaking.h"

#include <algorithm>
#include <iterator>

namespace glmq {

void ArrivalWindow::Note(TimeMs at, int64_t order_key, int64_t prompt_tokens, int32_t max_tokens) {
  std::lock_guard lock(mu_);
  // Kept in order of arrival: another process's arrival may be told a little late.
  auto it = recent_.end();
  while (it != recent_.begin() && std::prev(it)->at > at) --it;
  recent_.insert(it, {.at = at,
                      .slack_ms = order_key - at,
                      .prompt_tokens = prompt_tokens,
                      .max_tokens = max_tokens});
  while (recent_.size() > kMaxArrivals || recent_.front().at < at - kMaxWindowMs) {
    recent_.pop_front();
  }
}

void ArrivalWindow::Foresee(int64_t order_key, TimeMs now, WaitModel& wait) const {
  const int64_t slack_ms = order_key - now;
  int64_t window_ms = std::clamp(slack_ms, kMinWindowMs, kMaxWindowMs);
  std::vector<Overtaker> overtakers;
  {
    std::lock_guard lock(mu_);
    // Arrivals so frequent that the last kMaxArrivals came within the window: the rate is
    // theirs over the time they took.
    if (recent_.size() == kMaxArrivals && recent_.front().at > now - window_ms) {
      window_ms = std::max<int64_t>(now - recent_.front().at, 1);
    }
    const double window_s = static_cast<double>(window_ms) / 1000.0;
    for (auto it = recent_.rbegin(); it != recent_.rend() && it->at >= now - window_ms; ++it) {
      const double bound = static_cast<double>(slack_ms - it->slack_ms) / 1000.0;
      if (bound <= 0) continue;
      overtakers.push_back(
          {.rate = wait.WorkSeconds(it->prompt_tokens, it->max_tokens) / window_s, .bound = bound});
    }
  }
  OvertakingLines(std::move(overtakers), wait);
}

void OvertakingLines(std::vector<Overtaker> overtakers, WaitModel& wait) {
  wait.overtaking_lines = 0;
  std::erase_if(overtakers, [](const Overtaker& o) { return !(o.rate > 0 && o.bound > 0); });
  if (overtakers.empty()) return;
  std::ranges::sort(overtakers, {}, &Overtaker::bound);
  const size_t m = overtakers.size();
  // On the interval before bound j, arrivals j.. still overtake (rate `after`) and the
  // earlier ones have added all they will (`done`): W = W0 + done + after × W.
  std::vector<double> after(m + 1, 0.0);
  for (size_t j = m; j-- > 0;) after[j] = after[j + 1] + overtakers[j].rate;
  std::vector<WaitModel::Line> lines;
  double done = 0;
  for (size_t j = 0; j <= m; ++j) {
    // Arrivals at least as fast as the engine: the wait grows until some stop overtaking,
    // so this interval is passed through and bounds nothing.
    constexpr double kSpare = 1e-6;
    if (after[j] < 1.0 - kSpare) {
      const double slope = 1.0 / (1.0 - after[j]);
      lines.push_back({.intercept = done * slope, .slope = slope});
    }
    if (j < m) done += overtakers[j].rate * overtakers[j].bound;
  }
  // More lines than the model carries: an even spread, the last (no overtaking left) kept.
  const size_t n = lines.size();
  const size_t keep = std::min<size_t>(n, WaitModel::kMaxOvertakingLines);
  for (size_t k = 0; k < keep; ++k) {
    const size_t index = keep == 1 ? n - 1 : (k * (n - 1) + (keep - 1) / 2) / (keep - 1);
    wait.overtaking[k] = lines[index];
  }
  wait.overtaking_lines = static_cast<int>(keep);
}

}  // namespace glmq
