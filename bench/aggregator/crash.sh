#!/bin/sh
# crash.sh - the aggregator crash test of issue 5 at full size (the test command runs a
# smaller one: tests/aggregator/test_crash.py): kill -9 `canon aggregate` at random
# moments during a stream of updates, restart it each time, and check no update lost, no
# canon version duplicated or skipped, final state equal to the
# merge model, DLQ empty. The work is done by crash.py (same directory); this wrapper builds
# canon and picks the Python of the project's venv.
#
#   bench/aggregator/crash.sh                                   # 200,000 updates, 10,000 keys, 20 kills
#   bench/aggregator/crash.sh --updates 20000 --keys 1000 --kills 5
#   bench/aggregator/crash.sh --checkpoint                      # the same, restarts load a checkpoint
#
# Other options: --partitions, --rate, --seed, --timeout, --bootstrap HOST:PORT (use that
# broker instead of starting one with tests/kafka/kafka.sh), --workdir.
# Environment: BUILD_DIR (build-bench at the top of the tree), CANON_BIN (skip the build),
# PYTHON (the venv's python).
set -eu
exec "$(dirname "$0")/py_bench.sh" crash.py "$@"
