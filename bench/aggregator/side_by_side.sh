#!/bin/sh
# side_by_side.sh - issue 5's aggregator benchmark in one run, on one real broker: the
# canon aggregator next to its two references, on the same input, with a PASS/MISS per
# goal.
#
#   1. starts a broker (tests/kafka/kafka.sh, full JIT) and a registry (canon registry on
#      a free port, fresh database), registers schemas/person.avsc as entity E;
#   2. loads N real person updates over KEYS keys (loader --updates: Avro of the registered
#      canon.E.updates-value, framed with its id) into canon.E.updates, and the same
#      records (the loader is deterministic) into a second topic for the Streams app;
#   3. bare_copy: the physical ceiling (transactional read_committed copy, commit every
#      COMMIT_MS, consumer queue sized like canon aggregate's: QUEUE_MESSAGES/QUEUE_KBYTES);
#   4. canon aggregate on canon.E.updates, timed by kwait from its first consumed update
#      (--metrics-listen) to the moment its group's committed offsets reach the input's
#      end (everything merged and committed); checks that nothing went to the DLQ;
#   5. the Kafka Streams reference (streams/run.sh) on its copy of the input, with its own
#      latency phase at the same rate (the aggregator stays up, idle);
#   6. latency phase, same aggregator: LAT_RATE updates/s for LAT_SECONDS (latency: produce
#      -> canon record returned to a read_committed consumer; p50/p99/max), last, on a
#      broker that has worked for minutes (a fresh broker's JIT compiler distorts it);
#   7. the bare copy's latency at the same rate (with BARE=1): bare_copy committing every
#      COMMIT_MS from a topic of its own, probed the same way: the latency of the issue's
#      reference, a transactional copy with a fixed cadence and nothing else; then (FAST=1)
#      the same copy committing as fast as it can: the floor of one commit in flight;
#   8. prints the table and PASS/MISS: canon >= 0.5x bare copy, >= 10x Streams, p99 < 50 ms.
# Every step is bounded by TIMEOUT; the broker, registry and aggregator are stopped at the
# end, also on failure or Ctrl-C.
#
# Environment: N (1000000), KEYS (100000), PARTITIONS (6), COMMIT_MS (100),
# QUEUE_MESSAGES (400000), QUEUE_KBYTES (65536), LAT_RATE (10000), LAT_SECONDS (20),
# LAT_WARMUP (5: seconds sent at LAT_RATE first and not counted; 0 counts from the start),
# STREAMS (1; 0 skips the Streams app), BARE (1; 0 skips the bare copy), FAST (1; 0 skips
# the bare copy's second latency phase, as fast as it can), BROKER_WARMUP (seconds of
# transactional load before the latency phases: 300 on the script's own broker, 0 on
# KAFKA_BOOTSTRAP_SERVERS's), BARE_LAT (1; 0 skips its first, at COMMIT_MS), PIN (0; 1: the
# broker on core 0, everything else on core 1), STREAMS_LAT_SECONDS
# (10), TIMEOUT (600 per step),
# BUILD_DIR (build-bench), KAFKA_BOOTSTRAP_SERVERS (use that broker), CANON_ARGS (extra
# arguments for canon aggregate, e.g. "-X queued.min.messages=100000"; "-v" logs each commit),
# BARE_ARGS (extra bare_copy arguments, both of its phases: "-X KEY=VALUE" producer
# properties, e.g. "-X linger.ms=100" to give the copy canon's producer settings),
# KEEP_WORK (1: keep the work directory with every program's output, e.g. agg.err).
# CI size: N=20000 KEYS=2000 LAT_SECONDS=5 STREAMS=0 BROKER_WARMUP=0 bench/aggregator/side_by_side.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
N=${N:-1000000}
KEYS=${KEYS:-100000}
PARTITIONS=${PARTITIONS:-6}
COMMIT_MS=${COMMIT_MS:-100}
QUEUE_MESSAGES=${QUEUE_MESSAGES:-400000}
QUEUE_KBYTES=${QUEUE_KBYTES:-65536}
LAT_RATE=${LAT_RATE:-10000}
LAT_SECONDS=${LAT_SECONDS:-20}
LAT_WARMUP=${LAT_WARMUP:-5}
STREAMS=${STREAMS:-1}
BARE=${BARE:-1}
FAST=${FAST:-1}
BARE_LAT=${BARE_LAT:-1}
BROKER_WARMUP=${BROKER_WARMUP:-}
# the copy "as fast as it can": canon's producer settings for transactional requests
FAST_ARGS="-X retry.backoff.ms=5 -X socket.nagle.disable=true"
warm_note=""
STREAMS_LAT_SECONDS=${STREAMS_LAT_SECONDS:-10}
TIMEOUT=${TIMEOUT:-600}
CANON_ARGS=${CANON_ARGS:-}
BARE_ARGS=${BARE_ARGS:-}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCANON_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target canon bare_copy loader kwait latency >/dev/null
bin=$build/bench/aggregator
canon=$build/canon

work=$(mktemp -d /tmp/canon-sbs.XXXXXX)
kafka_dir=""
reg_pid=""
agg_pid=""
stop_pid() { # pid: SIGTERM, then SIGKILL after 30 s
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        i=0
        while kill -0 "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop_pid "$agg_pid"
    stop_pid "$reg_pid"
    if [ -n "$kafka_dir" ]; then
        "$root/tests/kafka/kafka.sh" stop "$kafka_dir" >/dev/null 2>&1 || true
    fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "side_by_side: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load() { cut -d' ' -f1 /proc/loadavg; }
# waits (bounded) until file $1 has a line matching $2; prints the first match
wait_line() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 600 ]; then
            echo "side_by_side: timed out waiting for '$2' in $1:" >&2
            cat "$1" >&2
            return 1
        fi
        sleep 0.1
    done
    grep -m1 "$2" "$1"
}
# CPU seconds (utime + stime) and peak RSS (MB) of a running process
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($12 + $13) / t}'; }
# CPU seconds of the main thread alone (the merge loop; the rest is librdkafka's threads)
main_cpu_s() { sed 's/.*) //' "/proc/$1/task/$1/stat" | awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($12 + $13) / t}'; }
rss_mb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" | awk '{printf "%d", $1 / 1024}'; }
metric() { # metrics text file, metric name: sum of its samples
    awk -v m="$2" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%d", s}' "$1"
}

load_start=$(load)
echo "== side by side: $N updates over $KEYS keys, $PARTITIONS partitions; load $load_start ($(nproc) cores)"
if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    bootstrap=$KAFKA_BOOTSTRAP_SERVERS
else
    env_lines=$(CANON_KAFKA_WATCH_PID=$$ "$root/tests/kafka/kafka.sh" start)
    bootstrap=$(echo "$env_lines" | sed -n 's/^KAFKA_BOOTSTRAP=//p' | tr -d "'")
    kafka_dir=$(echo "$env_lines" | sed -n 's/^KAFKA_DIR=//p' | tr -d "'")
fi
echo "broker $bootstrap"
# The broker shares the machine's cores with the program measured: its CPU per phase says
# whether a phase was bound by the program or by the machine. BROKER_PID names it when the
# broker was started elsewhere (KAFKA_BOOTSTRAP_SERVERS); unknown otherwise.
broker_pid=${BROKER_PID:-}
[ -n "$BROKER_WARMUP" ] || if [ -n "$kafka_dir" ]; then BROKER_WARMUP=300; else BROKER_WARMUP=0; fi
if [ -z "$broker_pid" ] && [ -n "$kafka_dir" ] && [ -f "$kafka_dir/kafka.pid" ]; then
    broker_pid=$(cat "$kafka_dir/kafka.pid")
fi
# PIN=1: the broker on core 0, this script and every program it starts on core 1: the
# machine the issue's ratio assumes, where the broker does not take the measured
# program's core (2 cores and more; the broker's threads all move, JIT and GC included).
if [ "${PIN:-0}" = 1 ]; then
    if [ -z "$broker_pid" ] || [ "$(nproc)" -lt 2 ]; then
        echo "side_by_side: PIN=1 needs the broker's pid (its own broker, or BROKER_PID) and 2 cores" >&2
        exit 2
    fi
    taskset -a -p -c 0 "$broker_pid" >/dev/null
    taskset -p -c 1 $$ >/dev/null
    echo "pinned: broker on core 0, the programs measured on core 1"
fi
# ", broker up N s" when the broker's process is known
broker_age() { if [ -n "$broker_pid" ]; then a=$(ps -o etimes= -p "$broker_pid" 2>/dev/null | tr -d ' ') && [ -n "$a" ] && printf ', broker up %s s' "$a"; fi; }
broker_cpu() { if [ -n "$broker_pid" ] && [ -r "/proc/$broker_pid/stat" ]; then cpu_s "$broker_pid"; else echo 0; fi; }
sub() { echo "$1 $2" | awk '{printf "%.1f", $1 - $2}'; }

"$canon" registry --listen 127.0.0.1:0 --db "$work/reg.db" --quiet >"$work/reg.out" 2>"$work/reg.err" &
reg_pid=$!
registry=$(wait_line "$work/reg.out" "listening on" | sed 's/.*listening on \(http:[^ ]*\).*/\1/')
run_id=$(date +%s)_$$
entity="bench_$run_id"
python3 -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' \
    "$root/schemas/person.avsc" >"$work/schema.json"
curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data @"$work/schema.json" "$registry/subjects/canon.$entity.entity/versions" >/dev/null
curl -sf "$registry/canon/entities/$entity" >"$work/entity.json"
update_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["updates"]["id"])' "$work/entity.json")
envelope_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["envelope"]["id"])' "$work/entity.json")
echo "registry $registry: entity $entity, update schema id $update_id, envelope id $envelope_id"

updates="canon.$entity.updates"
streams_in="bench.streams.updates.$run_id"
timeout "$TIMEOUT" "$bin/loader" --updates "$update_id" "$bootstrap" "$updates" "$N" "$KEYS" 270 "$PARTITIONS" |
    tee "$work/loader"
grep -q '^loader: ' "$work/loader" || { echo "side_by_side: the loader failed" >&2; exit 1; }
if [ "$STREAMS" = 1 ]; then
    timeout "$TIMEOUT" "$bin/loader" --updates "$update_id" "$bootstrap" "$streams_in" "$N" "$KEYS" 270 \
        "$PARTITIONS" >/dev/null
fi

# bare_latency NAME COMMIT_MS SECONDS WARMUP [bare_copy arguments]: bare_copy committing every
# COMMIT_MS from a topic of its own (empty at first: the copy stops 5 s after the last record
# it copied), probed like canon by `latency` at LAT_RATE for WARMUP + SECONDS seconds;
# "p50 .. p99 .. max .. ms; N transactions (commit avg .. ms)" in $lat_result
bare_latency() {
    name=$1 cms=$2 secs=$3 warm=$4
    shift 4
    lat_in="bench.latency.in.$name.$run_id"
    lat_out="bench.latency.out.$name.$run_id"
    lat_result=""
    # both topics made here, so that the probe never meets one that is still being created
    for t in "$lat_in" "$lat_out"; do
        timeout "$TIMEOUT" "$bin/loader" "$bootstrap" "$t" 0 1 270 "$PARTITIONS" >/dev/null
    done
    # shellcheck disable=SC2086 # BARE_ARGS are words
    timeout "$((TIMEOUT + secs))" "$bin/bare_copy" --commit-ms "$cms" --timeout "$((TIMEOUT + secs))" \
        --queue-messages "$QUEUE_MESSAGES" --queue-kbytes "$QUEUE_KBYTES" --label "bare_copy latency" "$@" $BARE_ARGS \
        "$bootstrap" "$lat_in" "$lat_out" >"$work/${name}_copy" 2>&1 &
    bare_lat_pid=$!
    timeout "$((TIMEOUT + secs))" "$bin/latency" --rate "$LAT_RATE" --seconds "$secs" --warmup "$warm" \
        --keys "$KEYS" "$bootstrap" "$lat_in" "$lat_out" "$update_id" >"$work/$name" || {
        # (a copy that never got a record would wait for one until TIMEOUT)
        stop_pid "$bare_lat_pid"
        status=1
    }
    wait "$bare_lat_pid" || { echo "side_by_side: bare_copy ($name) failed:" >&2; cat "$work/${name}_copy" >&2; status=1; }
    lat_result="p50 $(sed -n 's/^latency.p50_ms=//p' "$work/$name") p99 $(sed -n 's/^latency.p99_ms=//p' "$work/$name")"
    lat_result="$lat_result max $(sed -n 's/^latency.max_ms=//p' "$work/$name") ms"
    lat_result="$lat_result; $(sed -n 's/.* \([0-9]* transactions (commit avg [0-9]* ms\).*/\1)/p' "$work/${name}_copy")"
}

# ---- 1. the physical ceiling
bare_rate=""
bare_rss="-"
bare_load="-"
bare_cpu=0
if [ "$BARE" = 1 ]; then
echo "== bare_copy (load $(load))"
b0=$(broker_cpu)
# shellcheck disable=SC2086 # BARE_ARGS are words
timeout "$TIMEOUT" /usr/bin/time -f "bare_cpu=%U %S" -o "$work/bare_time" "$bin/bare_copy" --expect "$N" --commit-ms "$COMMIT_MS" --timeout "$TIMEOUT" \
    --queue-messages "$QUEUE_MESSAGES" --queue-kbytes "$QUEUE_KBYTES" --label "bare_copy" $BARE_ARGS \
    "$bootstrap" "$updates" "bench.copy.$run_id" | tee "$work/bare"
bare_rate=$(sed -n 's/.* = \([0-9]*\) records\/s.*/\1/p' "$work/bare")
[ -n "$bare_rate" ] || { echo "side_by_side: bare_copy failed" >&2; exit 1; }
bare_rss=$(sed -n 's/.*peak RSS \([0-9]*\) MB.*/\1/p' "$work/bare")
bare_load=$(load)
bare_cpu=$(awk -F'[= ]' '{printf "%.1f", $2 + $3}' "$work/bare_time")
bare_broker=$(sub "$(broker_cpu)" "$b0")
fi

# ---- 2. canon aggregate
echo "== canon aggregate (load $(load))"
group="canon-bench-$run_id"
# shellcheck disable=SC2086 # CANON_ARGS are words
"$canon" aggregate --bootstrap-servers "$bootstrap" --registry "$registry" --entity "$entity" \
    --group-id "$group" --transactional-id "$group" --commit-interval-ms "$COMMIT_MS" \
    --metrics-listen 127.0.0.1:0 $CANON_ARGS 2>"$work/agg.err" &
agg_pid=$!
metrics=$(wait_line "$work/agg.err" "metrics on http://" | sed 's|.*metrics on http://\([^/]*\)/.*|\1|')
cpu0=$(cpu_s "$agg_pid")
b0=$(broker_cpu)
main0=$(main_cpu_s "$agg_pid")
timeout "$TIMEOUT" "$bin/kwait" --metrics "$metrics" --timeout "$TIMEOUT" "$bootstrap" "$updates" "$group" |
    tee "$work/kwait"
canon_cpu=$(echo "$(cpu_s "$agg_pid") $cpu0" | awk '{printf "%.1f", $1 - $2}')
canon_main_cpu=$(echo "$(main_cpu_s "$agg_pid") $main0" | awk '{printf "%.1f", $1 - $2}')
canon_broker=$(sub "$(broker_cpu)" "$b0")
canon_load=$(load)
canon_rate=$(sed -n 's/.*records_per_s=\([0-9]*\).*/\1/p' "$work/kwait")
status=0
if [ -z "$canon_rate" ]; then
    echo "side_by_side: canon aggregate did not commit the whole input; its log ends:" >&2
    tail -20 "$work/agg.err" >&2
    status=1
fi
curl -sf "http://$metrics/metrics" >"$work/m1"
canon_in=$(metric "$work/m1" canon_updates_in_total)
canon_out=$(metric "$work/m1" canon_records_out_total)
canon_noop=$(metric "$work/m1" canon_updates_noop_total)
canon_dlq=$(metric "$work/m1" canon_dlq_out_total)
canon_txns=$(metric "$work/m1" canon_transactions_total)
commit_avg() { # metrics file: average commit time in ms
    awk '$1 == "canon_transaction_commit_seconds_sum" {s = $2} $1 == "canon_transaction_commit_seconds_count" {n = $2}
        END {if (n > 0) printf "%.0f", s * 1000 / n; else printf "-"}' "$1"
}
canon_commit_ms=$(commit_avg "$work/m1")
echo "canon: $canon_in updates in, $canon_out canon records, $canon_noop no-ops, $canon_dlq dead letters," \
    "$canon_txns transactions (commit avg $canon_commit_ms ms), $canon_cpu CPU s ($canon_main_cpu in the merge loop's thread)"
if [ "$canon_dlq" != 0 ]; then
    echo "side_by_side: $canon_dlq updates went to the DLQ: the loader's updates do not match the schema" >&2
    status=1
fi

# ---- 3. the Kafka Streams reference, before the latency phases: they come last, on a
# broker that has worked for minutes. A fresh broker's JIT compiler takes a large share of
# a core for its first minutes under load, and a latency phase run then measures that
# (p99 two to four times a warm broker's; docs/performance-journal.md, Part 3). The
# aggregator stays up, idle, meanwhile (its idle fetches cost the broker about 1% of a
# core).
streams_rate=""
if [ "$STREAMS" = 1 ]; then
    echo "== Kafka Streams reference (load $(load))"
    SCHEMA_ID=$update_id ENVELOPE_ID=$envelope_id TIMEOUT=$TIMEOUT \
        "$here/streams/run.sh" --bootstrap "$bootstrap" --topic "$streams_in" --n "$N" --keys "$KEYS" \
        --partitions "$PARTITIONS" --commit-ms "$COMMIT_MS" --latency-rate "$LAT_RATE" \
        --latency-seconds "$STREAMS_LAT_SECONDS" >"$work/streams" || status=1
    grep -E 'records_per_s|latency_p|peak_rss|app_cpu|app_dlq|status' "$work/streams" || true
    streams_rate=$(sed -n 's/^streams.records_per_s=//p' "$work/streams")
    streams_load=$(load)
fi

# ---- 4. the broker's warm-up (BROKER_WARMUP seconds, by default 300 on the script's own
# broker and none on one named by KAFKA_BOOTSTRAP_SERVERS): the fast bare copy probed at
# LAT_RATE, the same kind of load as the phases after it. The p99 of a broker's first
# minutes is its JIT compiler's (Streams' phase leaves it about two minutes old); after five
# minutes of this load it is the steady state's (docs/performance-journal.md, Part 4).
if [ "$LAT_SECONDS" != 0 ] && [ "$BROKER_WARMUP" != 0 ]; then
    echo "== broker warm-up: $BROKER_WARMUP s of a transactional copy at $LAT_RATE/s, committing as fast as it can (load $(load)$(broker_age))"
    # shellcheck disable=SC2086 # FAST_ARGS are words
    bare_latency warmup 1 "$BROKER_WARMUP" 0 $FAST_ARGS
    echo "warm-up: $lat_result"
    warm_note="(after a broker warm-up of $BROKER_WARMUP s at $LAT_RATE/s: $lat_result)"
fi

# ---- 4a. latency at a fixed offered load
lat_p50=""
lat_p99=""
lat_max=""
lat_rate=""
lat_age=""
if [ "$LAT_SECONDS" != 0 ]; then
    lat_age=$(broker_age)
    echo "== latency: $LAT_RATE updates/s for $LAT_WARMUP s (warm-up) + $LAT_SECONDS s (load $(load)$lat_age)"
    timeout "$TIMEOUT" "$bin/latency" --rate "$LAT_RATE" --seconds "$LAT_SECONDS" --warmup "$LAT_WARMUP" --keys "$KEYS" \
        "$bootstrap" "$updates" "canon.$entity" "$update_id" | tee "$work/lat" || status=1
    lat_p50=$(sed -n 's/^latency.p50_ms=//p' "$work/lat")
    lat_p99=$(sed -n 's/^latency.p99_ms=//p' "$work/lat")
    lat_max=$(sed -n 's/^latency.max_ms=//p' "$work/lat")
    lat_rate=$(sed -n 's/^latency.achieved_per_s=//p' "$work/lat")
fi
lat_load=$(load)
canon_rss=$(rss_mb "$agg_pid")
curl -sf "http://$metrics/metrics" >"$work/m2" || true
lat_txns=$(($(metric "$work/m2" canon_transactions_total) - canon_txns))
stop_pid "$agg_pid"
wait "$agg_pid" 2>/dev/null || true
agg_pid=""

# ---- 4b. the bare copy's latency at the same offered load (bare_latency), twice:
# with the issue's fixed cadence (COMMIT_MS), and committing as fast as it can (a
# transaction as soon as the last one ended: --commit-ms 1) with the two settings canon's
# producers use for transactional requests (retry.backoff.ms 5, Nagle off). The second is
# the latency floor of a serial transactional copy on this broker: what any exactly-once
# consume-produce loop with one commit in flight gets at best, with no decoding, no merge.
bare_lat=""
fast_lat=""
if [ "$LAT_SECONDS" != 0 ] && [ "$BARE" = 1 ]; then
    if [ "$BARE_LAT" = 1 ]; then
        echo "== bare_copy latency: $LAT_RATE records/s, commit every $COMMIT_MS ms (load $(load))"
        bare_latency bare_lat "$COMMIT_MS" "$LAT_SECONDS" "$LAT_WARMUP"
        bare_lat=$lat_result
        echo "bare_copy at $LAT_RATE/s: $bare_lat"
    fi
    if [ "$FAST" = 1 ]; then
        echo "== bare_copy latency: $LAT_RATE records/s, committing as fast as it can (load $(load))"
        # shellcheck disable=SC2086 # FAST_ARGS are words
        bare_latency fast_lat 1 "$LAT_SECONDS" "$LAT_WARMUP" $FAST_ARGS
        fast_lat=$lat_result
        echo "bare_copy at $LAT_RATE/s, as fast as it can: $fast_lat"
    fi
fi

# ---- the table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
verdict() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN {
    if (v == "" || v == "-") print "n/a"; else if ((op == ">=" && v + 0 >= g) || (op == "<" && v + 0 < g)) print "PASS"; else print "MISS" }'; }
echo
echo "== side by side ($N updates over $KEYS keys, $PARTITIONS partitions, exactly once, commit every $COMMIT_MS ms;"
echo "   consumer queue $QUEUE_MESSAGES records / $QUEUE_KBYTES kB for bare_copy and canon)"
per_cpu() { awk -v n="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.0f", n / c; else printf "-" }'; }
printf '%-26s %10s %12s %8s %10s %s\n' "program" "records/s" "records/CPU-s" "RSS MB" "load (1m)" "notes"
[ "$BARE" = 1 ] && printf '%-26s %10s %12s %8s %10s %s\n' "bare_copy (ceiling)" "$bare_rate" "$(per_cpu "$N" "$bare_cpu")" "$bare_rss" "$bare_load" \
    "$bare_cpu CPU s, broker $bare_broker; commit avg $(sed -n 's/.*commit avg \([0-9]*\) ms.*/\1/p' "$work/bare") ms"
printf '%-26s %10s %12s %8s %10s %s\n' "canon aggregate" "$canon_rate" "$(per_cpu "$N" "$canon_cpu")" "$canon_rss" "$canon_load" \
    "$canon_cpu CPU s ($canon_main_cpu loop thread), broker $canon_broker; commit avg $canon_commit_ms ms; $canon_out records, $canon_noop no-ops, $canon_dlq DLQ"
if [ "$STREAMS" = 1 ]; then
    streams_cpu=$(sed -n 's/^streams.app_cpu_s=//p' "$work/streams")
    # its CPU covers both of its phases: N updates and the latency phase's
    streams_n=$((N + LAT_RATE * STREAMS_LAT_SECONDS))
    printf '%-26s %10s %12s %8s %10s %s\n' "Kafka Streams (EOS v2)" "${streams_rate:--}" \
        "$(per_cpu "$streams_n" "${streams_cpu:-0}")" \
        "$(sed -n 's/^streams.peak_rss_mb=//p' "$work/streams")" "$streams_load" \
        "${streams_cpu:-?} CPU s for $streams_n updates (both phases, JVM start included)"
fi
r_bare=$(ratio "$canon_rate" "${bare_rate:-0}")
echo
echo "goal                                          measured                 verdict"
printf '%-45s %-24s %s\n' "canon >= 0.5x bare_copy" "${r_bare}x" "$(verdict "$r_bare" 0.5 '>=')"
if [ "$STREAMS" = 1 ]; then
    r_streams=$(ratio "$canon_rate" "${streams_rate:-0}")
    printf '%-45s %-24s %s\n' "canon >= 10x Kafka Streams" "${r_streams}x" "$(verdict "$r_streams" 10 '>=')"
fi
if [ "$LAT_SECONDS" != 0 ]; then
    printf '%-45s %-24s %s\n' "canon p99 < 50 ms at $LAT_RATE updates/s" \
        "p50 $lat_p50 p99 $lat_p99 max $lat_max ms" "$(verdict "$lat_p99" 50 '<')"
    echo "(latency phase: $lat_rate updates/s sent, counted after a $LAT_WARMUP s warm-up, $lat_txns transactions, load $lat_load at its end$lat_age;" \
        "canon's commits averaged $(commit_avg "$work/m2") ms over the whole run)"
    [ -n "$warm_note" ] && echo "$warm_note"
    [ -n "$bare_lat" ] && echo "(bare_copy at $LAT_RATE/s, commit every $COMMIT_MS ms: $bare_lat)"
    [ -n "$fast_lat" ] && echo "(bare_copy at $LAT_RATE/s, committing as fast as it can, the floor of one commit in flight: $fast_lat)"
    if [ "$STREAMS" = 1 ]; then
        echo "(Streams at $LAT_RATE/s: p50 $(sed -n 's/^streams.latency_p50_ms=//p' "$work/streams")" \
            "p99 $(sed -n 's/^streams.latency_p99_ms=//p' "$work/streams")" \
            "max $(sed -n 's/^streams.latency_max_ms=//p' "$work/streams") ms, kept up with" \
            "$(sed -n 's/^streams.latency_phase_records_per_s=//p' "$work/streams")/s)"
    fi
fi
echo "(records/CPU-s: updates per CPU second of the program's process, all threads: less"
echo " sensitive to the machine's load than records/s, which depends on the share of the cores"
echo " the program and the broker get)"
echo "machine load (1-minute average, $(nproc) cores): $load_start at the start, $(load) at the end"
exit $status
