#!/usr/bin/env bash
# What JSON mode costs a generated token: `glmq serve --parallel 1` on the bench model
# (`glmq make-test-model --preset bench`, a 65,536-token vocabulary, or $BENCH_MODEL), the
# same job ($JSON_TOKENS tokens, temperature 1, one seed) with and without
# "response_format": {"type": "json_object"}, $JSON_ROUNDS times each, alternating. Prints
# each run's milliseconds a generated token (from the job's started_at and finished_at; its
# prompt is a few dozen tokens) and the median of each, and their difference: the grammar's
# price (src/engine/token_sampler.h).
# Environment: BUILD, GLMQ_BIN, BENCH_MODEL, JSON_TOKENS (300), JSON_ROUNDS (3), BENCH_TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
TOKENS=${JSON_TOKENS:-300}
ROUNDS=${JSON_ROUNDS:-3}

die() { echo "json_mode: $*" >&2; exit 1; }
[[ -x $GLMQ_BIN ]] || die "no glmq binary at $GLMQ_BIN (run 'make build' or set GLMQ_BIN)"
command -v jq >/dev/null || die "needs jq"

bench_setup json_mode
machine_facts
glmq_and_model 300 --preset bench
echo "== glmq JSON-mode benchmark"
echo "machine: $(machine_line)"
echo "glmq:    $GLMQ_BIN (commit $git_rev)"
echo "model:   $MODEL_NOTE"
serve_glmq serve --parallel 1 --ctx-size 4096 || die "glmq did not start"
URL=http://127.0.0.1:$PORT

# run FORMAT: one job, its milliseconds a generated token and how it ended.
run() {
  local body id job
  body=$(jq -cn --arg f "$1" --argjson n "$TOKENS" '{text: "A short note.",
    question: "Describe it in JSON.", max_tokens: $n, temperature: 1.0, seed: 5,
    response_format: {type: $f}}')
  id=$(curl -fsS -m 10 "$URL/v1/jobs" -H 'content-type: application/json' -d "$body" | jq -r .id)
  job=$(curl -fsS -m 310 "$URL/v1/jobs/$id?wait=300")
  jq -r '"\(1000 * (.finished_at - .started_at) / ([.usage.completion_tokens, 1] | max)) \(.usage.completion_tokens) \(.finish_reason)"' <<<"$job"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

text_ms=()
json_ms=()
for ((r = 1; r <= ROUNDS; r++)); do
  read -r ms n reason < <(run text)
  printf 'round %d  text         %6.1f ms/token  (%s tokens, %s)\n' "$r" "$ms" "$n" "$reason"
  text_ms+=("$ms")
  read -r ms n reason < <(run json_object)
  printf 'round %d  json_object  %6.1f ms/token  (%s tokens, %s)\n' "$r" "$ms" "$n" "$reason"
  json_ms+=("$ms")
done
text_median=$(printf '%s\n' "${text_ms[@]}" | median)
json_median=$(printf '%s\n' "${json_ms[@]}" | median)
printf 'median   text %.1f ms/token, json_object %.1f ms/token: JSON mode costs %+.1f ms a token\n' \
  "$text_median" "$json_median" "$(awk -v a="$json_median" -v b="$text_median" 'BEGIN {print a - b}')"
