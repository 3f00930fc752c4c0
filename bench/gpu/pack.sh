#!/usr/bin/env bash
# Packs what bench/gpu/run.sh needs on a GPU machine into one file, $GPU_KIT/kit.tar.xz
# (default .gpukit/ in the repository, which git ignores), small enough to carry there
# (the device tool carries at most 64 MiB with the working tree).
#
#   bench/gpu/pack.sh            # CUDA for Hopper (sm_90): the H100 and H200
#   CUDA_ARCH=89 bench/gpu/pack.sh
#
# What it does, each step cached:
#   1. `make build GGML_CUDA=ON BUILD=build-cuda`: llama.cpp with CUDA (shared libraries, built
#      once into the cache; about 45 minutes of nvcc on 2 cores) and glmq against it.
#   2. llama.cpp's own llama-server with CUDA, in the same llama.cpp build (the peer).
#   3. A staging folder: bin/ (glmq, glmq_unit_tests, mixed_bench, held_document,
#      llama-server, stripped), lib/ (llama.cpp's shared libraries), lib/extra/ (every other
#      library they load, from this Debian system, except glibc's own and CUDA's: run.sh
#      links one in only where the GPU machine's image lacks it; the CUDA runtime, cuBLAS
#      and NCCL (182 MB) come from that image, whose nvcc matches the driver), MANIFEST.
#   4. kit.tar.xz of it, checked against $GPU_KIT_MAX_MIB (60).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
KIT=${GPU_KIT:-$ROOT/.gpukit}
BUILD=${GPU_BUILD:-build-cuda}
export CUDA_ARCH=${CUDA_ARCH:-90}
MAX_MIB=${GPU_KIT_MAX_MIB:-60}
die() { echo "gpu/pack: $*" >&2; exit 1; }

echo "gpu/pack: building glmq with CUDA (sm_$CUDA_ARCH) in $BUILD" >&2
make -s build GGML_CUDA=ON BUILD="$BUILD" CUDA_ARCH="$CUDA_ARCH" >&2
echo "gpu/pack: building llama-server with CUDA" >&2
server=$(GGML_CUDA=ON bench/build-llama-server.sh)
prefix=$(GGML_CUDA=ON scripts/build-llama.sh)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib/extra"
for b in "$BUILD/glmq" "$BUILD/glmq_unit_tests" "$BUILD/mixed_bench" "$BUILD/held_document" \
  "$server"; do
  [[ -x $b ]] || die "missing $b"
  cp "$b" "$stage/bin/"
done
# llama.cpp's libraries under their sonames (the names the binaries ask for).
server_libs=$(dirname "$server")
for so in "$prefix"/lib/lib*.so.* "$server_libs"/lib*.so*; do
  [[ -e $so ]] || continue
  name=$(objdump -p "$so" 2>/dev/null | awk '/SONAME/ {print $2}')
  [[ -n $name && ! -e $stage/lib/$name ]] && cp -L "$so" "$stage/lib/$name"
done
# Everything else the binaries and libraries load, as this system resolves it.
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libresolv\.so|libcuda\.so|libcudart\.so|libcublas\.so|libcublasLt\.so|libnccl\.so)'
export LD_LIBRARY_PATH="$stage/lib:$prefix/lib:$server_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for f in "$stage"/bin/* "$stage"/lib/*.so*; do
  ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
  [[ $name =~ $skip || -e $stage/lib/$name ]] && continue
  cp -L "$path" "$stage/lib/extra/$name"
done
strip --strip-unneeded "$stage"/bin/* "$stage"/lib/*.so* "$stage"/lib/extra/* 2>/dev/null || true

{
  echo "glmq $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes')"
  echo "llama.cpp $(basename "$prefix"), CUDA_ARCH=$CUDA_ARCH"
  echo "nvcc $("${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
  echo "built on $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | head -n 1 | awk '{print $NF}')"
  echo "packed $(date -u +%Y-%m-%dT%H:%MZ)"
} >"$stage/MANIFEST"

mkdir -p "$KIT"
rm -f "$KIT/kit.tar.xz"
XZ_OPT=-9e tar -C "$stage" -cJf "$KIT/kit.tar.xz" .
size_mib=$(($(stat -c %s "$KIT/kit.tar.xz") >> 20))
echo "gpu/pack: $(du -sh "$stage" | cut -f1) staged, $KIT/kit.tar.xz $size_mib MiB:" >&2
(cd "$stage" && du -ah bin lib | sort -h | tail -n 8) >&2
((size_mib <= MAX_MIB)) || die "kit.tar.xz is $size_mib MiB, over $MAX_MIB MiB"
echo "$KIT/kit.tar.xz"
