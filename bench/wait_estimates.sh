#!/usr/bin/env bash
# Honest waits: glmq serve --parallel $WAIT_PARALLEL (2) on the bench model (`glmq
# make-test-model --preset bench`, or $BENCH_MODEL), and bench/wait_estimates.cc's mixed
# queue of $WAIT_JOBS (30) jobs arriving over time. Prints each job's promised and real
# wait, and the median and p90 relative error (goal: median <= 20 %, p90 <= 50 %).
# WAIT_QUESTIONS=5: each arrival a document with 5 questions on it, submitted together
# (WAIT_JOBS jobs in all), for the prefix cache's case.
# Environment: BUILD, GLMQ_BIN, WAIT_BENCH_BIN ($BUILD/wait_estimates), BENCH_MODEL,
# WAIT_JOBS, WAIT_PARALLEL, WAIT_SEED (1), WAIT_MEAN_GAP_MS (400), WAIT_QUESTIONS (1),
# WAIT_SERVE_FLAGS (more serve flags, e.g. "--promised-order on"), BENCH_TMPDIR.
# WAIT_GATEWAYS=N (N >= 1): instead of serve, a durable Redis, one `glmq worker --parallel
# $WAIT_PARALLEL` and N `glmq gateway --count-tokens true` (with $WAIT_GATEWAY_FLAGS, e.g.
# "--gateway-notes false"); the jobs go to the gateways in turn, as a load balancer would
# spread them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WAIT_BENCH_BIN=${WAIT_BENCH_BIN:-$BUILD/wait_estimates}
JOBS=${WAIT_JOBS:-30}
PARALLEL=${WAIT_PARALLEL:-2}
SEED=${WAIT_SEED:-1}
GAP=${WAIT_MEAN_GAP_MS:-400}
QUESTIONS=${WAIT_QUESTIONS:-1}

die() { echo "wait_estimates: $*" >&2; exit 1; }
[[ -x $GLMQ_BIN ]] || die "no glmq binary at $GLMQ_BIN (run 'make build' or set GLMQ_BIN)"
[[ -x $WAIT_BENCH_BIN ]] || die "no wait_estimates at $WAIT_BENCH_BIN (run 'make build')"

bench_setup wait_estimates
machine_facts
glmq_and_model 300 --preset bench
echo "== glmq wait-estimate benchmark"
echo "machine: $(machine_line)"
echo "glmq:    $GLMQ_BIN (commit $git_rev)"
echo "model:   $MODEL_NOTE"
# shellcheck disable=SC2206  # flags split on purpose
EXTRA=(${WAIT_SERVE_FLAGS:-})
echo "serve:   --parallel $PARALLEL ${EXTRA[*]}; $JOBS jobs, $QUESTIONS a document, exponential gaps of mean $GAP ms, seed $SEED"
GATEWAYS=${WAIT_GATEWAYS:-0}
if ((GATEWAYS == 0)); then
  serve_glmq serve --parallel "$PARALLEL" --ctx-size 32768 "${EXTRA[@]}" || die "glmq did not start"
  URLS=http://127.0.0.1:$PORT
else
  # shellcheck disable=SC2206  # flags split on purpose
  GATEWAY_FLAGS=(${WAIT_GATEWAY_FLAGS:-})
  echo "gateways: $GATEWAYS, each with --count-tokens true ${GATEWAY_FLAGS[*]}; one worker"
  start_redis "$TMP/redis" || die "redis-server did not start"
  redis_url=redis://127.0.0.1:$REDIS_PORT/0
  redis_glmq worker worker "$redis_url" --parallel "$PARALLEL" --ctx-size 32768 ||
    die "the worker did not start"
  URLS=""
  for ((g = 1; g <= GATEWAYS; g++)); do
    HELPER_PIDS+=("$SERVER_PID")
    redis_glmq gateway "gateway-$g" "$redis_url" --ctx-size 32768 --count-tokens true \
      "${GATEWAY_FLAGS[@]}" || die "gateway $g did not start"
    URLS+=${URLS:+,}http://127.0.0.1:$PORT
  done
fi
"$WAIT_BENCH_BIN" --url "$URLS" --jobs "$JOBS" --seed "$SEED" \
  --mean-gap-ms "$GAP" --questions-per-document "$QUESTIONS"
