#!/bin/sh
# run.sh - the declarative translator's benchmark: JSON domain records -> delivered canonical
# updates with `canon translate --once`, against a real broker (issue 6: at least 200,000
# records/s on one core).
#
# Starts an Apache Kafka broker with tests/kafka/kafka.sh (full JIT, not the tests' quick
# mode) and a `canon registry` on a free port, registers schemas/person.avsc as
# canon.person.entity, creates canon.person.updates (PARTITIONS), fills a domain topic with
# hr_loader (N HR-like JSON records over KEYS employees, 1 in DELETE_EVERY a termination),
# then runs `canon translate --once` with hr.mapping.json.in and prints:
#   - the translator's own rate: records from the first consumed to the last delivered
#   - the child's CPU time (user + system of all its threads: /usr/bin/time reads the
#     rusage wait4 returns for it) and the rate per CPU-second, which is what "one core"
#     means on a shared machine; its peak RSS and minor page faults (a prefetched backlog
#     costs a fault per fresh page: docs/translators.md, Throughput)
#   - the 1-minute load average before and after.
# Every step is bounded (timeout, kafka.sh's start timeout); the broker and registry are
# stopped at the end, also on failure or Ctrl-C.
#
# Environment: N (1000000), KEYS (100000), PARTITIONS (6), DELETE_EVERY (100),
# BUILD_DIR (build-bench-translators at the top of the tree), TIMEOUT (600 s for the
# translate run), KAFKA_BOOTSTRAP_SERVERS (use that broker instead of starting one),
# TRANSLATE_ARGS (more options for canon translate, e.g. "-X linger.ms=20"), CANON (run this
# canon binary instead of BUILD_DIR's, e.g. a saved copy to compare two builds under the
# same load), WRAP (a command prefix for canon translate, e.g. "perf record -g -o /tmp/p.data
# --"; its CPU time is then counted too).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench-translators}
N=${N:-1000000}
KEYS=${KEYS:-100000}
PARTITIONS=${PARTITIONS:-6}
DELETE_EVERY=${DELETE_EVERY:-100}
TIMEOUT=${TIMEOUT:-600}
TRANSLATE_ARGS=${TRANSLATE_ARGS:-}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCANON_WERROR=OFF >/dev/null
cmake --build "$build" -j2 --target canon hr_loader >/dev/null
canon=${CANON:-$build/canon}
loader=$build/bench/translators/hr_loader

work=$(mktemp -d /tmp/canon-bench-translators.XXXXXX)
kafka_dir=""
reg_pid=""
cleanup() {
    if [ -n "$reg_pid" ]; then
        kill "$reg_pid" 2>/dev/null || true
        wait "$reg_pid" 2>/dev/null || true
    fi
    if [ -n "$kafka_dir" ]; then
        "$root/tests/kafka/kafka.sh" stop "$kafka_dir" >/dev/null || true
    fi
    rm -rf "$work"
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

# the registry: its first stdout line says where it listens
mkfifo "$work/reg.out"
"$canon" registry --listen 127.0.0.1:0 --db "$work/reg.db" --quiet >"$work/reg.out" 2>"$work/reg.log" &
reg_pid=$!
read -r first_line <"$work/reg.out" || true
registry=$(echo "$first_line" | sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p')
if [ -z "$registry" ]; then
    echo "run.sh: canon registry did not start: $first_line" >&2
    cat "$work/reg.log" >&2
    exit 1
fi
python3 -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' \
    "$root/schemas/person.avsc" >"$work/person.json"
curl -sf -m 10 -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data @"$work/person.json" "$registry/subjects/canon.person.entity/versions" >/dev/null

run_id=$(date +%s)-$$
topic="hr.employees.$run_id"
"$loader" "$bootstrap" canon.person.updates 0 1 "$PARTITIONS"
load() { cut -d' ' -f1 /proc/loadavg; }
echo "== broker $bootstrap, registry $registry"
"$loader" "$bootstrap" "$topic" "$N" "$KEYS" "$PARTITIONS" "$DELETE_EVERY"
sed "s/@TOPIC@/$topic/" "$here/hr.mapping.json.in" >"$work/hr.mapping.json"

load_start=$(load)
# shellcheck disable=SC2086 # TRANSLATE_ARGS is a list of options
# shellcheck disable=SC2086 # WRAP is a command prefix
timeout "$TIMEOUT" /usr/bin/time -f 'cpu %U %S wall %e rss %M faults %R' -o "$work/time" \
    ${WRAP:-} "$canon" translate --mapping "$work/hr.mapping.json" --bootstrap-servers "$bootstrap" \
    --registry "$registry" --group-id "bench.$run_id" --once $TRANSLATE_ARGS >"$work/summary" \
    2>"$work/translate.log" || {
    echo "run.sh: canon translate failed:" >&2
    cat "$work/summary" "$work/translate.log" >&2
    exit 1
}
load_end=$(load)
summary=$(cat "$work/summary")
echo "$summary"
set -- $(cat "$work/time")
user=$2 sys=$3 wall=$5 rss=$7 faults=$9
in=$(echo "$summary" | sed -n 's/.*: \([0-9]*\) records\{0,1\} in,.*/\1/p')
dead=$(echo "$summary" | sed -n 's/.*, \([0-9]*\) dead letters\{0,1\}.*/\1/p')
if [ "$in" != "$N" ] || [ "$dead" != "0" ]; then
    echo "run.sh: expected $N records in and 0 dead letters" >&2
    cat "$work/translate.log" >&2
    exit 1
fi
awk -v n="$N" -v u="$user" -v s="$sys" -v w="$wall" -v rss="$rss" -v faults="$faults" -v l0="$load_start" \
    -v l1="$load_end" -v cores="$(nproc)" 'BEGIN {
    cpu = u + s
    printf "== canon translate --once: %d JSON records -> updates delivered\n", n
    printf "   process: %.2f s wall (with start-up and group join), CPU %.2f s (user %.2f, sys %.2f), peak RSS %.0f MB, %d minor page faults\n", w, cpu, u, s, rss / 1024, faults
    printf "   per CPU-second: %.0f records/s (goal 200000 on one core)\n", n / cpu
    printf "   machine load (1-minute average, %d cores): %s at the start, %s at the end\n", cores, l0, l1
}'
