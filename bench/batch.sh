#!/usr/bin/env bash
# The Batch API's benchmark: glmq's batches against the same requests sent to llama.cpp's own
# server (llama-server, built from the same pinned source by bench/build-llama-server.sh) as
# concurrent chat completions, on the same machine, one server at a time.
#
# The workload (bench/batch_bench.cc): $BATCH_QUESTIONS questions about each of $BATCH_DOCS
# generated documents of ~$BATCH_DOC_BYTES bytes, max_tokens $BATCH_MAX_TOKENS, temperature 0;
# the file's lines in $BATCH_ORDER order (interleaved: question by question across the
# documents, as a file gathered from many users would be; grouped: each document's questions
# together). Three runs:
#   1. llama-server --parallel P --kv-unified: the requests as chat completions, P at a time,
#      once per variant in $BATCH_PEER_VARIANTS (sets of extra flags separated by ';', e.g.
#      ";--cache-ram 0": as it comes, then without its prompt cache in host memory, which
#      keeps earlier prompts' KV and finds a document again however many came between);
#   2. glmq serve --parallel P: one batch of the same lines, uploaded, created, polled to its
#      end (glmq puts the lines of one document next to each other in the queue, so its
#      prefix cache reads each document once);
#   3. ingest: glmq serve, a batch of $BATCH_INGEST_LINES lines (50,000) about 100 documents,
#      timed from the start of its upload to in_progress, then cancelled.
# With BATCH_STORE=redis, runs 2 and 3 go to `glmq gateway` and one `glmq worker` (the engine
# flags) on a durable Redis (appendfsync always), a fresh one for each run, instead of serve.
# Prints each run, then a table with the ratio llama-server / glmq end to end (goal >= 5x)
# and the ingest times (goal < 5 s for 50,000 lines).
#
# Environment: BUILD (build), GLMQ_BIN, BATCH_BENCH_BIN ($BUILD/batch_bench),
# LLAMA_SERVER_BIN (from build-llama-server.sh), BENCH_MODEL (default: a generated model,
# `make-test-model --preset $BATCH_PRESET`, bench), BATCH_DOCS (100), BATCH_QUESTIONS (50),
# BATCH_DOC_BYTES (400), BATCH_MAX_TOKENS (4), BATCH_ORDER (interleaved), BATCH_PARALLEL (8),
# BATCH_CTX (32768), BATCH_THREADS ($(nproc)), BATCH_INGEST_LINES (50000; 0 skips the
# ingest run), BATCH_PEER (1; 0 skips llama-server), BATCH_PEER_VARIANTS (""),
# BATCH_TIMEOUT (3600 s per run), BATCH_STORE (serve | redis), BENCH_TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
BATCH_BENCH_BIN=${BATCH_BENCH_BIN:-$BUILD/batch_bench}
DOCS=${BATCH_DOCS:-100}
QUESTIONS=${BATCH_QUESTIONS:-50}
DOC_BYTES=${BATCH_DOC_BYTES:-400}
MAX_TOKENS=${BATCH_MAX_TOKENS:-4}
ORDER=${BATCH_ORDER:-interleaved}
PARALLEL=${BATCH_PARALLEL:-8}
CTX=${BATCH_CTX:-32768}
THREADS=${BATCH_THREADS:-$(nproc)}
INGEST_LINES=${BATCH_INGEST_LINES:-50000}
PEER_VARIANTS=${BATCH_PEER_VARIANTS:-}
PEER=${BATCH_PEER:-1}
RUN_TIMEOUT=${BATCH_TIMEOUT:-3600}
PRESET=${BATCH_PRESET:-bench}
STORE=${BATCH_STORE:-serve}

die() { echo "batch: $*" >&2; exit 1; }
[[ -x $GLMQ_BIN ]] || die "no glmq binary at $GLMQ_BIN (run 'make build' or set GLMQ_BIN)"
[[ -x $BATCH_BENCH_BIN ]] || die "no batch_bench at $BATCH_BENCH_BIN (run 'make build')"
command -v python3 >/dev/null || die "python3 is not installed (used to find a free port)"
case $STORE in
serve) ;;
redis) command -v redis-server >/dev/null || die "redis-server is not installed (scripts/install-deps.sh)" ;;
*) die "BATCH_STORE is serve or redis, not '$STORE'" ;;
esac
if [[ $PEER == 0 ]]; then
  LLAMA_SERVER_BIN=""
elif [[ -z ${LLAMA_SERVER_BIN:-} ]]; then
  echo "batch: locating llama-server (builds it once if missing; that takes a while)" >&2
  LLAMA_SERVER_BIN=$(timeout 3600 "$ROOT/bench/build-llama-server.sh") ||
    die "bench/build-llama-server.sh failed"
fi

bench_setup batch
machine_facts
glmq_and_model 300 --preset "$PRESET"

WORKLOAD=(--docs "$DOCS" --questions "$QUESTIONS" --doc-bytes "$DOC_BYTES" --max-tokens
  "$MAX_TOKENS" --order "$ORDER" --timeout-s "$RUN_TIMEOUT")
echo "== glmq Batch API benchmark"
echo "machine: $(machine_line)"
echo "glmq:    $GLMQ_BIN (commit $git_rev)"
echo "model:   $MODEL_NOTE"
echo "work:    $((DOCS * QUESTIONS)) requests: ${WORKLOAD[*]}"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run NAME [batch_bench flags...]: output to $TMP/NAME.out and the terminal.
run() {
  local name=$1
  shift
  local rc=0
  timeout "$RUN_TIMEOUT" "$BATCH_BENCH_BIN" --url "http://127.0.0.1:$PORT" "$@" |
    tee "$TMP/$name.out" || rc=$?
  ((rc == 0)) || echo "batch: batch_bench ($name) exited with $rc" >&2
}

# One llama-server run per variant: its flags beside the common ones ("" = as it comes).
PEER_RUNS=()
if [[ $PEER != 0 ]]; then
  IFS=';' read -r -a peer_variants <<<"$PEER_VARIANTS"
  ((${#peer_variants[@]} > 0)) || peer_variants=("")
  for variant in "${peer_variants[@]}"; do
    name=llama-server-$((${#PEER_RUNS[@]} + 1))
    read -r -a flags <<<"$variant"
    echo
    echo "== llama-server --parallel $PARALLEL --ctx-size $CTX --kv-unified --threads $THREADS ${flags[*]}"
    PORT=$(free_port)
    "$LLAMA_SERVER_BIN" -m "$MODEL" --host 127.0.0.1 --port "$PORT" --parallel "$PARALLEL" \
      --ctx-size "$CTX" --kv-unified --threads "$THREADS" "${flags[@]}" >"$TMP/$name.log" 2>&1 &
    SERVER_PID=$!
    if wait_ready llama-server "$TMP/$name.log" /health 180; then
      run "$name" --target llama-server --concurrency "$PARALLEL" "${WORKLOAD[@]}"
    fi
    stop_server
    PEER_RUNS+=("$name|llama-server${variant:+ $variant}")
  done
fi

# glmq_up NAME ENGINE_FLAGS... -- FRONT_FLAGS...: `glmq serve` with both, or (BATCH_STORE=redis)
# a fresh durable Redis, a `glmq worker` with the engine flags and a `glmq gateway` with the
# others; returns once the API is ready (PORT set), 1 if it is not.
glmq_up() {
  local name=$1 engine=() front=()
  shift
  while (($# > 0)) && [[ $1 != -- ]]; do engine+=("$1"); shift; done
  (($# > 0)) && shift
  front=("$@")
  if [[ $STORE == serve ]]; then
    serve_glmq "$name" "${engine[@]}" "${front[@]}"
    return
  fi
  stop_redis
  start_redis "$TMP/redis-$name" || die "redis-server did not start"
  local redis_url=redis://127.0.0.1:$REDIS_PORT/0
  # The worker first: it is ready once its engine is loaded and calibrated, which the
  # gateway's readiness does not wait for.
  redis_glmq worker "$name-worker" "$redis_url" "${engine[@]}" || return 1
  HELPER_PIDS+=("$SERVER_PID")
  redis_glmq gateway "$name" "$redis_url" --ctx-size "$CTX" "${front[@]}"
}
if [[ $STORE == serve ]]; then
  GLMQ_NOTE="glmq serve --parallel $PARALLEL --ctx-size $CTX --threads $THREADS"
else
  GLMQ_NOTE="glmq gateway + glmq worker --parallel $PARALLEL --ctx-size $CTX --threads $THREADS on Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') (appendfsync always)"
fi

echo
echo "== $GLMQ_NOTE"
if glmq_up glmq --parallel "$PARALLEL" --ctx-size "$CTX" --threads "$THREADS"; then
  run glmq --target glmq "${WORKLOAD[@]}"
fi
stop_server

if ((INGEST_LINES > 0)); then
  ingest_docs=$(( INGEST_LINES < 100 ? INGEST_LINES : 100 ))
  echo
  echo "== ingest: $INGEST_LINES lines ($ingest_docs documents), $GLMQ_NOTE"
  if glmq_up ingest --parallel "$PARALLEL" --ctx-size "$CTX" --threads "$THREADS" -- \
    --batch-max-lines "$INGEST_LINES"; then
    run ingest --target ingest --docs "$ingest_docs" --questions "$((INGEST_LINES / ingest_docs))" \
      --doc-bytes "$DOC_BYTES" --max-tokens "$MAX_TOKENS" --order "$ORDER"
  fi
  stop_server
fi
stop_redis

# field NAME KEY: a value from NAME's BATCH_RESULT line, or "-".
field() {
  local v
  v=$(sed -n "s/^BATCH_RESULT .* $2=\([^ ]*\).*/\1/p" "$TMP/$1.out" 2>/dev/null | head -n 1)
  echo "${v:--}"
}
glmq_s=$(field glmq end_s)
# ratio A B: A/B against the >= 5x goal, or "-".
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "-" || b == "-" || b <= 0) { print "-"; exit }
    r = a / b; printf "%.2fx %s", r, (r >= 5) ? "(met)" : "(missed)" }'
}
echo
echo "$((DOCS * QUESTIONS)) requests ($DOCS documents x $QUESTIONS questions, $ORDER), end to end:"
echo
echo "| server | seconds | its time / glmq's (goal >= 5x) | documents read once (of $DOCS) | prompt tokens | of them cached |"
echo "|---|---|---|---|---|---|"
for run in "${PEER_RUNS[@]}"; do
  name=${run%%|*}
  echo "| ${run#*|} | $(field "$name" end_s) | $(ratio "$(field "$name" end_s)" "$glmq_s") | $(field "$name" read_once) | $(field "$name" prompt_tokens) | $(field "$name" cached_tokens) |"
done
echo "| glmq (one batch; $STORE) | $glmq_s | 1 | $(field glmq read_once) | $(field glmq prompt_tokens) | $(field glmq cached_tokens) |"
echo
echo "glmq, upload to in_progress: $(field glmq ingest_s) s for $(field glmq requests) lines; $(field ingest ingest_s) s for $(field ingest requests) lines ($(field ingest bytes) bytes; goal < 5 s for 50,000)"
