#!/usr/bin/env bash
# Installs the official `openai` npm client, pinned, once into a cache outside the clone
# (as scripts/build-llama.sh does llama.cpp) and prints the folder whose node_modules holds
# it. The integration tests drive glmq with it, unchanged. 4.x is the line that runs on
# Debian 12's Node.js 18.
#
#   GLMQ_CACHE   cache root (default ~/.cache/glmq)
set -euo pipefail

OPENAI_NODE_VERSION="${OPENAI_NODE_VERSION:-4.104.0}"
CACHE="${GLMQ_CACHE:-$HOME/.cache/glmq}"
prefix="$CACHE/openai-node-$OPENAI_NODE_VERSION"

if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi
# Tests run in parallel may call this at the same moment: one installs, the others wait for
# it (two npm installs into one folder leave it half-made, and a test that read it then
# found modules missing).
mkdir -p "$CACHE"
exec 9>"$CACHE/openai-node-$OPENAI_NODE_VERSION.lock"
flock 9
if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi
rm -rf "$prefix"
command -v npm >/dev/null 2>&1 || { echo "install-openai-node: npm is missing (make deps)" >&2; exit 1; }
mkdir -p "$prefix"
if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "openai@$OPENAI_NODE_VERSION" >&2; then
  echo "install-openai-node: 'npm install openai@$OPENAI_NODE_VERSION' failed (npm's error is" \
    "above): the client comes from the npm registry, which must be reachable" >&2
  exit 1
fi
touch "$prefix/.complete"
echo "$prefix"
