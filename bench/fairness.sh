#!/usr/bin/env bash
# Fairness benchmark: two tenants on one `glmq serve` (bench/fairness.cc). Tenant A submits
# $FAIR_A_DOCS documents of ~$FAIR_A_DOC_TOKENS tokens at once; tenant B then submits
# $FAIR_B_QUESTIONS short questions, one every $FAIR_B_INTERVAL_MS ms. Three runs, one server
# at a time, the generated bench model:
#   B alone:         B's questions on an idle server;
#   fair share on:   beside A's backlog (the default, --fair-share on);
#   fair share off:  the same with --fair-share off (the queue's global order).
# Every run keeps one sequence for short jobs (--short-slots 1): the tenants' order decides
# whose job takes it. Prints each run, then a table: B's p50/p95 and p95 against B alone, and the largest gap in
# weighted service between the two backlogged tenants against VTC's bound. Goals: B's p95
# within 2x of B alone with fair share on; the gap within the bound.
#
# Environment: BUILD, GLMQ_BIN, FAIR_BENCH_BIN ($BUILD/fairness), BENCH_MODEL (default: the
# generated bench model), FAIR_PARALLEL (4), FAIR_A_DOCS (200), FAIR_A_DOC_TOKENS (6000:
# about 5,100 of the bench model's tokens, medium documents past --medium-prompt-tokens 4096),
# FAIR_B_QUESTIONS (20), FAIR_B_INTERVAL_MS (1500), FAIR_TIMEOUT (240 s a question),
# FAIR_SERVE_FLAGS (more serve flags for every run), BENCH_TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
FAIR_BENCH_BIN=${FAIR_BENCH_BIN:-$BUILD/fairness}
PARALLEL=${FAIR_PARALLEL:-4}
A_DOCS=${FAIR_A_DOCS:-200}
A_DOC_TOKENS=${FAIR_A_DOC_TOKENS:-6000}
B_QUESTIONS=${FAIR_B_QUESTIONS:-20}
B_INTERVAL=${FAIR_B_INTERVAL_MS:-1500}
TIMEOUT=${FAIR_TIMEOUT:-240}

die() { echo "fairness: $*" >&2; exit 1; }
[[ -x $GLMQ_BIN ]] || die "no glmq binary at $GLMQ_BIN (run 'make build' or set GLMQ_BIN)"
[[ -x $FAIR_BENCH_BIN ]] || die "no fairness at $FAIR_BENCH_BIN (run 'make build')"

bench_setup fairness
machine_facts
glmq_and_model 300 --preset bench
KEY_A=glmq_bench_tenant_a_0123456789abcdef
KEY_B=glmq_bench_tenant_b_0123456789abcdef
printf 'tenant-a submit %s\ntenant-b submit %s\n' "$KEY_A" "$KEY_B" >"$TMP/keys"
# shellcheck disable=SC2206  # flags split on purpose
EXTRA=(${FAIR_SERVE_FLAGS:-})
echo "== glmq fairness benchmark"
echo "machine: $(machine_line)"
echo "glmq:    $GLMQ_BIN (commit $git_rev)"
echo "model:   $MODEL_NOTE"
echo "serve:   --parallel $PARALLEL --ctx-size 65536 --short-slots 1 ${EXTRA[*]}; A: $A_DOCS documents of" \
  "~$A_DOC_TOKENS tokens at once; B: $B_QUESTIONS questions, one every $B_INTERVAL ms from 3 s"

# run NAME A_DOCS [serve flags...]: one server, one client run; the FAIR_RESULT line kept.
run() {
  local name=$1 docs=$2
  shift 2
  serve_glmq "$name" --parallel "$PARALLEL" --ctx-size 65536 --api-keys-file "$TMP/keys" \
    --short-slots 1 "${EXTRA[@]}" "$@" || die "glmq did not start"
  echo
  echo "== $name"
  "$FAIR_BENCH_BIN" --url "http://127.0.0.1:$PORT" --key-a "$KEY_A" --key-b "$KEY_B" \
    --a-docs "$docs" --a-doc-tokens "$A_DOC_TOKENS" --b-questions "$B_QUESTIONS" \
    --b-interval-ms "$B_INTERVAL" --timeout-s "$TIMEOUT" | tee "$TMP/$name.out" ||
    echo "fairness: not every question of the $name run succeeded" >&2
  stop_server
}

run b-alone 0
run fair-on "$A_DOCS" --fair-share on
run fair-off "$A_DOCS" --fair-share off

field() { sed -n "s/^FAIR_RESULT.* $2=\([-0-9.]*\).*/\1/p" "$TMP/$1.out"; }
python3 - "$(field b-alone b_p50_s)" "$(field b-alone b_p95_s)" \
  "$(field fair-on b_p50_s)" "$(field fair-on b_p95_s)" "$(field fair-on gap_max)" \
  "$(field fair-on bound)" "$(field fair-on b_done)" \
  "$(field fair-off b_p50_s)" "$(field fair-off b_p95_s)" "$(field fair-off gap_max)" \
  "$(field fair-off bound)" "$(field fair-off b_done)" "$B_QUESTIONS" <<'PY'
import sys
v = [float(x) if x else float("nan") for x in sys.argv[1:]]
alone50, alone95, on50, on95, ongap, onbound, ondone, off50, off95, offgap, offbound, offdone, n = v
print()
print("| run | B p50 s | B p95 s | p95 vs B alone | questions ended | largest service gap | VTC bound |")
print("|---|---|---|---|---|---|---|")
print(f"| B alone | {alone50:.2f} | {alone95:.2f} | 1.00x | - | - | - |")
for name, p50, p95, gap, bound, done in (("fair share on", on50, on95, ongap, onbound, ondone),
                                         ("fair share off", off50, off95, offgap, offbound, offdone)):
    print(f"| {name} | {p50:.2f} | {p95:.2f} | {p95 / alone95:.2f}x | {done:.0f}/{n:.0f} | "
          f"{gap:.0f} | {bound:.0f} |")
PY
