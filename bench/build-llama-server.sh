#!/usr/bin/env bash
# Builds llama.cpp's own server (tools/server) from the same pinned source as glmq's engine,
# once, into the cache, for benchmarks that compare against it. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
"$PWD/scripts/build-llama.sh" >/dev/null  # makes sure the source is unpacked
NLC_VERSION="${NLC_VERSION:-3.21.1}"
CACHE="${GLMQ_CACHE:-$HOME/.cache/glmq}"
src="$CACHE/src-nlc$NLC_VERSION/llama.cpp"
build="$CACHE/src-nlc$NLC_VERSION/build-server"
bin="$build/bin/llama-server"
if [ ! -x "$bin" ]; then
  # Offline: no web UI download, no OpenSSL.
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON >&2
  cmake --build "$build" -j "$(nproc)" --target llama-server >&2
fi
echo "$bin"
