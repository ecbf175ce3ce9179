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
exec "$(dirname "$0")/py_bench.sh" --timeout 1200 replay.py "$@"
