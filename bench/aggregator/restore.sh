#!/bin/sh
# restore.sh - restore time and resident memory of the aggregator holding many keys (issue
# 5: 1,000,000 keys restored in under 10 s, under 600 MB resident), from the canon topic
# alone and from the SQLite checkpoint, on a real broker started with tests/kafka/kafka.sh.
# The work is done by restore.py (same directory: how the topic is filled, what is
# measured); this wrapper builds canon and picks the venv's Python.
#
#   bench/aggregator/restore.sh                  # 1,000,000 keys, 6 partitions
#   bench/aggregator/restore.sh --keys 100000    # smaller
#
# Other options: --partitions, --timeout (each step, default 600 s), --bootstrap HOST:PORT
# (an already running broker; the entity's topics must not exist: use --entity NAME),
# --workdir. Environment: BUILD_DIR (build-bench), CANON_BIN (skip the build), PYTHON.
set -eu
exec "$(dirname "$0")/py_bench.sh" --timeout 3000 restore.py "$@"
