#!/bin/sh
# run.sh - the aggregator benchmark's physical ceiling, measured on a real broker.
#
# Starts an Apache Kafka broker with tests/kafka/kafka.sh (full JIT, not the tests' quick
# mode), fills the updates topic with loader (N records of SIZE bytes over KEYS keys,
# PARTITIONS partitions), then copies it with bare_copy twice in the same run, from the
# same input, side by side:
#   1. librdkafka's default consumer queue (queued.min.messages 100000, 64 MB)
#   2. a queue sized for the rate: LARGE_MESSAGES records / LARGE_KBYTES kB (by default
#      about a second of input at 1,000,000 records/s of 270 bytes)
# and prints both result lines. Every step is bounded (bare_copy --timeout, kafka.sh's
# start timeout) and the broker is stopped at the end, also on failure or Ctrl-C.
#
# Environment: N (1000000), KEYS (100000), SIZE (270), PARTITIONS (6), COMMIT_MS (100),
# LARGE_MESSAGES (1000000), LARGE_KBYTES (327680), ROUNDS (1: each copy once),
# BUILD_DIR (build-bench at the top of the tree), KAFKA_BOOTSTRAP_SERVERS (use that
# broker instead of starting one).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
N=${N:-1000000}
KEYS=${KEYS:-100000}
SIZE=${SIZE:-270}
PARTITIONS=${PARTITIONS:-6}
COMMIT_MS=${COMMIT_MS:-100}
LARGE_MESSAGES=${LARGE_MESSAGES:-1000000}
LARGE_KBYTES=${LARGE_KBYTES:-327680}
ROUNDS=${ROUNDS:-1}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCANON_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bare_copy loader >/dev/null
bin=$build/bench/aggregator

kafka_dir=""
cleanup() {
    if [ -n "$kafka_dir" ]; then
        "$root/tests/kafka/kafka.sh" stop "$kafka_dir" || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    bootstrap=$KAFKA_BOOTSTRAP_SERVERS
else
    env_lines=$(CANON_KAFKA_WATCH_PID=$$ "$root/tests/kafka/kafka.sh" start)
    bootstrap=$(echo "$env_lines" | sed -n 's/^KAFKA_BOOTSTRAP=//p')
    kafka_dir=$(echo "$env_lines" | sed -n 's/^KAFKA_DIR=//p' | tr -d "'")
fi
run_id=$(date +%s)-$$
updates="bench.updates.$run_id"

load() { cut -d' ' -f1 /proc/loadavg; }
load_start=$(load)
echo "== broker $bootstrap; $N records of $SIZE bytes over $KEYS keys, $PARTITIONS partitions"
"$bin/loader" "$bootstrap" "$updates" "$N" "$KEYS" "$SIZE" "$PARTITIONS"

results=""
round=1
while [ "$round" -le "$ROUNDS" ]; do
    line=$("$bin/bare_copy" --expect "$N" --commit-ms "$COMMIT_MS" --timeout 300 \
        --label "bare_copy, default queue " \
        "$bootstrap" "$updates" "bench.out.default.$run_id.$round")
    echo "$line"
    results="$results$line
"
    line=$("$bin/bare_copy" --expect "$N" --commit-ms "$COMMIT_MS" --timeout 300 \
        --queue-messages "$LARGE_MESSAGES" --queue-kbytes "$LARGE_KBYTES" \
        --label "bare_copy, queue sized   " \
        "$bootstrap" "$updates" "bench.out.large.$run_id.$round")
    echo "$line"
    results="$results$line
"
    round=$((round + 1))
done

echo
echo "== physical ceiling (exactly once: read_committed, offsets in the transaction, commit every $COMMIT_MS ms)"
printf '%s' "$results" | sed -e 's/: queued.min.messages=[^:]*:/:/' -e 's/; [0-9]* transactions.*RSS/; peak RSS/'
echo "machine load (1-minute average, $(nproc) cores): $load_start at the start, $(load) at the end;"
echo "(above the core count other processes compete with the broker: compare figures taken at like loads)"
