// Queue order and wait estimates.
//
// Jobs are ordered by a virtual deadline: arrival + k × (estimated service time alone)
// − priority × priority_step. Short jobs go first; a long job that has waited about its own
// service time overtakes new short ones, so nothing starves. With promised order
// (--promised-order on) the store adds the wait of the work queued before the job as it inserts it
// (store/job_store.h, PlaceNewJob): the key becomes the start the job is promised,
// k × its service time being the overtaking it accepts, so the wait it is told holds
// however many shorter jobs arrive after it.
#pragma once

#include <cstdint>

#include "core/job.h"
#include "core/model_info.h"  // PositionsOf
#include "sched/throughput.h"
#include "store/job_store.h"

namespace glmq {

struct PolicyOptions {
  double service_weight = 1.0;          // k
  double priority_step_seconds = 60.0;  // one priority level is worth this much waiting
  int64_t medium_prompt_tokens = 4096;  // length classes by prompt tokens
  int64_t long_prompt_tokens = 32768;
  // Order by promised start (see above). Off: by the virtual deadline alone, so shorter
  // jobs arriving later overtake a job for as long as they keep arriving (its wait is
  // then longer than it was told), and a short question never queues behind documents that
  // were promised an earlier start. In a backed-up queue the two differ most: bench/
  // wait_estimates.sh measures both (README).
  bool promised_order = false;
  // With the default order: a job sorts no later than its arrival plus the wait it is told
  // (store/job_store.h, PlaceNewJob), so shorter jobs arriving later overtake it only as
  // far as its estimate foresaw, rather than for as long as its slack lasts. Short jobs
  // keep their place (their slack is less than their wait); a long job told a short wait
  // is kept to it. bench/wait_estimates.sh measures both (README).
  bool keep_estimates = true;
};

// The overtaking a job accepts under promised order: k × its service time alone.
double SlackSeconds(const PolicyOptions& options, const ThroughputSnapshot& t,
                    int64_t prompt_tokens, int32_t max_tokens);

LengthClass ClassifyLength(const PolicyOptions& options, int64_t prompt_tokens);

// Seconds the engine takes to read `prompt_tokens` (at the measured rate, else a fallback).
double PrefillSeconds(const ThroughputSnapshot& t, int64_t prompt_tokens);
// Seconds between two tokens of one sequence alone.
double TokenSeconds(const ThroughputSnapshot& t);

// Seconds one job would take alone on the engine.
double ServiceSeconds(const ThroughputSnapshot& t, int64_t prompt_tokens, int32_t max_tokens);

int64_t OrderKey(const PolicyOptions& options, const ThroughputSnapshot& t, TimeMs arrival,
                 int32_t priority, int64_t prompt_tokens, int32_t max_tokens);
// The same for a job given its slack (k × a service time, SlackSeconds).
int64_t OrderKeyWithSlack(const PolicyOptions& options, TimeMs arrival, int32_t priority,
                          double slack_seconds);

// The work still left in the running jobs.
struct RunningLeft {
  int64_t prompt_tokens = 0;    // to read
  double prompt_positions = 0;  // their positions summed (attention's share of reading them)
  int64_t max_tokens = 0;       // they may still generate
};

// Seconds until a job starts, as a function of the queued work that runs before it, given the
// work still left in running jobs. What a store applies as it inserts (JobStore::InsertBatch).
// `queued_prompt_tokens`: the size of a typical queued prompt, weighted by size (E[n^2] /
// E[n]), for attention's share of the queued prompts' cost.
WaitModel MakeWaitModel(const ThroughputSnapshot& t, const RunningLeft& running,
                        int32_t free_sequences, double queued_prompt_tokens);

// Seconds until everything queued and running is done at the measured rates: the backlog
// divided by the throughput (Little's law). What the drain-time alert and /v1/queue show.
double PredictedDrainSeconds(const ThroughputSnapshot& t, const QueueSnapshot& queue,
                             const RunningLeft& running);

}  // namespace glmq
