#!/bin/sh
# run.sh - the Kafka Streams reference of the aggregator benchmark (issue 5): the same
# per-field merge as the canon aggregator, as groupByKey + aggregate with exactly_once_v2,
# on a real broker. See README.md for the interface; results are key=value lines.
#
# Builds the Maven project once (cached in target/, rebuilt when a source is newer), then:
#   1. starts a broker (tests/kafka/kafka.sh) unless --bootstrap is given;
#   2. fills an updates topic with N real person updates over KEYS keys (Main load)
#      unless --topic names a topic already filled with them;
#   3. starts the Streams app (its own JVM, measured alone) and waits until its group has
#      committed every input offset: records/s from its first record to that moment;
#   4. unless LAT_SECONDS=0: produces LAT_RATE updates/s for LAT_SECONDS more and reads the
#      output read_committed: latency from the update's produce timestamp to the moment the
#      envelope is readable (p50, p99, max);
#   5. prints the app's peak RSS (VmHWM), stops the app (SIGTERM, SIGKILL after 30 s) and
#      the broker it started. Every step is bounded.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

bootstrap=${KAFKA_BOOTSTRAP_SERVERS:-}
topic=""
N=${N:-200000}
KEYS=${KEYS:-20000}
PARTITIONS=${PARTITIONS:-6}
COMMIT_MS=${COMMIT_MS:-100}
CACHE_BYTES=${CACHE_BYTES:-0}
STORE=${STORE:-rocksdb}
THREADS=${THREADS:-1}
LAT_RATE=${LAT_RATE:-10000}
LAT_SECONDS=${LAT_SECONDS:-10}
TIMEOUT=${TIMEOUT:-600}
SCHEMA_ID=${SCHEMA_ID:-1}
ENVELOPE_ID=${ENVELOPE_ID:-2}
REGISTRY=${REGISTRY:-}
JAVA_OPTS=${JAVA_OPTS:-}
selftest=0
while [ $# -gt 0 ]; do
    case $1 in
    --bootstrap) bootstrap=$2; shift 2 ;;
    --topic) topic=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --partitions) PARTITIONS=$2; shift 2 ;;
    --store) STORE=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --commit-ms) COMMIT_MS=$2; shift 2 ;;
    --cache-bytes) CACHE_BYTES=$2; shift 2 ;;
    --latency-rate) LAT_RATE=$2; shift 2 ;;
    --latency-seconds) LAT_SECONDS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --registry) REGISTRY=$2; shift 2 ;;
    --selftest) selftest=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; echo "see README.md for options"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# Build once: skipped when the jar is newer than every source.
jar=$here/target/canon-streams-reference-0.1.jar
if [ ! -f "$jar" ] || [ ! -f "$here/target/classpath.txt" ] ||
    [ -n "$(find "$here/pom.xml" "$here/src" -newer "$jar" -type f | head -1)" ]; then
    # shellcheck disable=SC2086 # options are words
    (cd "$here" && timeout 600 mvn -q -B ${STREAMS_MVN_OPTS:-} package) >&2
fi
cp="$jar:$(cat "$here/target/classpath.txt")"
java=${CANON_STREAMS_JAVA:-java}
if [ "$selftest" = 1 ]; then
    # The merge rules, checked without Kafka: prints "N passed, M failed".
    exec timeout "$TIMEOUT" "$java" -cp "$cp" org.canongate.bench.streams.Main selftest
fi

work=$(mktemp -d /tmp/canon-streams.XXXXXX)
kafka_dir=""
app_pid=""
cleanup() {
    if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
        kill "$app_pid" 2>/dev/null || true
        i=0
        while kill -0 "$app_pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$app_pid" 2>/dev/null || true
    fi
    if [ -n "$kafka_dir" ]; then
        "$root/tests/kafka/kafka.sh" stop "$kafka_dir" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load() { cut -d' ' -f1 /proc/loadavg; }
echo "streams.load1_start=$(load)"
echo "streams.cores=$(nproc)"

if [ -z "$bootstrap" ]; then
    env_lines=$(CANON_KAFKA_WATCH_PID=$$ "$root/tests/kafka/kafka.sh" start)
    bootstrap=$(echo "$env_lines" | sed -n 's/^KAFKA_BOOTSTRAP=//p' | tr -d "'")
    kafka_dir=$(echo "$env_lines" | sed -n 's/^KAFKA_DIR=//p' | tr -d "'")
fi
echo "streams.bootstrap=$bootstrap"

run_id=$(date +%s)-$$
if [ -z "$topic" ]; then
    topic="bench.streams.updates.$run_id"
    timeout "$TIMEOUT" "$java" -cp "$cp" org.canongate.bench.streams.Main load --bootstrap "$bootstrap" \
        --topic "$topic" --n "$N" --keys "$KEYS" --partitions "$PARTITIONS" --schema-id "$SCHEMA_ID"
fi
output="bench.streams.out.$run_id"
app_id="canon-streams-ref-$run_id"
echo "streams.input=$topic"
echo "streams.output=$output"
echo "streams.store=$STORE"
echo "streams.threads=$THREADS"
echo "streams.commit_ms=$COMMIT_MS"
echo "streams.cache_bytes=$CACHE_BYTES"

# The app alone in its JVM, so that its RSS is its own.
set -- --bootstrap "$bootstrap" --input "$topic" --output "$output" --app-id "$app_id" \
    --state-dir "$work/state" --store "$STORE" --threads "$THREADS" --commit-ms "$COMMIT_MS" \
    --cache-bytes "$CACHE_BYTES" --envelope-id "$ENVELOPE_ID" --t0-file "$work/t0"
[ -n "$REGISTRY" ] && set -- "$@" --registry "$REGISTRY"
# shellcheck disable=SC2086
"$java" $JAVA_OPTS -cp "$cp" org.canongate.bench.streams.Main app "$@" >"$work/app.out" 2>"$work/app.err" &
app_pid=$!

# SAMPLE=1: where the stream thread is during the throughput phase (jstack every 2 s):
# committing the transaction (blocked on the broker) or processing records.
sampler=""
if [ "${SAMPLE:-0}" = 1 ] && command -v jstack >/dev/null; then
    (
        while kill -0 "$app_pid" 2>/dev/null && [ ! -f "$work/stop-sampling" ]; do
            timeout 10 jstack "$app_pid" 2>/dev/null |
                awk '/^"/{t=($0 ~ /StreamThread/)} t' >"$work/js" || true
            if [ -s "$work/js" ] && grep -q '^"' "$work/js"; then
                if grep -q 'commitTransaction\|TransactionManager\|maybeCommit\|commitOffsetsOrTransaction\|flush' "$work/js"; then
                    echo commit >>"$work/samples"
                elif grep -q 'process\|Merge\|aggregate\|RocksDB' "$work/js"; then
                    echo process >>"$work/samples"
                else
                    echo other >>"$work/samples"
                fi
            fi
            sleep 2
        done
    ) &
    sampler=$!
fi

status=0
timeout "$TIMEOUT" "$java" -cp "$cp" org.canongate.bench.streams.Main wait --bootstrap "$bootstrap" \
    --input "$topic" --app-id "$app_id" --n "$N" --t0-file "$work/t0" --timeout "$TIMEOUT" || status=1
if [ -n "$sampler" ]; then
    touch "$work/stop-sampling"
    wait "$sampler" 2>/dev/null || true
    for k in commit process other; do
        echo "streams.samples_$k=$(grep -c "^$k\$" "$work/samples" 2>/dev/null || true)"
    done
fi
if [ $status = 0 ] && [ "$LAT_SECONDS" != 0 ]; then
    timeout "$TIMEOUT" "$java" -cp "$cp" org.canongate.bench.streams.Main latency --bootstrap "$bootstrap" \
        --input "$topic" --output "$output" --app-id "$app_id" --rate "$LAT_RATE" \
        --seconds "$LAT_SECONDS" --keys "$KEYS" --schema-id "$SCHEMA_ID" || status=1
fi
if kill -0 "$app_pid" 2>/dev/null; then
    rss=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$app_pid/status")
    echo "streams.peak_rss_mb=$((rss / 1024))"
    # utime + stime of the app's JVM (all its threads), in clock ticks: fields 14, 15
    # after the command name, which may hold spaces, so counted from its closing paren.
    ticks=$(sed 's/.*) //' "/proc/$app_pid/stat" | awk '{print $12 + $13}')
    echo "streams.app_cpu_s=$((ticks / $(getconf CLK_TCK)))"
    kill "$app_pid"
    i=0
    while kill -0 "$app_pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
else
    echo "streams.error=app exited early" >&2
    status=1
fi
app_pid=""
grep '^streams\.' "$work/app.out" || true
if [ $status != 0 ]; then
    echo "run.sh: failed; the app's stderr ends:" >&2
    tail -20 "$work/app.err" >&2
fi
echo "streams.load1_end=$(load)"
echo "streams.status=$([ $status = 0 ] && echo ok || echo failed)"
exit $status
