#!/bin/sh
# python.sh - the Python part of bench/codegen/run.sh: `sh python.sh BUILD_DIR SECONDS`.
# Generates the Python binding of customer.avsc with BUILD_DIR's canon, then runs
# python_bench.py (binding vs plain fastavro, same record, same run) on one core.
# Interpreter: $CANON_PYTHON, else the repository's .venv, else python3 (needs fastavro).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:?usage: python.sh BUILD_DIR [SECONDS]}
seconds=${2:-1}
[ -x "$build/canon" ] || cmake --build "$build" --target canon >/dev/null
out="$build/bench/codegen/gen-python"
"$build/canon" gen --lang python --schema "$here/customer.avsc" --out "$out" 2>/dev/null
py=${CANON_PYTHON:-}
if [ -z "$py" ]; then
    if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
taskset -c 0 "$py" "$here/python_bench.py" "$out" "$seconds" 2>/dev/null ||
    "$py" "$here/python_bench.py" "$out" "$seconds"
