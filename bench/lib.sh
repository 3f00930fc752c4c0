# Shared by the benchmark scripts: a temporary directory, one server process at a time, and
# cleanup that stops the server and removes the directory however the script ends.
# Source it, then call `bench_setup NAME`; start a server with its pid in SERVER_PID.

SERVER_PID=""
PORT=""

# stop_server: SIGTERM, up to 15 s to exit, then SIGKILL.
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 150); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "$BENCH_NAME: server $SERVER_PID did not stop in 15 s; killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

bench_cleanup() {
  local rc=$?
  stop_server
  rm -rf "$TMP"
  exit "$rc"
}

# bench_setup NAME: makes $TMP (under $BENCH_TMPDIR, $TMPDIR or /tmp) and installs the traps.
bench_setup() {
  BENCH_NAME=$1
  TMP=$(mktemp -d -p "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}" "glmq-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
