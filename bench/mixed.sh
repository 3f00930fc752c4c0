#!/usr/bin/env bash
# Mixed-workload benchmark: glmq against llama.cpp's own server (llama-server, built from the
# same pinned source by bench/build-llama-server.sh), on the same machine, in one run.
#
# The workload (bench/mixed_bench.cc): one long document of at least $MIXED_LONG_TOKENS
# prompt tokens submitted first, then $MIXED_SHORT short questions (~100 tokens each), one
# every $MIXED_SHORT_INTERVAL_MS ms while it is read. Model: `glmq make-test-model --preset
# bench` (~280M parameters, random weights) unless $BENCH_MODEL names one. Both servers get
# --parallel $MIXED_PARALLEL and --ctx-size $MIXED_CTX as one KV pool shared by all
# sequences (glmq always does this; llama-server needs --kv-unified, or each of its slots
# gets ctx/parallel tokens and the document does not fit). One server at a time, each fully
# stopped before the next starts: llama-server first, then glmq once per value in
# $MIXED_STEP_TARGETS (its --step-target-ms; empty = glmq's default). glmq reads exactly the
# document llama-server read (same bytes). Prints each run, then one markdown table with
# the ratios glmq/llama-server against the goals.
#
# Builds nothing but llama-server, if missing (bench/build-llama-server.sh; slow, once).
# Environment: BUILD (build dir, default build), GLMQ_BIN ($BUILD/glmq),
# MIXED_BENCH_BIN ($BUILD/mixed_bench), LLAMA_SERVER_BIN (from build-llama-server.sh),
# BENCH_MODEL, MIXED_CTX (32768), MIXED_PARALLEL (8), MIXED_THREADS ($(nproc)),
# MIXED_LONG_TOKENS (16384), MIXED_SHORT (40), MIXED_SHORT_INTERVAL_MS (750),
# MIXED_SHORT_START_MS (1000), MIXED_SHORT_MAX_TOKENS (32), MIXED_LONG_MAX_TOKENS (64),
# MIXED_SEED (1), MIXED_STEP_TARGETS (""), MIXED_RUN_TIMEOUT (600 s per server run),
# MIXED_SAME_DOCUMENT (0; 1: the short jobs ask about the long document, so a server that
# reuses its KV reads it once), MIXED_GLMQ_VARIANTS (glmq runs as sets of serve flags
# separated by ';', e.g. "--prefix-cache off;--prefix-cache on"; replaces
# MIXED_STEP_TARGETS, whose values otherwise make one run each),
# MIXED_PEER (1; 0 skips llama-server while tuning glmq: no ratios then), MIXED_LLAMA_FLAGS
# (more llama-server flags, e.g. "-ngl 999 -fa on" on a GPU),
# BENCH_TMPDIR (where the temporary directory goes; default $TMPDIR or /tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"  # BUILD, GLMQ_BIN, and the helpers the script calls
MIXED_BENCH_BIN=${MIXED_BENCH_BIN:-$BUILD/mixed_bench}
CTX=${MIXED_CTX:-32768}
PARALLEL=${MIXED_PARALLEL:-8}
THREADS=${MIXED_THREADS:-$(nproc)}
LONG_TOKENS=${MIXED_LONG_TOKENS:-16384}
SHORT=${MIXED_SHORT:-40}
SHORT_INTERVAL_MS=${MIXED_SHORT_INTERVAL_MS:-750}
SHORT_START_MS=${MIXED_SHORT_START_MS:-1000}
SHORT_MAX_TOKENS=${MIXED_SHORT_MAX_TOKENS:-32}
LONG_MAX_TOKENS=${MIXED_LONG_MAX_TOKENS:-64}
SEED=${MIXED_SEED:-1}
SAME_DOCUMENT=${MIXED_SAME_DOCUMENT:-0}
STEP_TARGETS=${MIXED_STEP_TARGETS:-}
PEER=${MIXED_PEER:-1}
RUN_TIMEOUT=${MIXED_RUN_TIMEOUT:-600}
START_TIMEOUT=180

die() { echo "mixed: $*" >&2; exit 1; }
[[ -x $GLMQ_BIN ]] || die "no glmq binary at $GLMQ_BIN (run 'make build' or set GLMQ_BIN)"
[[ -x $MIXED_BENCH_BIN ]] || die "no mixed_bench at $MIXED_BENCH_BIN (run 'make build')"
command -v curl >/dev/null || die "curl is not installed"
command -v python3 >/dev/null || die "python3 is not installed (used to find a free port)"
if [[ $PEER == 0 ]]; then
  LLAMA_SERVER_BIN=""
elif [[ -z ${LLAMA_SERVER_BIN:-} ]]; then
  echo "mixed: locating llama-server (builds it once if missing; that takes a while)" >&2
  LLAMA_SERVER_BIN=$(timeout 3600 "$ROOT/bench/build-llama-server.sh") ||
    die "bench/build-llama-server.sh failed"
fi
[[ $PEER == 0 || -x $LLAMA_SERVER_BIN ]] || die "no llama-server at $LLAMA_SERVER_BIN"

bench_setup mixed

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_llama_server() {
  local log=$TMP/llama-server.log
  PORT=$(free_port)
  local extra=()
  read -r -a extra <<<"${MIXED_LLAMA_FLAGS:-}"
  LLAMA_CMD="llama-server -m MODEL --host 127.0.0.1 --port $PORT --parallel $PARALLEL --ctx-size $CTX --kv-unified --threads $THREADS${extra[*]:+ ${extra[*]}}"
  "$LLAMA_SERVER_BIN" -m "$MODEL" --host 127.0.0.1 --port "$PORT" --parallel "$PARALLEL" \
    --ctx-size "$CTX" --kv-unified --threads "$THREADS" "${extra[@]}" >"$log" 2>&1 &
  SERVER_PID=$!
  wait_ready llama-server "$log" /health "$START_TIMEOUT" || { LLAMA_CMD=""; return 1; }
}

# start_glmq NAME [serve flags...]: port 0, the bound port read back from the log.
start_glmq() {
  local name=$1
  shift
  local log=$TMP/$name.log
  : >"$log"
  "$GLMQ" serve --model "$MODEL" --host 127.0.0.1 --port 0 --data-dir "$TMP/data-$name" \
    --parallel "$PARALLEL" --ctx-size "$CTX" --threads "$THREADS" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  PORT=""
  wait_ready "glmq ($name)" "$log" /readyz "$START_TIMEOUT"
}

# run_bench NAME TARGET [mixed_bench flags...]: output to $TMP/NAME.out and the terminal.
run_bench() {
  local name=$1 target=$2
  shift 2
  echo "load before: $(uptime | sed 's/.*load average/load average/')"
  local rc=0
  timeout "$RUN_TIMEOUT" "$MIXED_BENCH_BIN" --target "$target" --url "http://127.0.0.1:$PORT" \
    "${BENCH_ARGS[@]}" --job-timeout-s "$((RUN_TIMEOUT - 30))" "$@" | tee "$TMP/$name.out" ||
    rc=$?
  echo "load after:  $(uptime | sed 's/.*load average/load average/')"
  ((rc == 0)) || echo "mixed: mixed_bench against $name exited with $rc" >&2
}

machine_facts
# A copy, so that a rebuild during the run does not swap the binary under it.
GLMQ=$TMP/glmq
cp "$GLMQ_BIN" "$GLMQ"

echo "== glmq mixed-workload benchmark"
echo "machine: $(machine_line)"
echo "load:    $(uptime)"
echo "glmq:    $GLMQ_BIN (commit $git_rev)"
echo "llama:   $LLAMA_SERVER_BIN"

if [[ -n ${BENCH_MODEL:-} ]]; then
  MODEL=$BENCH_MODEL
  [[ -f $MODEL ]] || die "BENCH_MODEL $MODEL does not exist"
  MODEL_NOTE=$(basename "$MODEL")
else
  MODEL=$TMP/bench-model.gguf
  make_test_model "$GLMQ" "$MODEL" 300 --preset bench
  MODEL_NOTE="glmq make-test-model --preset bench (random weights)"
fi
echo "model:   $MODEL_NOTE"

BENCH_ARGS=(--long-tokens "$LONG_TOKENS" --short "$SHORT" --short-interval-ms "$SHORT_INTERVAL_MS"
  --short-start-ms "$SHORT_START_MS" --short-max-tokens "$SHORT_MAX_TOKENS"
  --long-max-tokens "$LONG_MAX_TOKENS" --seed "$SEED" --same-document "$SAME_DOCUMENT")
echo "client:  mixed_bench ${BENCH_ARGS[*]}"

# --- llama-server ----------------------------------------------------------------------------
echo
echo "== llama-server"
LLAMA_CMD=""
if [[ $PEER == 0 ]]; then
  echo "skipped (MIXED_PEER=0)"
elif start_llama_server; then
  echo "server:  $LLAMA_CMD"
  run_bench llama-server llama-server
else
  echo "mixed: llama-server did not start; its row stays empty" >&2
fi
stop_server

# The same document for glmq: the bytes llama-server read (its tokenizer may have grown it).
doc_bytes=$(sed -n 's/^MIXED_RESULT .* doc_bytes=\([0-9]*\).*/\1/p' "$TMP/llama-server.out" 2>/dev/null || true)
[[ -z $doc_bytes ]] || BENCH_ARGS+=(--long-bytes "$doc_bytes")

# --- glmq, once per variant ------------------------------------------------------------------
variants=()
if [[ -n ${MIXED_GLMQ_VARIANTS:-} ]]; then
  IFS=';' read -r -a variants <<<"$MIXED_GLMQ_VARIANTS"
else
  for target in $STEP_TARGETS; do variants+=("--step-target-ms $target"); done
fi
((${#variants[@]} > 0)) || variants=("")
GLMQ_RUNS=()
declare -A LABELS
for variant in "${variants[@]}"; do
  name=glmq-$((${#GLMQ_RUNS[@]} + 1))
  read -r -a flags <<<"$variant"
  LABELS[$name]="glmq${variant:+, $variant}"
  echo
  echo "== ${LABELS[$name]}"
  if start_glmq "$name" "${flags[@]}"; then
    echo "server:  glmq serve --model MODEL --host 127.0.0.1 --port 0 --parallel $PARALLEL --ctx-size $CTX --threads $THREADS ${flags[*]}"
    grep -m1 'calibrated' "$TMP/$name.log" | sed 's/^.*\] /         /' || true
    run_bench "$name" glmq
  else
    echo "mixed: glmq ($name) did not start; its row stays empty" >&2
  fi
  stop_server
  GLMQ_RUNS+=("$name")
done

# --- table -----------------------------------------------------------------------------------
# field NAME KEY: a value from NAME's MIXED_RESULT line, or "-".
field() {
  local v
  v=$(sed -n "s/^MIXED_RESULT .* $2=\([^ ]*\).*/\1/p" "$TMP/$1.out" 2>/dev/null | head -n 1)
  echo "${v:--}"
}
# ratio A B GOAL-OP GOAL: A/B with a check mark against the goal, or "-".
ratio() {
  awk -v a="$1" -v b="$2" -v op="$3" -v g="$4" 'BEGIN {
    if (a == "-" || b == "-" || a < 0 || b <= 0) { print "-"; exit }
    r = a / b
    ok = (op == ">=") ? (r >= g) : (r <= g)
    printf "%.3f %s", r, ok ? "(met)" : "(missed)"
  }'
}
row() {
  local name=$1 label=$2
  local tps p50 p95 pmax long failed prompt read before wall cached
  tps=$(field "$name" tokens_per_s)
  wall=$(field "$name" wall_s)
  cached=$(field "$name" cached_tokens)
  p50=$(field "$name" short_p50_s)
  p95=$(field "$name" short_p95_s)
  pmax=$(field "$name" short_max_s)
  long=$(field "$name" long_s)
  failed=$(field "$name" failed)
  prompt=$(field "$name" long_prompt_tokens)
  read=$(field "$name" long_read_s)
  [[ $read != -* ]] || read=-  # the sampler did not see the document fully read
  before=$(field "$name" shorts_before_long)
  local r_tps="" r_p95="" r_long=""
  if [[ $name != llama-server ]]; then
    r_tps=$(ratio "$tps" "$(field llama-server tokens_per_s)" ">=" 0.9)
    r_p95=$(ratio "$p95" "$(field llama-server short_p95_s)" "<=" 0.1)
    r_long=$(ratio "$long" "$(field llama-server long_s)" "<=" 1.3)
  fi
  echo "| $label | $wall | $tps | $p50 | $p95 | $pmax | $long | $read | $prompt | $cached | $before/$SHORT | $failed | $r_tps | $r_p95 | $r_long |"
}

doc_tokens=$(field llama-server long_prompt_tokens)
[[ $doc_tokens != - || ${#GLMQ_RUNS[@]} -eq 0 ]] || doc_tokens=$(field "${GLMQ_RUNS[0]}" long_prompt_tokens)

short_kind="of ~100 tokens"
[[ $SAME_DOCUMENT == 0 ]] || short_kind="about that document (its text and a question each)"

echo
echo "== summary (markdown)"
echo
cat <<EOF
Machine: $cores CPUs ($cpu_model); load average at the end: $(uptime | sed 's/.*load average: //').
Model: $MODEL_NOTE. glmq $git_rev; llama-server from the same pinned llama.cpp.
Workload: one document of $doc_tokens prompt tokens (max_tokens $LONG_MAX_TOKENS) first, then $SHORT questions $short_kind (max_tokens $SHORT_MAX_TOKENS), one every $SHORT_INTERVAL_MS ms from $SHORT_START_MS ms; temperature 0.
Servers (one at a time): \`${LLAMA_CMD:-llama-server (did not start)}\`; \`glmq serve --model MODEL --parallel $PARALLEL --ctx-size $CTX --threads $THREADS [variant flags]\`.
Command: \`MIXED_SAME_DOCUMENT=$SAME_DOCUMENT MIXED_GLMQ_VARIANTS="${MIXED_GLMQ_VARIANTS:-}" MIXED_STEP_TARGETS="$STEP_TARGETS" bench/mixed.sh\` (client: \`mixed_bench ${BENCH_ARGS[*]}\`).

| system | wall s | total tokens/s | short p50 s | short p95 s | short max s | long s | document read by s | long prompt tokens | cached prompt tokens | shorts done before long | failed jobs | tokens/s ratio (goal ≥ 0.9) | short p95 ratio (goal ≤ 0.1) | long ratio (goal ≤ 1.3) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
$(row llama-server llama-server)
$(for name in "${GLMQ_RUNS[@]}"; do row "$name" "${LABELS[$name]}"; done)
EOF
