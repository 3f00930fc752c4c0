#!/usr/bin/env bash
# Submit path of `glmq gateway` on Redis, measured against Redis itself. No workers run: the
# figures are the API and the store alone.
#
#  1. redis-server on a free port in a temporary directory, appendonly yes + appendfsync
#     always (what deploy/docker/compose.yaml runs: a job is on disk before its 202).
#  2. Ceiling: `redis-benchmark -t lpush -c 32 -n 200000 -q`, single LPUSHes from 32
#     clients on the same durable Redis. For scale, after the glmq runs, the same with
#     `-d 1024` (values the size of a submit's text) on a fresh Redis: what writing a job's
#     bytes alone costs.
#  3. `glmq gateway` with the generated test model, loaded by wrk with bench/submit.lua
#     (POST /v1/jobs, ~1 KB text, max_tokens 1): -t2 -c32 for $BENCH_DURATION, full speed.
#  4. The same at a fixed $BENCH_RATE requests/s (bench/submit_paced.lua, which paces wrk
#     with delay(): wrk2 is not packaged) for the p99 of a server that is not saturated.
#  5. The peer: BullMQ (npm package bullmq, installed into the temporary directory from the
#     npm registry), Queue.add of the same ~1 KB job from 32 concurrent callers for
#     $BENCH_DURATION on a fresh durable Redis (bench/bullmq_add.mjs); skipped, and said so,
#     without node and npm or the registry.
#  6. One markdown table, with where the time goes: CPU of the gateway, of Redis and of the
#     client (wrk) per submit, and of BullMQ's Redis and node per add (from /proc), Redis
#     commands per submit (INFO, scripts' inner calls included) and commands slower than
#     1 ms (SLOWLOG).
#
# Environment: BUILD (build dir, default build), GLMQ_BIN, BENCH_DURATION (10s), BULLMQ_VERSION
# (5: the npm version range installed), BENCH_RATE
# (1000), BENCH_TMPDIR (where the temporary directory goes; default $TMPDIR or /tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"  # BUILD, GLMQ_BIN, and the helpers the script calls
DURATION=${BENCH_DURATION:-10s}
RATE=${BENCH_RATE:-1000}
BULLMQ_VERSION=${BULLMQ_VERSION:-5}
WRK_THREADS=2
WRK_CONNECTIONS=32
LPUSH_REQUESTS=200000
# What a worker would use with the test model (min(its context, 32768)); given explicitly, as
# a deployment gives gateways the workers' --ctx-size.
CTX_SIZE=32768

die() { echo "redis_submit: $*" >&2; exit 1; }
[[ -x $GLMQ_BIN ]] || die "no glmq binary at $GLMQ_BIN (run 'make build' or set GLMQ_BIN)"
for tool in redis-server redis-cli redis-benchmark wrk curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh)"
done

bench_setup redis-submit

# cpu_ticks PID: user + system CPU time the process has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# children_ticks: the same for this shell's children it has waited for (a client run in the
# foreground, pipelines included), in clock ticks.
children_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }
# redis_commands: commands Redis has processed since it started.
redis_commands() {
  redis-cli -p "$REDIS_PORT" info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p'
}
# per_op TICKS OPS: microseconds of CPU per operation.
per_op() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }'; }
CLK_TCK=$(getconf CLK_TCK)

# result_field LINE NAME: NAME=value from a SUBMIT_RESULT / PACED_RESULT line.
result_field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

machine_facts
redis_version=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
echo "== glmq gateway on Redis: submit benchmark"
echo "machine: $(machine_line)"
echo "binary:  $GLMQ_BIN (commit $git_rev)"
echo "tmp:     $TMP ($fs_type)"

glmq_and_model 120  # GLMQ and MODEL (the gateway reads only its vocabulary)

start_redis "$TMP/redis" || die "redis-server did not start"
echo "redis:   $redis_version on port $REDIS_PORT, appendonly yes, appendfsync always ($TMP/redis)"

echo
echo "== 1. ceiling: redis-benchmark -t lpush -c $WRK_CONNECTIONS -n $LPUSH_REQUESTS -q"
redis_ticks=$(cpu_ticks "$REDIS_PID")
redis-benchmark -p "$REDIS_PORT" -t lpush -c "$WRK_CONNECTIONS" -n "$LPUSH_REQUESTS" -q |
  tr '\r' '\n' | grep -v '^$' | tail -n 1 | tee "$TMP/lpush.out"
lpush_redis_us=$(per_op $(($(cpu_ticks "$REDIS_PID") - redis_ticks)) "$LPUSH_REQUESTS")
lpush_rps=$(sed -n 's/^LPUSH: \([0-9.]*\) requests per second.*/\1/p' "$TMP/lpush.out")
[[ -n $lpush_rps ]] || die "no LPUSH figure from redis-benchmark"
redis-cli -p "$REDIS_PORT" flushall >/dev/null  # the gateway starts on an empty store

redis_glmq gateway gateway "redis://127.0.0.1:$REDIS_PORT/0" --ctx-size "$CTX_SIZE" ||
  die "the gateway did not start"
URL=http://127.0.0.1:$PORT
echo "gateway: $GLMQ_BIN gateway --model $(basename "$MODEL") --ctx-size $CTX_SIZE --redis redis://127.0.0.1:$REDIS_PORT/0 --port 0 (listening on $PORT; no workers)"

echo
echo "== 2. full load: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION --latency -s bench/submit.lua"
# Where the time goes: CPU of the gateway and of Redis, and Redis commands, per submit.
redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
redis-cli -p "$REDIS_PORT" slowlog reset >/dev/null
gateway_ticks=$(cpu_ticks "$SERVER_PID")
redis_ticks=$(cpu_ticks "$REDIS_PID")
commands=$(redis_commands)
client_ticks=$(children_ticks)
timeout 120 wrk "-t$WRK_THREADS" "-c$WRK_CONNECTIONS" "-d$DURATION" --timeout 10s --latency \
  -s "$ROOT/bench/submit.lua" "$URL/v1/jobs" | tee "$TMP/wrk-full.out"
full=$(grep '^SUBMIT_RESULT ' "$TMP/wrk-full.out" || true)
[[ -n $full ]] || die "wrk printed no SUBMIT_RESULT line"
full_accepted=$(result_field "$full" accepted)
((full_accepted > 0)) || die "no submit was accepted"
client_us=$(per_op $(($(children_ticks) - client_ticks)) "$full_accepted")
gateway_us=$(per_op $(($(cpu_ticks "$SERVER_PID") - gateway_ticks)) "$full_accepted")
redis_us=$(per_op $(($(cpu_ticks "$REDIS_PID") - redis_ticks)) "$full_accepted")
commands_per_submit=$(awk -v c="$(($(redis_commands) - commands))" -v n="$full_accepted" \
  'BEGIN { printf "%.1f", c / n }')
echo "per submit: $commands_per_submit Redis commands; CPU: gateway $gateway_us µs, Redis $redis_us µs, client (wrk) $client_us µs"
echo "Redis commands during the run (calls, µs per call):"
redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
  sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=[0-9]*,usec_per_call=\([0-9.]*\).*/  \1 \2 \3/p' |
  sort -k2,2nr | head -n 8

echo
echo "== 3. fixed rate: $RATE requests/s, wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION --latency -s bench/submit_paced.lua"
timeout 120 wrk "-t$WRK_THREADS" "-c$WRK_CONNECTIONS" "-d$DURATION" --timeout 10s --latency \
  -s "$ROOT/bench/submit_paced.lua" "$URL/v1/jobs" -- "$RATE" "$WRK_THREADS" |
  tee "$TMP/wrk-paced.out"
paced=$(grep '^PACED_RESULT ' "$TMP/wrk-paced.out" || true)
[[ -n $paced ]] || die "wrk printed no PACED_RESULT line"

# Redis runs one command at a time: one slow script delays every client behind it.
echo "Redis commands slower than 1 ms during runs 2 and 3 (count, worst µs, command):"
redis-cli -p "$REDIS_PORT" --json slowlog get 1024 |
  jq -r '.[] | "\(.[2]) \(.[3][0]) \((.[3][1] // "")[0:12])"' |
  awk '{ key = $2 " " $3; n[key]++; if ($1 > worst[key]) worst[key] = $1 }
       END { for (k in n) printf "  %d %d %s\n", n[k], worst[k], k }' | sort -k2,2nr
slow_commands=$(redis-cli -p "$REDIS_PORT" slowlog len)
queued=$(curl -fsS -m 10 "$URL/v1/queue" | jq -c '{queued, totals}' 2>/dev/null || echo "?")
echo "queue after both runs: $queued"
aof_bytes=$(du -sb "$TMP/redis" | cut -f1)
stop_server
stop_redis

echo
echo "== 4. the peer: BullMQ Queue.add, $WRK_CONNECTIONS concurrent callers, $DURATION, on a fresh Redis"
bullmq_rps=""
bullmq_redis_us="?"
bullmq_node_us="?"
if command -v node >/dev/null && command -v npm >/dev/null &&
  (cd "$TMP" && npm install --silent --no-audit --no-fund --prefix "$TMP/node" "bullmq@$BULLMQ_VERSION" \
    >"$TMP/npm.log" 2>&1); then
  start_redis "$TMP/redis-bullmq" || die "the BullMQ redis-server did not start"
  seconds=${DURATION%s}
  # Next to its node_modules: an ES module finds packages from where it lies.
  cp "$ROOT/bench/bullmq_add.mjs" "$TMP/node/"
  redis_ticks=$(cpu_ticks "$REDIS_PID")
  client_ticks=$(children_ticks)
  timeout 120 node "$TMP/node/bullmq_add.mjs" "$REDIS_PORT" "$seconds" "$WRK_CONNECTIONS" |
    tee "$TMP/bullmq.out" || true
  bullmq_rps=$(sed -n 's/^BULLMQ_RESULT .*per_second=\([0-9.]*\).*/\1/p' "$TMP/bullmq.out")
  bullmq_adds=$(sed -n 's/^BULLMQ_RESULT adds=\([0-9]*\).*/\1/p' "$TMP/bullmq.out")
  if ((${bullmq_adds:-0} > 0)); then
    bullmq_node_us=$(per_op $(($(children_ticks) - client_ticks)) "$bullmq_adds")
    bullmq_redis_us=$(per_op $(($(cpu_ticks "$REDIS_PID") - redis_ticks)) "$bullmq_adds")
    echo "per add: CPU: Redis $bullmq_redis_us µs, node (BullMQ) $bullmq_node_us µs"
  fi
  bullmq_version=$(node -e "console.log(require('$TMP/node/node_modules/bullmq/package.json').version)" 2>/dev/null || echo "?")
  stop_redis
else
  echo "skipped: node/npm missing or 'npm install bullmq' failed ($(tail -n 1 "$TMP/npm.log" 2>/dev/null))"
fi

echo
echo "== 5. for scale: redis-benchmark -t lpush -c $WRK_CONNECTIONS -n $LPUSH_REQUESTS -d 1024 -q, on a fresh Redis"
start_redis "$TMP/redis-1k" || die "the second redis-server did not start"
redis-benchmark -p "$REDIS_PORT" -t lpush -c "$WRK_CONNECTIONS" -n "$LPUSH_REQUESTS" -d 1024 -q |
  tr '\r' '\n' | grep -v '^$' | tail -n 1 | tee "$TMP/lpush-1k.out"
lpush_1k_rps=$(sed -n 's/^LPUSH: \([0-9.]*\) requests per second.*/\1/p' "$TMP/lpush-1k.out")
[[ -n $lpush_1k_rps ]] || die "no LPUSH -d 1024 figure from redis-benchmark"
stop_redis

# --- summary -----------------------------------------------------------------------------
full_rps=$(result_field "$full" rps)
ratio=$(awk -v a="$full_rps" -v b="$lpush_rps" 'BEGIN { printf "%.2f", a / b }')
ratio_1k=$(awk -v a="$full_rps" -v b="$lpush_1k_rps" 'BEGIN { printf "%.2f", a / b }')
if [[ -n $bullmq_rps ]]; then
  bullmq_ratio=$(awk -v a="$full_rps" -v b="$bullmq_rps" 'BEGIN { printf "%.2f", a / b }')
  bullmq_ok=$(awk -v r="$bullmq_ratio" 'BEGIN { print (r >= 1.0) ? "yes" : "no" }')
  bullmq_row="| BullMQ $bullmq_version Queue.add/s, $WRK_CONNECTIONS concurrent callers, ~1 KB data; ratio glmq / BullMQ | $(printf '%.0f' "$bullmq_rps"); **$bullmq_ratio** | ≥ 1.0 ($bullmq_ok) |"
else
  bullmq_row="| BullMQ Queue.add/s | not measured (no node/npm or no registry) | |"
fi
paced_p99=$(result_field "$paced" p99_ms)
paced_ok=$(awk -v p="$paced_p99" 'BEGIN { print (p < 5) ? "yes" : "no" }')
non202=$(($(result_field "$full" non202) + $(result_field "$paced" non202)))
sockerr=$(($(result_field "$full" socket_errors) + $(result_field "$paced" socket_errors)))
# fmt NUMBER: rounded, with thousands separators.
fmt() { printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

echo
echo "== summary (markdown)"
echo
cat <<EOF
Machine: $cores CPUs ($cpu_model); Redis $redis_version (appendonly yes, appendfsync
always) on $fs_type; glmq $git_rev \`glmq gateway\` with the \`glmq make-test-model\` model, no
workers; Redis, gateway and client on the same machine. Command: \`bash bench/redis_submit.sh\`.

| measure | result | goal |
|---|---|---|
| Redis ceiling: \`redis-benchmark -t lpush -c $WRK_CONNECTIONS -n $LPUSH_REQUESTS\` | $(fmt "$lpush_rps") LPUSH/s | |
| glmq submits/s (202): \`wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION\`, ~1 KB text | $(fmt "$full_rps") | |
| ratio glmq / LPUSH | $ratio | |
$bullmq_row
| for scale: LPUSH of 1 KB values (\`-d 1024\`); glmq / that | $(fmt "$lpush_1k_rps") LPUSH/s; $ratio_1k | |
| p50 / p99 at full load | $(result_field "$full" p50_ms) / $(result_field "$full" p99_ms) ms | |
| p99 at $(fmt "$RATE") submits/s (sent $(result_field "$paced" rate)/s, p50 $(result_field "$paced" p50_ms) ms, $(result_field "$paced" late) late sends) | $paced_p99 ms | < 5 ms ($paced_ok) |
| non-202 answers (both runs; socket errors: $sockerr) | $non202 | 0 |
| Redis commands slower than 1 ms (both runs, SLOWLOG) | $slow_commands | |
| CPU per operation: Redis per LPUSH / per glmq submit; gateway per submit | $lpush_redis_us / $redis_us µs; $gateway_us µs ($commands_per_submit Redis commands per submit) | |
| CPU per operation: client (wrk) per glmq submit; BullMQ's Redis / node per add | $client_us µs; $bullmq_redis_us / $bullmq_node_us µs | |

Redis data after the runs (AOF): $((aof_bytes / 1048576)) MiB; queue: $queued.
EOF
