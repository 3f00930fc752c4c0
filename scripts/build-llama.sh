#!/usr/bin/env bash
# Builds the pinned llama.cpp (the release shipped inside node-llama-cpp@$NLC_VERSION) once
# into a cache outside the clone and prints the install prefix on stdout.
#
#   GLMQ_CACHE     cache root (default ~/.cache/glmq)
#   GGML_CUDA=ON   build the CUDA backend (needs nvcc); the cache key includes it.
#   GGML_NATIVE=OFF build for any x86-64 CPU with AVX2, FMA and F16C (Haswell and later)
#                  instead of this machine's CPU: what an image built on one machine and run
#                  on others needs. The cache key includes it.
set -euo pipefail

NLC_VERSION="${NLC_VERSION:-3.21.1}"
CACHE="${GLMQ_CACHE:-$HOME/.cache/glmq}"
CUDA="${GGML_CUDA:-OFF}"
NATIVE="${GGML_NATIVE:-ON}"
variant="cpu"
[ "$CUDA" = "ON" ] && variant="cuda"
[ "$NATIVE" = "OFF" ] && variant="$variant-portable"
prefix="$CACHE/llama-nlc$NLC_VERSION-$variant"

if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

work="$CACHE/src-nlc$NLC_VERSION"
mkdir -p "$work"
if [ ! -d "$work/llama.cpp/.git" ]; then
  # npm's errors go to stderr; its one line of output (the file name) is not the prefix.
  if ! (cd "$work" && npm pack --loglevel=error "node-llama-cpp@$NLC_VERSION" >/dev/null); then
    echo "build-llama: 'npm pack node-llama-cpp@$NLC_VERSION' failed (npm's error is above):" \
      "the llama.cpp source comes from the npm registry, which must be reachable" >&2
    exit 1
  fi
  tar -xzf "$work/node-llama-cpp-$NLC_VERSION.tgz" -C "$work" package/llama/gitRelease.bundle
  rm -rf "$work/llama.cpp"
  git clone --quiet "$work/package/llama/gitRelease.bundle" "$work/llama.cpp" 2>/dev/null
fi

build="$work/build-$variant"
jobs="$(nproc)"
cmake -S "$work/llama.cpp" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
  -DGGML_CUDA="$CUDA" -DGGML_NATIVE="$NATIVE" >&2
cmake --build "$build" -j "$jobs" >&2
cmake --install "$build" >&2
touch "$prefix/.complete"
echo "$prefix"
