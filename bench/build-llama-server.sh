#!/usr/bin/env bash
# Builds llama.cpp's own server (tools/server) from the same pinned source as glmq's engine,
# once, into the cache, for benchmarks that compare against it. Prints the binary's path.
#
# GGML_CUDA=ON (and CUDA_ARCH, as scripts/build-llama.sh reads them): the server is built in
# the CUDA library build's own directory, so it links the same shared libraries and no CUDA
# kernel is compiled twice.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$("$PWD/scripts/build-llama.sh")  # the source unpacked, the libraries built
NLC_VERSION="${NLC_VERSION:-3.21.1}"
CACHE="${GLMQ_CACHE:-$HOME/.cache/glmq}"
src="$CACHE/src-nlc$NLC_VERSION/llama.cpp"
# Offline: no web UI download, no OpenSSL.
server_args=(-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_APP=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF)
if [ "${GGML_CUDA:-OFF}" = "ON" ]; then
  variant=${prefix##*/llama-nlc"$NLC_VERSION"-}
  build="$CACHE/src-nlc$NLC_VERSION/build-$variant"
  bin="$build/bin/llama-server"
  if [ ! -x "$bin" ]; then
    # Only the options that add the server change: ggml's objects stay built. The CUDA
    # backend calls the driver, which a machine without a GPU lacks: the link leaves those
    # symbols to the GPU machine's driver.
    cmake -S "$src" -B "$build" "${server_args[@]}" \
      -DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined >&2
    cmake --build "$build" -j "$(nproc)" --target llama-server >&2
  fi
else
  build="$CACHE/src-nlc$NLC_VERSION/build-server"
  bin="$build/bin/llama-server"
  if [ ! -x "$bin" ]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
      "${server_args[@]}" -DGGML_NATIVE=ON >&2
    cmake --build "$build" -j "$(nproc)" --target llama-server >&2
  fi
fi
echo "$bin"
