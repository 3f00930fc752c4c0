#!/usr/bin/env bash
# Installs the Debian 12 packages glmq builds and tests with; does nothing when all are there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build git pkg-config
  libboost-dev libboost-system-dev nlohmann-json3-dev libhiredis-dev libsqlite3-dev
  libspdlog-dev libfmt-dev libcli11-dev libcurl4-openssl-dev libssl-dev libtomlplusplus-dev
  libsimdjson-dev libgtest-dev libgmock-dev libbenchmark-dev redis-server wrk curl jq clang-format
  chromium  # headless, for the dashboard's browser test
)

# Node.js and npm fetch the pinned llama.cpp source; a machine may have them from elsewhere.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
