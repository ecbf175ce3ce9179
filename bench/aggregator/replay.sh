#!/bin/sh
# replay.sh - how fast `canon replay` sends dead letters back (a dry run and a replay of
# 200,000 dead letters on a real broker started with tests/kafka/kafka.sh). The work is
# done by replay.py (same directory); this wrapper builds canon and picks the venv's Python.
#
#   bench/aggregator/replay.sh                      # 200,000 dead letters, 6 partitions
#   bench/aggregator/replay.sh --records 50000 --batch 100
#
# Environment: BUILD_DIR (build-bench), CANON_BIN (skip the build), PYTHON.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${CANON_BIN:-}" ]; then
    build=${BUILD_DIR:-$root/build-bench}
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCANON_WERROR=OFF >/dev/null
    cmake --build "$build" -j2 --target canon >/dev/null
    CANON_BIN=$build/canon
fi
exec timeout 1200 "${PYTHON:-$root/.venv/bin/python}" "$here/replay.py" --canon-bin "$CANON_BIN" "$@"
