#!/bin/sh
# run.sh - build and run the codegen benchmark (issue 4): the bindings of every language
# against their reference library, on the same 20-field record, figures side by side.
#
# Builds in release mode (-O2) in $BUILD_DIR (default build-bench at the top of the tree)
# and runs, one after the other on one core each:
#   C       bench_codegen_c: the C binding vs Avro C's generic value API (bench_c.c)
#   Python  bench/codegen/python.sh, when present (gen-python: binding vs fastavro)
#   Java    bench/codegen/java.sh, when present (gen-java: binding vs SpecificDatum*)
# Hook contract for the other languages: a POSIX sh script next to this one, run as
# `sh python.sh BUILD_DIR SECONDS`, that prints its own rows in the C part's format
# (implementation, encodes/s, decodes/s, ratio) and exits non-zero on failure. The
# schema is bench/codegen/customer.avsc for every language.
# Usage: run.sh [SECONDS per measurement, default 1] [ROUNDS of C measurements, default 3]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
seconds=${1:-1}
rounds=${2:-3}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCANON_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_codegen_c >/dev/null
taskset -c 0 "$build/bench/codegen/bench_codegen_c" "$seconds" "$rounds" 2>/dev/null ||
    "$build/bench/codegen/bench_codegen_c" "$seconds" "$rounds"

for lang in python java; do
    hook="$here/$lang.sh"
    if [ -f "$hook" ]; then
        echo
        sh "$hook" "$build" "$seconds"
    fi
done
