# Shared by the benchmark scripts: a temporary directory, one server at a time (with the
# workers and the Redis it needs), started by the script and waited for with wait_ready, and
# cleanup that stops them and removes the directory however the script ends.
# Source it, then call `bench_setup NAME`; start a server with its pid in SERVER_PID.
# Set ROOT (the repository) first: BUILD (default build, relative to ROOT) and GLMQ_BIN
# (default $BUILD/glmq) are resolved here.

BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
GLMQ_BIN=${GLMQ_BIN:-$BUILD/glmq}

SERVER_PID=""
PORT=""

# stop_pid PID: SIGTERM, up to 15 s to exit, then SIGKILL.
stop_pid() {
  local pid=$1
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$BENCH_NAME: process $pid did not stop in 15 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

# stop_server: the server in SERVER_PID, and the processes it needed (HELPER_PIDS: workers
# beside a gateway), newest first; a Redis started by start_redis stays up (stop_redis).
HELPER_PIDS=()
stop_server() {
  stop_pid "$SERVER_PID"
  SERVER_PID=""
  local i
  for ((i = ${#HELPER_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${HELPER_PIDS[i]}"; done
  HELPER_PIDS=()
}

# start_redis DIR: a durable redis-server (appendonly, appendfsync always) on a random free
# port, writing to DIR; sets REDIS_PID and REDIS_PORT. A port taken between the choice and
# the bind makes redis-server exit; then another is tried.
REDIS_PID=""
REDIS_PORT=""
start_redis() {
  local dir=$1
  mkdir -p "$dir"
  for _ in 1 2 3 4 5 6 7 8; do
    REDIS_PORT=$((20000 + RANDOM % 40000))
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" \
      --appendonly yes --appendfsync always --save "" --daemonize no \
      --slowlog-log-slower-than 1000 --slowlog-max-len 1024 \
      --logfile "$dir/redis.log" &
    REDIS_PID=$!
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
        return 0
      fi
      sleep 0.1
    done
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
  done
  tail -n 5 "$dir/redis.log" >&2 || true
  return 1
}
stop_redis() {
  stop_pid "$REDIS_PID"
  REDIS_PID=""
}

# wait_ready NAME LOG PATH [TIMEOUT]: waits until the server in SERVER_PID answers
# http://127.0.0.1:$PORT$PATH with a 2xx. An empty PORT is read from LOG, where a glmq
# server names its URL ("... on http://127.0.0.1:PORT ...") once it listens on port 0. If the
# server exits, or is not ready in TIMEOUT s (default 120), prints the log's tail, stops it
# and returns 1.
wait_ready() {
  local name=$1 log=$2 path=$3 timeout=${4:-120}
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null || true
      SERVER_PID=""
      echo "$BENCH_NAME: $name exited while starting; its log ends with:" >&2
      tail -n 5 "$log" >&2
      return 1
    fi
    if [[ -z $PORT ]]; then
      PORT=$(sed -n 's|.* on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -n 1)
    fi
    if [[ -n $PORT ]] && curl -fsS -m 2 "http://127.0.0.1:$PORT$path" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "$BENCH_NAME: $name was not ready in $timeout s; its log ends with:" >&2
  tail -n 5 "$log" >&2
  stop_server
  return 1
}

bench_cleanup() {
  local rc=$?
  stop_server
  stop_redis
  rm -rf "$TMP"
  exit "$rc"
}

# machine_facts: sets cpu_model, cores, git_rev and fs_type (of $TMP), for a script's header
# and summary; machine_line prints "N CPUs, model; M GiB RAM".
# shellcheck disable=SC2034  # the variables are the sourcing script's
machine_facts() {
  cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  cpu_model=${cpu_model:-unknown}
  cores=$(nproc)
  fs_type=$(stat -f -c %T "$TMP")
  git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
}
machine_line() { echo "$cores CPUs, $cpu_model; $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}')"; }

# make_test_model BIN OUT TIMEOUT [flags...]: `BIN make-test-model --out OUT flags...`, its
# log in $TMP/make-model.log, shown (and the script ended with die) when it fails.
make_test_model() {
  local bin=$1 out=$2 limit=$3
  shift 3
  timeout "$limit" "$bin" make-test-model --out "$out" "$@" >"$TMP/make-model.log" 2>&1 ||
    { cat "$TMP/make-model.log" >&2; die "make-test-model failed"; }
}

# glmq_and_model TIMEOUT [make-test-model flags...]: after bench_setup, GLMQ is a copy of
# GLMQ_BIN in $TMP (a rebuild during the run does not swap the binary under it) and MODEL is
# $BENCH_MODEL, or a model generated with the flags (MODEL_NOTE says which).
glmq_and_model() {
  local limit=$1
  shift
  GLMQ=$TMP/glmq
  cp "$GLMQ_BIN" "$GLMQ"
  if [[ -n ${BENCH_MODEL:-} ]]; then
    MODEL=$BENCH_MODEL
    [[ -f $MODEL ]] || die "BENCH_MODEL $MODEL does not exist"
    MODEL_NOTE=$(basename "$MODEL")
  else
    MODEL=$TMP/model.gguf
    make_test_model "$GLMQ" "$MODEL" "$limit" "$@"
    MODEL_NOTE="glmq make-test-model $* (random weights)"
  fi
}

# serve_glmq NAME [serve flags...]: `$GLMQ serve` on MODEL, port 0, data in $TMP/data-NAME,
# its log in $TMP/NAME.log; returns once it is ready (PORT set), 1 if it is not.
serve_glmq() {
  local name=$1
  shift
  local log=$TMP/$name.log
  "$GLMQ" serve --model "$MODEL" --host 127.0.0.1 --port 0 --data-dir "$TMP/data-$name" "$@" \
    >"$log" 2>&1 &
  SERVER_PID=$!
  PORT=""
  wait_ready "glmq ($name)" "$log" /readyz 180
}

# redis_glmq worker|gateway NAME REDIS_URL [flags...]: `$GLMQ worker` (the engine on MODEL)
# or `$GLMQ gateway` (MODEL's vocabulary) on that Redis, port 0, its log in $TMP/NAME.log;
# returns once it is ready (a worker once its engine is loaded and calibrated; PORT and
# SERVER_PID set), 1 if it is not.
redis_glmq() {
  local role=$1 name=$2 redis_url=$3
  shift 3
  "$GLMQ" "$role" --model "$MODEL" --redis "$redis_url" --host 127.0.0.1 --port 0 "$@" \
    >"$TMP/$name.log" 2>&1 &
  SERVER_PID=$!
  PORT=""
  wait_ready "glmq $role ($name)" "$TMP/$name.log" /readyz 180
}

# bench_setup NAME: makes $TMP (under $BENCH_TMPDIR, $TMPDIR or /tmp) and installs the traps.
bench_setup() {
  BENCH_NAME=$1
  TMP=$(mktemp -d -p "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}" "glmq-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
