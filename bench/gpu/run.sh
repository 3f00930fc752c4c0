#!/usr/bin/env bash
# The GPU kit's entry point: runs on the GPU machine, from the repository root, once
# bench/gpu/pack.sh has made .gpukit/kit.tar.xz and it was carried there:
#
#   bench/gpu/run.sh                      # the whole check: about 7 minutes on an H100/H200
#   GPU_STEPS="facts model million" bench/gpu/run.sh     # some steps only
#   GPU_PROFILE=cpu bench/gpu/run.sh      # a small shape on the CPU: proves the kit anywhere
#
# Steps, in order, each under its own time limit (LIMIT_<STEP> seconds), each printing its
# figures as it goes, so a run cut short still reports what it measured:
#   facts    nvidia-smi, the kit's MANIFEST, which libraries come from where
#   model    glmq make-test-model --preset $GPU_PRESET (glm4-9b: GLM-4-9B's shape, q4_0)
#   tests    the engine's tests (glmq_unit_tests) with all layers on the GPU
#   mixed    bench/mixed.sh: a long document beside short questions, glmq against
#            llama-server (same pinned llama.cpp, same CUDA build), with the ratios
#   same     bench/mixed.sh with MIXED_SAME_DOCUMENT=1: questions on one document, glmq
#            with the prefix cache off and on, and llama-server
#   million  glmq serve with a 1M-token context: one ~1M-token document with short
#            questions beside it (bench/held_document --progress-ms): its reading rate and
#            progress as it goes, the questions' latency meanwhile, its finish (or when it
#            would finish, from the rate so far), the GPU's memory, and the alerts firing
#
# The log is also written to $OUT/gpu-kit.log when OUT is set (the device tool's folder).
# Environment: GPU_KIT (.gpukit), GPU_WORK (/tmp/glmq-gpu: the unpacked kit and the model),
# GPU_STEPS, GPU_PROFILE (gpu | cpu), GPU_PRESET, GPU_LAYERS (-1 = all; cpu: 0), GPU_KV_TYPE
# (f16 | q8_0 | q4_0, for the million step), LIMIT_FACTS, LIMIT_MODEL, LIMIT_TESTS,
# LIMIT_MIXED, LIMIT_SAME, LIMIT_MILLION, MILLION_TOKENS, MILLION_CTX, MILLION_SHORTS.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
KIT=${GPU_KIT:-$ROOT/.gpukit}
WORK=${GPU_WORK:-/tmp/glmq-gpu}
PROFILE=${GPU_PROFILE:-gpu}
STEPS=${GPU_STEPS:-facts model tests mixed same million}
mkdir -p "$WORK"
if [[ -n ${OUT:-} ]]; then
  mkdir -p "$OUT"
  exec > >(tee -a "$OUT/gpu-kit.log") 2>&1
fi
T0=$SECONDS
say() { printf '[%4d s] %s\n' $((SECONDS - T0)) "$*"; }

if [[ $PROFILE == cpu ]]; then
  : "${GPU_PRESET:=default}" "${GPU_LAYERS:=0}" "${GPU_KV_TYPE:=f16}"
  : "${MILLION_TOKENS:=30000}" "${MILLION_CTX:=65536}" "${MILLION_SHORTS:=4}"
  : "${MILLION_PROGRESS_MS:=2000}"
  MODEL_FLAGS=(--ctx 1048576)
  MIXED_ENV=(MIXED_CTX=8192 MIXED_PARALLEL=4 MIXED_LONG_TOKENS=4096 MIXED_SHORT=6
    MIXED_SHORT_INTERVAL_MS=300 MIXED_SHORT_MAX_TOKENS=8 MIXED_LONG_MAX_TOKENS=8)
  SAME_ENV=(MIXED_CTX=8192 MIXED_PARALLEL=4 MIXED_LONG_TOKENS=1024 MIXED_SHORT=4
    MIXED_SHORT_START_MS=0 MIXED_SHORT_INTERVAL_MS=0 MIXED_SHORT_MAX_TOKENS=8
    MIXED_LONG_MAX_TOKENS=8)
  : "${LIMIT_MODEL:=60}" "${LIMIT_TESTS:=240}" "${LIMIT_MIXED:=240}" "${LIMIT_SAME:=180}"
  : "${LIMIT_MILLION:=150}"
else
  : "${GPU_PRESET:=glm4-9b}" "${GPU_LAYERS:=-1}" "${GPU_KV_TYPE:=f16}"
  # The clients size documents in the default test model's tokens (1.9 bytes of their prose
  # each); glm4-9b's vocabulary takes 2.7 bytes a token (13,981 tokens for a nominal 20,000):
  # 1.4M nominal is about 980,000 of its tokens, which fit a 1,048,576-token context.
  : "${MILLION_TOKENS:=1400000}" "${MILLION_CTX:=1048576}" "${MILLION_SHORTS:=40}"
  : "${MILLION_PROGRESS_MS:=10000}"
  MODEL_FLAGS=()
  MIXED_ENV=(MIXED_CTX=131072 MIXED_PARALLEL=8 MIXED_LONG_TOKENS=65536 MIXED_SHORT=40
    MIXED_SHORT_INTERVAL_MS=500)
  SAME_ENV=(MIXED_CTX=65536 MIXED_PARALLEL=8 MIXED_LONG_TOKENS=16384 MIXED_SHORT=8
    MIXED_SHORT_START_MS=0 MIXED_SHORT_INTERVAL_MS=0)
  : "${LIMIT_MODEL:=60}" "${LIMIT_TESTS:=60}" "${LIMIT_MIXED:=120}" "${LIMIT_SAME:=90}"
  : "${LIMIT_MILLION:=150}"
fi
: "${LIMIT_FACTS:=30}"
GPU_FLAGS=(--gpu-layers "$GPU_LAYERS" --flash-attn on)
LLAMA_FLAGS="-ngl $([[ $GPU_LAYERS == -1 ]] && echo 999 || echo "$GPU_LAYERS") -fa on"
MODEL=$WORK/model-$GPU_PRESET.gguf

# --- the kit ---------------------------------------------------------------------------------
DIR=$WORK/kit
if [[ ! -x $DIR/bin/glmq || $KIT/kit.tar.xz -nt $DIR/MANIFEST ]]; then
  [[ -f $KIT/kit.tar.xz ]] || { echo "gpu/run: no $KIT/kit.tar.xz (run bench/gpu/pack.sh, carry .gpukit)"; exit 1; }
  rm -rf "$DIR" && mkdir -p "$DIR"
  if command -v xz >/dev/null; then
    tar -C "$DIR" -xJf "$KIT/kit.tar.xz"
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
      "$KIT/kit.tar.xz" "$DIR"
  fi
fi
BIN=$DIR/bin

# The scripts' `curl -fsS -m SECONDS URL` (GETs to the servers they start), for an image
# without curl: the same through python3.
if ! command -v curl >/dev/null; then
  mkdir -p "$WORK/shim"
  cat >"$WORK/shim/curl" <<'PY'
#!/usr/bin/env python3
import sys, urllib.error, urllib.request
args, timeout, url = sys.argv[1:], 30.0, None
while args:
    a = args.pop(0)
    if a == "-m":
        timeout = float(args.pop(0))
    elif not a.startswith("-"):
        url = a
try:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        sys.stdout.buffer.write(r.read())
except urllib.error.HTTPError as e:
    sys.exit(22)
except Exception as e:
    sys.exit(7)
PY
  chmod +x "$WORK/shim/curl"
  export PATH=$WORK/shim:$PATH
fi

# The CUDA runtime, cuBLAS and NCCL from this machine (its nvcc's, or a Python package's), the
# kit's llama.cpp; a library this image lacks is linked in from the kit's lib/extra.
cuda_lib_dir() {
  local d
  for d in "${CUDA_HOME:-}" /usr/local/cuda /usr/local/cuda-*; do
    for sub in lib64 lib targets/x86_64-linux/lib; do
      [[ -n $d && -e $d/$sub/$1 ]] && { echo "$d/$sub"; return; }
    done
  done
  d=$(find / -xdev -name "$1" -not -path '/proc/*' 2>/dev/null | head -n 1)
  [[ -n $d ]] && dirname "$d"
}
LIBS=$DIR/lib
for so in libcublas.so.13 libcudart.so.13 libnccl.so.2; do
  d=$(cuda_lib_dir "$so")
  [[ -n $d && :$LIBS: != *:$d:* ]] && LIBS=$LIBS:$d
done
if [[ $PROFILE == cpu ]] && ! ldconfig -p | grep -q 'libcuda\.so\.1 '; then
  # No driver here: CUDA's stub library loads, says there is no device, and ggml uses the CPU.
  mkdir -p "$WORK/stub"
  stub=$(cuda_lib_dir stubs/libcuda.so)
  [[ -n $stub ]] && ln -sf "$stub/stubs/libcuda.so" "$WORK/stub/libcuda.so.1"
  LIBS=$LIBS:$WORK/stub
fi
export LD_LIBRARY_PATH=$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for name in $(ldd "$BIN"/* 2>/dev/null | awk '/not found/ {print $1}' | sort -u); do
  [[ -e $DIR/lib/extra/$name ]] && ln -sf "extra/$name" "$DIR/lib/$name"
done
# An older library of this image that lacks a symbol version ours need: the kit's instead.
for _ in 1 2 3 4 5; do
  old=$({ "$BIN/glmq" --version && "$BIN/llama-server" --version &&
    "$BIN/glmq_unit_tests" --gtest_list_tests && "$BIN/held_document"; } 2>&1 >/dev/null |
    sed -n "s|.*: \([^:]*\): version .* not found.*|\1|p" | head -n 1)
  [[ -n $old && -e $DIR/lib/extra/$(basename "$old") && ! -e $DIR/lib/$(basename "$old") ]] || break
  ln -sf "extra/$(basename "$old")" "$DIR/lib/$(basename "$old")"
done
missing=$(ldd "$BIN"/* 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')

# step NAME LIMIT COMMAND...: runs it (a function too) in a process group of its own, stopped
# with everything it started once LIMIT seconds have passed; says how it ended.
step() {
  local name=$1 limit=$2
  shift 2
  [[ " $STEPS " == *" $name "* ]] || return 0
  say "== $name (limit $limit s)"
  local start=$SECONDS rc=0 child dog
  rm -f "$WORK/cut"
  set -m
  ("$@") &
  child=$!
  (sleep "$limit" && touch "$WORK/cut" && kill -TERM -- "-$child" 2>/dev/null &&
    sleep 10 && kill -KILL -- "-$child" 2>/dev/null) &
  dog=$!
  set +m
  wait "$child" || rc=$?
  kill -- "-$dog" 2>/dev/null
  wait "$dog" 2>/dev/null
  if [[ -e $WORK/cut ]]; then
    say "== $name: cut off at its limit of $limit s (what it printed above stands)"
  else
    say "== $name: exit $rc after $((SECONDS - start)) s"
  fi
}

facts() {
  command -v nvidia-smi >/dev/null && nvidia-smi || echo "no nvidia-smi: no GPU driver here"
  cat "$DIR/MANIFEST"
  echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
    "$(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "from the kit's extra: $(find "$DIR/lib" -maxdepth 1 -type l -printf '%f ' 2>/dev/null)"
  ldd "$BIN/glmq" | grep -E 'cuda|cublas|llama|ggml|stdc\+\+' | sed 's/^/  /'
  [[ -z $missing ]] || { echo "MISSING LIBRARIES: $missing"; return 1; }
}

make_model() {
  if [[ -f $MODEL ]]; then
    echo "model: $MODEL already made"
  else
    "$BIN/glmq" make-test-model --preset "$GPU_PRESET" "${MODEL_FLAGS[@]}" --out "$MODEL"
  fi
  df -h "$WORK" | tail -n 1
}

# llama.cpp's own log lines (from tests that load models directly) are left out.
engine_tests() {
  "$BIN/glmq_unit_tests" --gtest_brief=1 \
    --gtest_filter="${GPU_TEST_FILTER:-LlamaEngine*:LlamaTokenizer*:PrefixCache*:PrefixFiles*:BatchLogits*:FitContext*:GpuDevices*}" 2>&1 |
    grep -v -E '^(llama_|print_info|load|init_|graph_|sched_|set_|common_|\.+$)|\] \[(info|warning)\] '
}

mixed() {
  env "${MIXED_ENV[@]}" "$@" GLMQ_BIN="$BIN/glmq" MIXED_BENCH_BIN="$BIN/mixed_bench" \
    LLAMA_SERVER_BIN="$BIN/llama-server" BENCH_MODEL="$MODEL" BENCH_TMPDIR="$WORK" \
    MIXED_LLAMA_FLAGS="$LLAMA_FLAGS" MIXED_GLMQ_VARIANTS="${GPU_FLAGS[*]}" \
    MIXED_RUN_TIMEOUT=$((LIMIT_MIXED / 2)) bench/mixed.sh
}

same_document() {
  env "${SAME_ENV[@]}" GLMQ_BIN="$BIN/glmq" MIXED_BENCH_BIN="$BIN/mixed_bench" \
    LLAMA_SERVER_BIN="$BIN/llama-server" BENCH_MODEL="$MODEL" BENCH_TMPDIR="$WORK" \
    MIXED_SAME_DOCUMENT=1 MIXED_LLAMA_FLAGS="$LLAMA_FLAGS" \
    MIXED_GLMQ_VARIANTS="${GPU_FLAGS[*]} --prefix-cache off;${GPU_FLAGS[*]} --prefix-cache on" \
    MIXED_RUN_TIMEOUT=$((LIMIT_SAME / 3)) bench/mixed.sh
}

million() {
  local log=$WORK/million.log port pid sampler
  "$BIN/glmq" serve --model "$MODEL" --host 127.0.0.1 --port 0 --data-dir "$WORK/data-million" \
    --ctx-size "$MILLION_CTX" --parallel 4 --kv-type "$GPU_KV_TYPE" "${GPU_FLAGS[@]}" \
    --log-level trace >"$log" 2>&1 &
  pid=$!
  # shellcheck disable=SC2064
  trap "kill $pid 2>/dev/null" RETURN
  for _ in $(seq 600); do
    port=$(sed -n 's|.* on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -n 1)
    [[ -n $port ]] && curl -fsS -m 2 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  grep -E 'GPU |context [0-9]+ tokens|calibrated|buffer size|offloaded|error' "$log" |
    grep -v 'llama: .*llama_context: n_' | sed 's/^.*\] //' | head -n 30
  [[ -n ${port:-} ]] && kill -0 "$pid" 2>/dev/null || { echo "glmq did not start"; tail -n 20 "$log"; return 1; }
  if command -v nvidia-smi >/dev/null; then
    (while sleep 15; do
      echo "gpu: $(nvidia-smi --query-gpu=memory.used,memory.total,utilization.gpu --format=csv,noheader)"
    done) &
    sampler=$!
  fi
  "$BIN/held_document" --url "http://127.0.0.1:$port" --long-tokens "$MILLION_TOKENS" --held 0 \
    --shorts "$MILLION_SHORTS" --short-start-ms 5000 --short-interval-ms 3000 \
    --short-max-tokens 16 --long-max-tokens 16 --progress-ms "$MILLION_PROGRESS_MS" \
    --timeout-s $((LIMIT_MILLION - 25 - (SECONDS - STEP_START))) | tee "$WORK/million.out"
  [[ -n ${sampler:-} ]] && kill "$sampler" 2>/dev/null
  curl -fsS -m 5 "http://127.0.0.1:$port/v1/alerts" >"$WORK/alerts.json" || true
  python3 - "$WORK/alerts.json" <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("alerts: no answer from /v1/alerts")
alerts = doc.get("alerts", []) if isinstance(doc, dict) else doc
names = [f'{a.get("labels", {}).get("alertname", "?")} ({a.get("state", a.get("status", "?"))})' for a in alerts]
print("alerts pending or firing:", ", ".join(names) if names else "none")
PY
  # When the document would have finished: t(n) = a n + b n^2 (attention grows with the
  # context) fitted to the progress lines.
  python3 - "$WORK/million.out" <<'PY'
import re, sys
looks = re.findall(r"^progress t=\s*([\d.]+) s\s+read\s+(\d+) of\s+(\d+)", open(sys.argv[1]).read(), re.M)
pts = [(float(t), float(n)) for t, n, _ in looks if int(n) > 0]
total = float(looks[-1][2]) if looks else 0
if len(pts) < 3 or pts[-1][1] >= total:
    sys.exit(0)  # too few looks, or read whole: its time is printed above
t0, n0 = pts[0]
xs = [(n - n0, n * n - n0 * n0) for t, n in pts[1:]]
ys = [t - t0 for t, n in pts[1:]]
sxx = sum(a * a for a, b in xs); sxy = sum(a * b for a, b in xs); syy = sum(b * b for a, b in xs)
sx = sum(a * y for (a, b), y in zip(xs, ys)); sy = sum(b * y for (a, b), y in zip(xs, ys))
det = sxx * syy - sxy * sxy
if det == 0:
    sys.exit(0)
a = (sx * syy - sy * sxy) / det; b = (sy * sxx - sx * sxy) / det
t_last, n_last = pts[-1]
left = a * (total - n_last) + b * (total * total - n_last * n_last)
print(f"million: {n_last:.0f} of {total:.0f} prompt tokens read by t={t_last:.0f} s; at the rates "
      f"seen (t = {a:.3g} n + {b:.3g} n^2) the rest would take {left:.0f} s more")
PY
}

say "glmq GPU kit: profile $PROFILE, steps: $STEPS"
step facts "$LIMIT_FACTS" facts
step model "$LIMIT_MODEL" make_model
step tests "$LIMIT_TESTS" engine_tests
step mixed "$LIMIT_MIXED" mixed
step same "$LIMIT_SAME" same_document
STEP_START=$SECONDS
step million "$LIMIT_MILLION" million
say "done"
