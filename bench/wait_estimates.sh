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
serve_glmq serve --parallel "$PARALLEL" --ctx-size 32768 "${EXTRA[@]}" || die "glmq did not start"
"$WAIT_BENCH_BIN" --url "http://127.0.0.1:$PORT" --jobs "$JOBS" --seed "$SEED" \
  --mean-gap-ms "$GAP" --questions-per-document "$QUESTIONS"
