#!/bin/sh
# Java part of the codegen bench: generates the binding of bench/codegen/customer.avsc
# with `canon gen --lang java`, builds it (through its roundtrip.sh, which caches the
# Avro/Kafka classpath) and runs Bench.java, the binding against Avro's
# SpecificDatumWriter/Reader on the same records, in one run.
# Usage: sh bench/codegen/java/run.sh [SECONDS per measurement, default 1]
# CANON_BIN overrides the canon binary (default: build/canon).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
canon=${CANON_BIN:-$root/build/canon}
work=${BENCH_WORK:-$(mktemp -d /tmp/canon-bench-java.XXXXXX)}
if ! msg=$("$canon" gen --lang java --schema "$here/../customer.avsc" --out "$work/binding" --harness 2>&1); then
    echo "$msg" >&2
    exit 1
fi
sh "$work/binding/roundtrip.sh" </dev/null
cache="${CANONGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/canongate}/java"
cp="$work/binding/target/harness:$(cat "$cache"/classpath-*.txt | head -n 1)"
mkdir -p "$work/bench"
javac --release 17 -nowarn -cp "$cp" -d "$work/bench" "$here/Bench.java"
java -Dslf4j.internal.verbosity=ERROR -cp "$work/bench:$cp" Bench "${1:-1}"
