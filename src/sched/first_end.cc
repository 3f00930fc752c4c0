#include "sched/first_end.h"

#include <algorithm>
#include <limits>

namespace glmq {

std::optional<double> FirstEndSeconds(std::vector<SequenceLeft> running, const StepCosts& costs) {
  if (running.empty() || costs.decode_step_seconds <= 0) return std::nullopt;
  const auto blocked = [&running](const SequenceLeft& s) {
    return s.waits_for >= 0 && static_cast<size_t>(s.waits_for) < running.size() &&
           running[s.waits_for].prompt_tokens > 0;
  };
  double t = 0;
  // Each round reads a prompt or ends a job: at most two rounds per job.
  while (true) {
    SequenceLeft* shortest = nullptr;  // the prompt read first
    double fewest = std::numeric_limits<double>::infinity();
    int32_t generating = 0;
    for (SequenceLeft& s : running) {
      if (blocked(s)) continue;
      if (s.prompt_tokens > 0) {
        if (shortest == nullptr || s.prompt_tokens < shortest->prompt_tokens) shortest = &s;
      } else {
        generating += 1;
        fewest = std::min(fewest, s.tokens_to_generate);
      }
    }
    if (shortest == nullptr) {
      if (generating == 0) return std::nullopt;  // all wait, for none that reads: not foreseen
      return t + std::max(0.0, fewest) * costs.decode_step_seconds;
    }
    const double prompt = std::max(0.0, shortest->prompt_seconds);
    if (generating == 0) {
      // Nothing generates: steps carry prompt tokens alone, the shortest prompt's first.
      t += prompt;
    } else {
      // A step with generating sequences carries the prompt tokens its target leaves time
      // for (the engine's PrefillBudget: 32 at least, the batch at most), every generating
      // job a token.
      const double per_token = prompt / static_cast<double>(shortest->prompt_tokens);
      const double room = std::max(1, costs.batch_size - generating) * per_token;
      double reading = room;  // seconds of prompt a step reads
      if (costs.step_target_seconds > 0) {
        reading = std::clamp(costs.step_target_seconds - costs.decode_step_seconds,
                             std::min(32 * per_token, room), room);
      }
      const double to_read = reading > 0 ? prompt / reading : 0;  // steps
      const double steps = std::min(to_read, fewest);
      t += steps * (costs.decode_step_seconds + reading);
      if (fewest <= to_read) return t;
      for (SequenceLeft& s : running) {
        if (s.prompt_tokens == 0 && !blocked(s)) s.tokens_to_generate -= steps;
      }
    }
    // The step that reads a prompt's last token samples its first.
    shortest->prompt_tokens = 0;
    shortest->tokens_to_generate -= 1;
    if (shortest->tokens_to_generate <= 0) return t;
  }
}

}  // namespace glmq
