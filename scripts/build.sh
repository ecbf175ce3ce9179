#!/usr/bin/env bash
# build.sh - configure and build Canongate.
#   scripts/build.sh          release build (-O2) in build/
#   scripts/build.sh asan     AddressSanitizer + UBSan debug build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
jobs=$(nproc 2>/dev/null || echo 2)
case "$kind" in
release) cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
         cmake --build build -j "$jobs" ;;
asan)    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCANON_SANITIZE=ON >/dev/null
         cmake --build build-asan -j "$jobs" ;;
*) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
