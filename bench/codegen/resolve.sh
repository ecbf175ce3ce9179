#!/bin/sh
# resolve.sh - reading an older version of a schema: the C binding's resolver
# (canon_resolve.h) next to fastavro doing the same resolution on the same bytes.
#
# Builds bench_codegen_resolve (Release, in $BUILD_DIR, default build-bench) and runs it on
# one core: decode of the binding's own version, the same through the resolver (identity),
# and an older version (customer.avsc without its last two fields) resolved and decoded;
# then bench/codegen/python_resolve.py with fastavro on the same older bytes.
# Usage: resolve.sh [SECONDS per measurement, default 1] [ROUNDS of C measurements, 3]
# Interpreter for the Python part: $CANON_PYTHON, else the repository's .venv, else python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
seconds=${1:-1}
rounds=${2:-3}
dump=$(mktemp /tmp/canon-resolve.XXXXXX)
trap 'rm -f "$dump"' EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCANON_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_codegen_resolve >/dev/null
bin="$build/bench/codegen/bench_codegen_resolve"
taskset -c 0 "$bin" "$seconds" "$rounds" "$dump" 2>/dev/null || "$bin" "$seconds" "$rounds" "$dump"
py=${CANON_PYTHON:-}
if [ -z "$py" ]; then
    if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
echo
taskset -c 0 "$py" "$here/python_resolve.py" "$dump" "$seconds" 2>/dev/null ||
    "$py" "$here/python_resolve.py" "$dump" "$seconds"
