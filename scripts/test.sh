#!/usr/bin/env bash
# test.sh - the README's test command: install, build, and run every test.
#
#   1. deps (idempotent)            scripts/deps.sh
#   2. release build (-O2)          unit tests (cmocka via ctest)
#   3. ASan + UBSan build           unit tests again
#   4. HTTP, client, auth, TLS and crash tests (pytest) against the ASan+UBSan binary and
#      the release binary, over real HTTP; registry robustness (1,000 connections, slowloris,
#      hostile bodies, disk full and read-only SQLite, schemathesis against the OpenAPI)
#      then the libFuzzer targets of tests/fuzz, briefly, from their checked-in corpora
#   5. generated bindings (tests/bindings): C, Python and Java against tests/vectors and
#      the shared vectors, checked by Avro C, fastavro and Apache Avro Java
#   6. real Kafka (tests/kafka/kafka.sh starts a KRaft broker on 127.0.0.1): the broker
#      script itself, SASL to the broker, canon produce/tail/state, the aggregator
#      (with a broker restart, a 30 s outage, and the crash test: kill -9 at 4 random
#      moments of 20,000 updates; the benchmarks side_by_side.sh at 20,000 updates and
#      restore.py at 20,000 keys, their figures not judged), canon translate, the example
#      domains and the tutorial; every canon process is watched for sanitizer reports
# Not here (too slow for CI): scripts/valgrind.sh, the unit tests and a registry session
# under valgrind memcheck.
#   7. the JavaScript client (@kafkajs/confluent-schema-registry, node --test)
# Fails on the first failing stage; each runner prints its own summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

stage() { printf '\n=== %s ===\n' "$*"; }

stage "dependencies"
scripts/deps.sh

stage "release build"
scripts/build.sh release
stage "unit tests (release)"
ctest --test-dir build --output-on-failure -j 2

stage "ASan + UBSan build"
scripts/build.sh asan
stage "unit tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j 2

export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
stage "HTTP, client and crash tests (ASan + UBSan binary)"
CANON_BIN="$root/build-asan/canon" .venv/bin/python -m pytest -q tests/python
stage "HTTP, client and crash tests (release binary)"
CANON_BIN="$root/build/canon" .venv/bin/python -m pytest -q tests/python

stage "registry robustness: load, hostile input, SQLite faults, schemathesis (ASan + UBSan and release)"
CANON_BIN="$root/build-asan/canon" .venv/bin/python -m pytest -q tests/robustness
CANON_BIN="$root/build/canon" .venv/bin/python -m pytest -q tests/robustness

stage "fuzzing: seven libFuzzer targets (schema, compat, update, mapping, mapping apply, HTTP routes, schema resolution), 5 s each"
tests/fuzz/run.sh 5

stage "generated bindings: C, Python, Java vs Avro C, fastavro, Avro Java"
CANON_BIN="$root/build/canon" .venv/bin/python -m pytest -q tests/bindings

stage "the README's first command (scripts/demo.sh), output checked"
.venv/bin/python -m pytest -q tests/demo

stage "real Kafka: broker script, CLI tools, aggregator, translators, example domains (KRaft broker from Maven Central)"
tests/kafka/kafka.sh fetch
kafka_dirs="tests/kafka tests/tools tests/aggregator tests/translators tests/examples"
# shellcheck disable=SC2086 # word splitting of the directory list is intended
CANON_BIN="$root/build-asan/canon" .venv/bin/python -m pytest -q $kafka_dirs

if [ -f tests/clients/node/package.json ]; then
    stage "JavaScript client (@kafkajs/confluent-schema-registry)"
    CANON_BIN="$root/build/canon" node --test tests/clients/node/
fi
stage "all tests passed"
