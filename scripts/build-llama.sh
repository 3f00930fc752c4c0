#!/usr/bin/env bash
# Builds the pinned llama.cpp (the release shipped inside node-llama-cpp@$NLC_VERSION) once
# into a cache outside the clone and prints the install prefix on stdout.
#
#   GLMQ_CACHE     cache root (default ~/.cache/glmq)
#   GGML_CUDA=ON   build the CUDA backend (needs nvcc; the cache key includes it). Its CPU
#                  code is portable (GGML_NATIVE=OFF below) unless GGML_NATIVE=ON is given.
#   CUDA_ARCH=90   the GPU architectures to compile for (CMAKE_CUDA_ARCHITECTURES; the cache
#                  key includes it): 90 Hopper (H100, H200), 89 Ada (L4, L40S, RTX 4090),
#                  86 Ampere (A10, A40, RTX 3090), 80 Ampere (A100), "80;90" for several.
#   GGML_NATIVE=OFF build for any x86-64 CPU with AVX2, FMA and F16C (Haswell and later)
#                  instead of this machine's CPU: what an image built on one machine and run
#                  on others needs. The cache key includes it.
set -euo pipefail

NLC_VERSION="${NLC_VERSION:-3.21.1}"
CACHE="${GLMQ_CACHE:-$HOME/.cache/glmq}"
CUDA="${GGML_CUDA:-OFF}"
CUDA_ARCH="${CUDA_ARCH:-90}"
if [ "$CUDA" = "ON" ]; then
  # A CUDA build is made to be carried to the GPU's machine, whose CPU is not this one.
  NATIVE="${GGML_NATIVE:-OFF}"
  variant="cuda${CUDA_ARCH//;/-}"
  [ "$NATIVE" = "ON" ] && variant="$variant-native"
  # Shared libraries: glmq, its tests and llama-server then carry one copy of the CUDA
  # kernels between them (bench/gpu/pack.sh), not one each.
  cuda_args=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DBUILD_SHARED_LIBS=ON)
  if ! command -v nvcc >/dev/null && [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
    export CUDACXX="${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"
  fi
else
  NATIVE="${GGML_NATIVE:-ON}"
  variant="cpu"
  [ "$NATIVE" = "OFF" ] && variant="$variant-portable"
  cuda_args=(-DBUILD_SHARED_LIBS=OFF)
fi
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
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
  -DGGML_CUDA="$CUDA" -DGGML_NATIVE="$NATIVE" "${cuda_args[@]}" >&2
cmake --build "$build" -j "$jobs" >&2
cmake --install "$build" >&2
touch "$prefix/.complete"
echo "$prefix"
