#!/usr/bin/env bash
# glmq submit benchmark (`make bench`). Builds nothing: it uses $GLMQ_BIN (default
# $BUILD/glmq) and $BUILD/accept_large, both built by `make build`.
#
#  a. wrk: POST /v1/jobs with a ~1 KB document, a question and max_tokens 1, for
#     $BENCH_DURATION with 2 threads and 32 connections, against a real `glmq serve` (SQLite
#     store on disk, fsync per group commit; the engine runs every job it accepts).
#  b. accept_large: 1 MiB and 10 MiB documents over one keep-alive connection, client round
#     trip and server time (Server-Timing) per request: with the default test model (32768
#     tokens of context, so the answer is 422 prompt_too_long after the full accept
#     decision) and, if it fits, with a model and context large enough to accept them (202).
#  c. a markdown summary to paste into the README.
#
# Environment: BUILD (build dir, default build), GLMQ_BIN, ACCEPT_LARGE_BIN,
# BENCH_DURATION (10s), BENCH_REPEAT (5), BENCH_BIG_CTX (6000000; 0 skips the big context),
# BENCH_TMPDIR (where the temporary directory goes; default $TMPDIR or /tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"  # BUILD, GLMQ_BIN, and the helpers the script calls
ACCEPT_LARGE_BIN=${ACCEPT_LARGE_BIN:-$BUILD/accept_large}
DURATION=${BENCH_DURATION:-10s}
REPEAT=${BENCH_REPEAT:-5}
BIG_CTX=${BENCH_BIG_CTX:-6000000}
BIG_MODEL_CTX=8000000
WRK_THREADS=2
WRK_CONNECTIONS=32

die() { echo "bench: $*" >&2; exit 1; }
[[ -x $GLMQ_BIN ]] || die "no glmq binary at $GLMQ_BIN (run 'make build' or set GLMQ_BIN)"
[[ -x $ACCEPT_LARGE_BIN ]] || die "no accept_large at $ACCEPT_LARGE_BIN (run 'make build')"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"

bench_setup bench
SERVER_LOG=""

# start_server NAME MODEL [serve flags...]: starts `glmq serve` on a free port (port 0, the
# bound port read back from its log) with a fresh data dir, and waits for /healthz
# (wait_ready).
start_server() {
  local name=$1 model=$2
  shift 2
  SERVER_LOG=$TMP/$name.log
  : >"$SERVER_LOG"
  "$GLMQ_BIN" serve --model "$model" --host 127.0.0.1 --port 0 \
    --data-dir "$TMP/data-$name" "$@" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  PORT=""
  wait_ready "server '$name'" "$SERVER_LOG" /healthz
}

machine_facts
echo "== glmq submit benchmark"
echo "machine: $(machine_line)"
echo "binary:  $GLMQ_BIN (commit $git_rev)"
echo "tmp:     $TMP ($fs_type)"

MODEL=$TMP/test-model.gguf
make_test_model "$GLMQ_BIN" "$MODEL" 120

# --- a. submit throughput ------------------------------------------------------------------
echo
echo "== a. submit throughput: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION, ~1 KB text, max_tokens 1"
start_server submit "$MODEL" || die "the submit server did not start"
URL=http://127.0.0.1:$PORT
echo "server:  $GLMQ_BIN serve --model test-model.gguf --port 0 --data-dir <fresh> (listening on $PORT)"
WRK_CMD="wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION --timeout 10s --latency -s bench/submit.lua $URL/v1/jobs"
echo "client:  $WRK_CMD"
timeout 120 wrk "-t$WRK_THREADS" "-c$WRK_CONNECTIONS" "-d$DURATION" --timeout 10s --latency \
  -s "$ROOT/bench/submit.lua" "$URL/v1/jobs" | tee "$TMP/wrk.out"
queue_after=$(curl -fsS -m 10 "$URL/v1/queue" | jq -c '{queued, totals}' 2>/dev/null || echo "?")
echo "queue right after the run: $queue_after"
stop_server

result_line=$(grep '^SUBMIT_RESULT ' "$TMP/wrk.out" || true)
[[ -n $result_line ]] || die "wrk printed no SUBMIT_RESULT line"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result_line"; }
rps=$(field rps)
p50=$(field p50_ms)
p99=$(field p99_ms)
non202=$(field non202)
sockerr=$(field socket_errors)
requests=$(field requests)

# --- b. large documents --------------------------------------------------------------------
# The default max body (64 MiB) is set explicitly, as is --ctx-size 0: min(model's context,
# 32768) tokens.
ACCEPT_FLAGS=(--ctx-size 0 --max-body-bytes 67108864)
echo
echo "== b. large documents: POST /v1/jobs, $REPEAT times per size over one keep-alive connection"
echo "   client_ms = round trip seen by libcurl; server_ms = Server-Timing app;dur (request read"
echo "   -> response ready: JSON parse, tokenization, fit check, ordering, SQLite insert);"
echo "   outside_ms = client_ms - server_ms (sending the body, reading the header, the answer)."
start_server accept "$MODEL" "${ACCEPT_FLAGS[@]}" || die "the accept server did not start"
echo "server:  glmq serve --model test-model.gguf ${ACCEPT_FLAGS[*]} (context $(curl -fsS -m 10 "http://127.0.0.1:$PORT/v1/queue" | jq -r .engine.ctx_size) tokens)"
timeout 600 "$ACCEPT_LARGE_BIN" --url "http://127.0.0.1:$PORT" --mib 1 --mib 10 \
  --repeat "$REPEAT" --max-tokens 1 --label ctx32k | tee "$TMP/accept.out"
stop_server

BIG_MODEL=$TMP/test-model-8m.gguf
big_note=""
if ((BIG_CTX > 0)); then
  echo
  echo "-- with a context that takes 10 MiB: make-test-model --ctx $BIG_MODEL_CTX, serve --ctx-size $BIG_CTX"
  echo "   (KV $((BIG_CTX * 256 / 1048576)) MiB at 256 B/token; each accepted job is cancelled right"
  echo "   after its answer and the next request waits until the server is idle, untimed, so the"
  echo "   engine is not tokenizing or reading one document while the next one is accepted)"
  if timeout 120 "$GLMQ_BIN" make-test-model --out "$BIG_MODEL" --ctx "$BIG_MODEL_CTX" \
      >"$TMP/make-big-model.log" 2>&1 &&
    start_server accept-big "$BIG_MODEL" --ctx-size "$BIG_CTX" --max-body-bytes 67108864; then
    timeout 600 "$ACCEPT_LARGE_BIN" --url "http://127.0.0.1:$PORT" --mib 1 --mib 10 \
      --repeat "$REPEAT" --max-tokens 1 --cancel --label ctx6m | tee -a "$TMP/accept.out" ||
      big_note="the large-context run failed (see above)"
    stop_server
  else
    big_note="skipped: a server with --ctx-size $BIG_CTX did not start on this machine"
    echo "NOTE: $big_note"
  fi
else
  big_note="skipped (BENCH_BIG_CTX=0)"
fi

# --- c. summary ----------------------------------------------------------------------------
# RESULT|label|MiB|body bytes|n|status|client median ms|server median ms|first answer
accept_row() {
  local label=$1 mib=$2 line
  line=$(grep "^RESULT|$label|$mib|" "$TMP/accept.out" | head -n 1 || true)
  if [[ -z $line ]]; then
    echo "| $3 | - | - | - | ${big_note:-no result} |"
    return
  fi
  IFS="|" read -r _ _ _ _ _ status client server answer <<<"$line"
  if [[ $answer =~ ^prompt_tokens=([0-9]+) ]]; then
    answer="accepted, prompt_tokens ${BASH_REMATCH[1]}"
  elif [[ $answer =~ ^([a-z_]+):\ prompt_tokens\ \(([0-9]+)\) ]]; then
    answer="${BASH_REMATCH[1]}, prompt_tokens ${BASH_REMATCH[2]}"
  fi
  echo "| $3 | $status | $client | $server | $answer |"
}

echo
echo "== c. summary (markdown)"
echo
cat <<EOF
Machine: $cores CPUs ($cpu_model), data dir on $fs_type; glmq $git_rev, \`glmq make-test-model\`
default model (random weights), server and client on the same machine.
Command: \`make bench\` (= \`bash bench/run.sh\`).

| submit benchmark | submits/s (202) | p50 | p99 | non-202 | socket errors |
|---|---|---|---|---|---|
| \`wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION --latency -s bench/submit.lua\`, ~1 KB text, max_tokens 1 ($requests answers) | $rps | $p50 ms | $p99 ms | $non202 | $sockerr |

| large document (\`build/accept_large\`, median of $REPEAT, one keep-alive connection) | status | client round trip (ms) | server time (ms) | answer |
|---|---|---|---|---|
$(accept_row ctx32k 1 "1 MiB, test model, context 32768")
$(accept_row ctx32k 10 "10 MiB, test model, context 32768")
$(accept_row ctx6m 1 "1 MiB, test model (ctx $BIG_MODEL_CTX), --ctx-size $BIG_CTX")
$(accept_row ctx6m 10 "10 MiB, test model (ctx $BIG_MODEL_CTX), --ctx-size $BIG_CTX")
EOF
