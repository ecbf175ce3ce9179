#!/bin/sh
# py_bench.sh - what the Python benchmarks' wrappers (crash.sh, restore.sh, replay.sh)
# share: build the release canon binary unless CANON_BIN names one, then run the script
# of this directory with the venv's Python and --canon-bin.
#
#   py_bench.sh [--timeout SECONDS] SCRIPT.py [ARGS...]
#
# Environment: BUILD_DIR (build-bench at the top of the tree), CANON_BIN (skip the build),
# PYTHON (the venv's python).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
limit=
if [ "${1:-}" = --timeout ]; then
    limit=$2
    shift 2
fi
script=$1
shift
if [ -z "${CANON_BIN:-}" ]; then
    build=${BUILD_DIR:-$root/build-bench}
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCANON_WERROR=OFF >/dev/null
    cmake --build "$build" -j2 --target canon >/dev/null
    CANON_BIN=$build/canon
fi
export CANON_BIN
python=${PYTHON:-$root/.venv/bin/python}
if [ -n "$limit" ]; then
    exec timeout "$limit" "$python" "$here/$script" --canon-bin "$CANON_BIN" "$@"
fi
exec "$python" "$here/$script" --canon-bin "$CANON_BIN" "$@"
