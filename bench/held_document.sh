#!/usr/bin/env bash
# Held-document benchmark: a document waiting for KV must block nothing.
#
# glmq serve with a context that fits a long document (~$HELD_LONG_TOKENS tokens) or a
# ~1M-token one ($HELD_TOKENS), not both; short questions arrive while the first is read
# (bench/held_document.cc). Three runs on one machine, one server at a time:
#   alone:         the first document and the questions, no held document;
#   backfill on:   the held document submitted right after the first (the default);
#   backfill off:  the same with --backfill off (nothing passes the held document).
# Prints each run, then a table: the first document's time and the questions' p95 against
# the run without the held document, and the held document's start (when it began reading)
# with backfilling on and off. Goals: the document within 5 %, the questions' p95 within
# 1.5x, the held document starting no later with backfilling than without.
#
# Environment: BUILD, GLMQ_BIN, HELD_BENCH_BIN ($BUILD/held_document), BENCH_MODEL (default:
# the generated test model with a 1M-token context), HELD_CTX (1020000), HELD_PARALLEL (4),
# HELD_LONG_TOKENS (48000), HELD_TOKENS (980000), HELD_SHORTS (4), HELD_SHORT_INTERVAL_MS
# (2000), HELD_RUN_TIMEOUT (900 s a run), BENCH_TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
HELD_BENCH_BIN=${HELD_BENCH_BIN:-$BUILD/held_document}
CTX=${HELD_CTX:-1020000}
PARALLEL=${HELD_PARALLEL:-4}
LONG_TOKENS=${HELD_LONG_TOKENS:-48000}
HELD=${HELD_TOKENS:-980000}
SHORTS=${HELD_SHORTS:-4}
INTERVAL=${HELD_SHORT_INTERVAL_MS:-2000}
RUN_TIMEOUT=${HELD_RUN_TIMEOUT:-900}

die() { echo "held_document: $*" >&2; exit 1; }
[[ -x $GLMQ_BIN ]] || die "no glmq binary at $GLMQ_BIN (run 'make build' or set GLMQ_BIN)"
[[ -x $HELD_BENCH_BIN ]] || die "no held_document at $HELD_BENCH_BIN (run 'make build')"

bench_setup held_document
machine_facts
glmq_and_model 120 --ctx 1048576
echo "== glmq held-document benchmark"
echo "machine: $(machine_line)"
echo "glmq:    $GLMQ_BIN (commit $git_rev)"
echo "model:   $MODEL_NOTE"
echo "serve:   --ctx-size $CTX --parallel $PARALLEL; documents of $LONG_TOKENS and $HELD tokens;" \
  "$SHORTS questions, one every $INTERVAL ms from 1 s"

# run NAME HELD [serve flags...]: one server, one client run; the HELD_RESULT line kept.
run() {
  local name=$1 held=$2
  shift 2
  serve_glmq "$name" --parallel "$PARALLEL" --ctx-size "$CTX" --prefix-cache off "$@" ||
    die "glmq did not start"
  echo
  echo "== $name"
  timeout "$RUN_TIMEOUT" "$HELD_BENCH_BIN" --url "http://127.0.0.1:$PORT" --long-tokens \
    "$LONG_TOKENS" --held "$held" --held-tokens "$HELD" --shorts "$SHORTS" \
    --short-interval-ms "$INTERVAL" --timeout-s "$((RUN_TIMEOUT - 30))" | tee "$TMP/$name.out" ||
    echo "held_document: the $name run did not succeed" >&2
  stop_server
}

run alone 0
run backfill-on 1 --backfill on
run backfill-off 1 --backfill off

field() { sed -n "s/^HELD_RESULT.* $2=\([-0-9.]*\).*/\1/p" "$TMP/$1.out"; }
python3 - "$(field alone long_s)" "$(field alone short_p95_s)" "$(field backfill-on long_s)" \
  "$(field backfill-on short_p95_s)" "$(field backfill-on held_start_s)" \
  "$(field backfill-off long_s)" "$(field backfill-off short_p95_s)" \
  "$(field backfill-off held_start_s)" "$(field backfill-on held_after_long_s)" \
  "$(field backfill-off held_after_long_s)" <<'PY'
import sys
v = [float(x) if x else float("nan") for x in sys.argv[1:]]
alone_long, alone_p95, on_long, on_p95, on_held, off_long, off_p95, off_held, on_after, off_after = v
print()
print("| run | document s | vs alone | questions p95 s | vs alone | held starts at s | after the document ends |")
print("|---|---|---|---|---|---|---|")
print(f"| alone | {alone_long:.2f} | 1.00x | {alone_p95:.2f} | 1.00x | - | - |")
for name, l, p, h, a in (("held, backfill on", on_long, on_p95, on_held, on_after),
                         ("held, backfill off", off_long, off_p95, off_held, off_after)):
    print(f"| {name} | {l:.2f} | {l / alone_long:.2f}x | {p:.2f} | {p / alone_p95:.2f}x | {h:.2f} | +{a:.2f} s |")
print()
ok = lambda b: "met" if b else "NOT met"
print(f"goal: document within 5 % of alone (backfill on): {on_long / alone_long:.3f}x {ok(on_long <= 1.05 * alone_long)}")
print(f"goal: questions' p95 within 1.5x of alone (backfill on): {on_p95 / alone_p95:.2f}x {ok(on_p95 <= 1.5 * alone_p95)}")
print(f"goal: held document starts no later with backfilling: {on_held:.2f} s vs {off_held:.2f} s "
      f"({on_held / off_held:.3f}x) {ok(on_held <= off_held)}")
print(f"      after the document it waits for ends: +{on_after:.2f} s with backfilling, "
      f"+{off_after:.2f} s without (the questions beside the document take engine time, "
      "not the memory the held one needs)")
PY
