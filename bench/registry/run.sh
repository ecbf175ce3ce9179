#!/bin/sh
# run.sh - build and run the registry benchmark (see README.md in this directory).
#
# Builds the canon binary and bare_server in release mode (-O2) in $BUILD_DIR (default
# build-bench at the top of the tree), unless $CANON_BIN and $BARE_BIN are set, then runs
# bench.py, which prints the table. Extra arguments go to bench.py (--help lists them).
# Takes about a minute and a half: four wrk runs of 8 s, 120 registrations, 10,000 more.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}

if [ -z "${CANON_BIN:-}" ] || [ -z "${BARE_BIN:-}" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCANON_WERROR=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" --target canon bare_server >/dev/null
fi
CANON_BIN=${CANON_BIN:-$build/canon}
BARE_BIN=${BARE_BIN:-$build/bench/registry/bare_server}
command -v wrk >/dev/null || { echo "run.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
export CANON_BIN BARE_BIN
exec python3 "$here/bench.py" "$@"
