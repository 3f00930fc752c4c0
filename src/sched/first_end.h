// When the first running job should end. A job that finds no sequence free starts then, not
// when all the running work is done, which is what the work in hand adds up to: beside a
// document with a minute left, a question ending in a second frees its sequence in a second.
//
// The engine steps its sequences as engine/engine.h's StepCosts says: every step gives each
// generating sequence one token and the prompts what its budget leaves, the shortest prompt
// first. FirstEndSeconds follows that in phases (each ends when a prompt is read or a job
// ends), with prompts read continuously rather than in whole chunks, at each prompt's own
// cost per token. A job waiting for another's shared prefix starts once that is read.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/engine.h"

namespace glmq {

// What a running job has left.
struct SequenceLeft {
  int64_t prompt_tokens = 0;  // not read yet
  // What reading them costs: a token further into its context costs more (the meter's
  // attention share), which the engine's flat cost per token measured lately does not see.
  double prompt_seconds = 0;
  double tokens_to_generate = 1;  // expected, the token that ends its reading included
  // The running job (its index here) whose prompt starts with a prefix this one shares and
  // takes rather than reads (`prompt_tokens` is then the rest): nothing of this job runs
  // until that prompt is read. -1: none.
  int32_t waits_for = -1;
};

// Seconds until the first of `running` ends; unset when nothing runs or the costs are not
// measured yet.
std::optional<double> FirstEndSeconds(std::vector<SequenceLeft> running, const StepCosts& costs);

}  // namespace glmq
