#!/usr/bin/env bash
# kafka.sh - a real Apache Kafka broker (4.1.1, KRaft, single node) for Canongate's
# integration tests and benchmarks, fetched from Maven Central and run with the machine's
# Java 17 on 127.0.0.1.
#
#   kafka.sh fetch                  jars into the cache (once), plus a formatted storage
#                                   template and a class-data-sharing archive that make
#                                   `start` fast
#   kafka.sh start [DIR]            start a broker on free ports; prints shell lines
#                                   KAFKA_BOOTSTRAP=127.0.0.1:PORT KAFKA_PID=.. KAFKA_DIR=..
#                                   DIR: a new temp dir by default; an existing DIR of a
#                                   stopped broker restarts it with its data
#   kafka.sh stop [--keep] [DIR]    SIGTERM, SIGKILL after a timeout; removes DIR unless
#                                   --keep (or CANON_KAFKA_KEEP=1)
#   kafka.sh status [DIR]           "running ..." and exit 0, or "stopped" and exit 1
#   kafka.sh env [DIR]              print the lines `start` printed
#
# stop/status/env take DIR from the argument, else from $KAFKA_DIR (as set by
# `eval "$(kafka.sh start)"`). Every broker lives in its own DIR with its own ports, so
# any number can run side by side. Environment (all optional):
#   CANON_KAFKA_CACHE          cache (default ~/.cache/canongate/kafka-4.1.1)
#   CANON_KAFKA_STATE_DIR      DIR for `start` when no argument is given
#   CANON_KAFKA_JAVA           the java binary (default: the machine's Java 17)
#   CANON_KAFKA_HEAP           heap options (default -Xmx512m)
#   CANON_KAFKA_JVM_OPTS       more JVM options
#   CANON_KAFKA_QUICK=1        C1-only JIT: starts about twice as fast, runs slower (the
#                              pytest fixture sets it; benchmarks must not)
#   CANON_KAFKA_PROPS          extra server.properties lines (they override the defaults)
#   CANON_KAFKA_START_TIMEOUT  seconds to wait for the broker (default 60)
#   CANON_KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#   CANON_KAFKA_WATCH_PID      stop the broker when this process ends (for test runners
#                              that may die without their teardown)
#   CANON_KAFKA_KEEP=1         `stop` keeps DIR
#   CANON_KAFKA_MVN_OPTS       extra Maven options for `fetch` (e.g. -o)
#   CANON_KAFKA_SASL=1         `start`: the client listener speaks SASL_PLAINTEXT with the
#                              PLAIN mechanism instead of PLAINTEXT; one client user,
#                              canon / canon-secret (the broker's own is admin). `start`
#                              then also prints KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,
#                              KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD. Kept by DIR
#                              across restarts. The controller listener stays PLAINTEXT.
#   CANON_KAFKA_SSL=1          `start`: the client (and inter-broker) listener speaks SSL
#                              and requires a client certificate (mutual TLS). A CA, the
#                              broker's certificate (for 127.0.0.1 and localhost) and a
#                              client certificate (CN=canon) are made with openssl in
#                              DIR/tls on the first start; `start` then also prints
#                              KAFKA_SECURITY_PROTOCOL=SSL, KAFKA_SSL_CA_LOCATION,
#                              KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION
#                              (PEM files, the client's key unencrypted). Kept by DIR across
#                              restarts. The controller listener stays PLAINTEXT.
#   both                       CANON_KAFKA_SASL=1 CANON_KAFKA_SSL=1: the client (and
#                              inter-broker) listener speaks SASL_SSL: TLS with the broker's
#                              certificate (no client certificate asked for), then PLAIN as
#                              above. `start` prints KAFKA_SECURITY_PROTOCOL=SASL_SSL, the
#                              KAFKA_SASL_* lines and KAFKA_SSL_CA_LOCATION.
set -euo pipefail

KAFKA_VERSION=4.1.1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
cache=${CANON_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/canongate/kafka-$KAFKA_VERSION}
marker=.canon-kafka # in every state dir we made: `stop` removes only such dirs

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

now_ms() { date +%s%3N; }

# --- Java -----------------------------------------------------------------------------

find_java() {
    if [ -n "${CANON_KAFKA_JAVA:-}" ]; then
        echo "$CANON_KAFKA_JAVA"
        return
    fi
    # The machine's Java 17 even when JAVA_HOME points at another JDK for other builds.
    local j
    for j in /usr/lib/jvm/java-17-openjdk*/bin/java; do
        if [ -x "$j" ]; then
            echo "$j"
            return
        fi
    done
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        echo "$JAVA_HOME/bin/java"
        return
    fi
    command -v java || die "no java found (install a JDK 17 or set CANON_KAFKA_JAVA)"
}

# A class-data-sharing archive only fits the JVM that wrote it: key it by that binary.
cds_archive() {
    local real
    real=$(readlink -f "$1")
    echo "$cache/cds/$(printf '%s %s' "$real" "$(stat -c %Y "$real")" | cksum | cut -d' ' -f1).jsa"
}

classpath() {
    # Sorted and explicit: a CDS archive is only used when the classpath matches the one
    # it was written with, and a wildcard's order is the directory's.
    find "$cache/libs" -maxdepth 1 -name '*.jar' | LC_ALL=C sort | paste -sd: -
}

# --- fetch ----------------------------------------------------------------------------

pom_stamp() { cksum <"$here/pom.xml" | cut -d' ' -f1; }

fetched() {
    [ -f "$cache/.complete" ] && [ "$(cat "$cache/.complete")" = "$(pom_stamp)" ] &&
        [ -f "$cache/template/meta.properties" ]
}

write_log4j() {
    # INFO to DIR/logs/server.log: `start` waits for the "Kafka Server started" line, and a
    # failed test wants the broker's side of the story.
    cat >"$1" <<'EOF'
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
EOF
}

do_fetch() {
    mkdir -p "$(dirname "$cache")"
    exec 9>"$cache.lock"
    flock 9 # one fetch at a time per cache; the others wait and then find it done
    if ! fetched; then
        local t0 tmp out
        t0=$(now_ms)
        command -v mvn >/dev/null || die "mvn not found (Debian package maven)"
        echo "kafka.sh: fetching Apache Kafka $KAFKA_VERSION from Maven Central into $cache" >&2
        tmp="$cache.tmp.$$"
        rm -rf "$tmp"
        mkdir -p "$tmp"
        # shellcheck disable=SC2086
        if ! out=$(mvn -B -q -Dstyle.color=never ${CANON_KAFKA_MVN_OPTS:-} -f "$here/pom.xml" \
            dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$tmp/libs" 2>&1); then
            echo "$out" | tail -40 >&2
            rm -rf "$tmp"
            die "mvn dependency:copy-dependencies failed"
        fi
        [ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || die "mvn did not copy kafka_2.13"
        write_log4j "$tmp/log4j2.properties"
        rm -rf "$cache"
        mv "$tmp" "$cache"
        make_template
        pom_stamp >"$cache/.complete"
        echo "kafka.sh: fetched in $(($(now_ms) - t0)) ms" >&2
    fi
    make_cds_archive
    exec 9>&-
}

# A formatted KRaft storage (meta.properties + bootstrap.checkpoint) that every `start`
# copies, giving the copy fresh cluster and directory ids: running StorageTool on every
# start would cost a JVM start (about a second). With static voters
# (controller.quorum.voters) the storage holds no port, so one template fits every broker.
make_template() {
    local tmp java
    java=$(find_java)
    tmp=$(mktemp -d)
    CANON_KAFKA_PROPS="" write_props "$tmp/server.properties" "$tmp/data" 1 2
    if ! "$java" -cp "$(classpath)" kafka.tools.StorageTool format \
        -t "$(new_uuid)" -c "$tmp/server.properties" >"$tmp/format.log" 2>&1; then
        cat "$tmp/format.log" >&2
        rm -rf "$tmp"
        die "kafka.tools.StorageTool format failed"
    fi
    rm -rf "$cache/template"
    mv "$tmp/data" "$cache/template"
    rm -rf "$tmp"
}

# Starts a broker once with -XX:ArchiveClassesAtExit: the archive of its loaded classes
# halves every later JVM start (measured: about 5 s to 2.5 s to "Kafka Server started").
# Best effort: without it brokers start all the same, only slower.
make_cds_archive() {
    local java jsa dir
    java=$(find_java)
    jsa=$(cds_archive "$java")
    [ -f "$jsa" ] && return 0
    mkdir -p "$cache/cds"
    echo "kafka.sh: writing a class-data-sharing archive for $java (once)" >&2
    dir=$(mktemp -d)
    # The archive run is a plain broker: none of the caller's extra settings (a test may
    # be starting a broker that is meant to fail).
    if CANON_KAFKA_CDS_DUMP="$jsa.tmp.$$" CANON_KAFKA_PROPS="" CANON_KAFKA_JVM_OPTS="" \
        CANON_KAFKA_SASL=0 CANON_KAFKA_SSL=0 CANON_KAFKA_QUICK=0 CANON_KAFKA_WATCH_PID="" do_start "$dir" >/dev/null; then
        do_stop "$dir" 0 || true
        if [ -s "$jsa.tmp.$$" ]; then
            mv "$jsa.tmp.$$" "$jsa"
        else
            echo "kafka.sh: no archive written; starting without one" >&2
        fi
    else
        echo "kafka.sh: the archive run failed; starting without one" >&2
    fi
    rm -f "$jsa.tmp.$$"
    rm -rf "$dir"
}

# --- start ----------------------------------------------------------------------------

# A Kafka Uuid as text: 16 random bytes, base64url without padding, not starting with '-'
# (Kafka itself avoids those: they read as options on command lines).
new_uuid() {
    local u
    while :; do
        u=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
        case "$u" in -*) ;; *)
            echo "$u"
            return
            ;;
        esac
    done
}

port_free() {
    # Nothing listening on 127.0.0.1:$1 (a connect succeeds only if something is).
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Two free ports, from the kernel (bind to port 0) so that concurrent runs on the machine
# do not collide; a short race remains until Kafka binds them, so `start` retries on
# "Address already in use".
free_ports() {
    if command -v python3 >/dev/null; then
        python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])'
        return
    fi
    local a b
    while :; do
        a=$((20000 + RANDOM % 30000))
        b=$((a + 1))
        if port_free "$a" && port_free "$b"; then
            echo "$a $b"
            return
        fi
    done
}

write_props() { # file datadir broker_port controller_port [sasl: 1, ssl: 2, both: 3]
    case "${5:-0}" in
    1)
        write_props_sasl "$@"
        return
        ;;
    2)
        write_props_ssl "$@"
        return
        ;;
    3)
        write_props_sasl_ssl "$@"
        return
        ;;
    esac
    cat >"$1" <<EOF
# Written by tests/kafka/kafka.sh: a single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$4
listeners=PLAINTEXT://127.0.0.1:$3,CONTROLLER://127.0.0.1:$4
advertised.listeners=PLAINTEXT://127.0.0.1:$3
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$2
# One node: every internal topic with one replica.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer partitions of the internal topics: they are created on first use, in a test.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
# The log cleaner's dedupe buffer is allocated on the heap, 128 MB by default: a quarter
# of this 512 MB heap, live for good, which kept the old generation above G1's concurrent
# marking threshold (a mark cycle every other young collection under load, 2026-11-27:
# 18 in one benchmark run, none with 16 MB). 16 MB still dedupes about 700,000 keys per
# cleaning pass, far more than any test writes.
log.cleaner.dedupe.buffer.size=16777216
# Tests want no waiting and no surprises.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# The broker is unfenced one heartbeat after it catches up: 200 ms instead of 2 s.
broker.heartbeat.interval.ms=200
EOF
    if [ -n "${CANON_KAFKA_PROPS:-}" ]; then
        printf '# CANON_KAFKA_PROPS\n%s\n' "$CANON_KAFKA_PROPS" >>"$1"
    fi
}

# PLAIN's settings for the listener named $1 (lower case): the broker's own user (admin,
# inter-broker) and the client user canon.
plain_jaas() { # listener
    echo "listener.name.$1.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" user_canon=\"canon-secret\";"
}
# The broker's certificate and the CA it trusts, as make_tls wrote them next to the data
# dir.
tls_props() { # datadir
    local tls
    tls="$(dirname "$1")/tls"
    echo "ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=canon-tls
ssl.key.password=canon-tls
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem"
}
# The same broker with its client (and inter-broker) listener named $5 (SASL_PLAINTEXT,
# SSL or SASL_SSL) and the lines $6 for it: they come after the defaults, and in a
# .properties file the last one of a key wins.
write_props_secure() { # file datadir broker_port controller_port listener lines
    local p
    p="listeners=$5://127.0.0.1:$3,CONTROLLER://127.0.0.1:$4
advertised.listeners=$5://127.0.0.1:$3
inter.broker.listener.name=$5
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$5:$5
$6"
    CANON_KAFKA_PROPS="$p${CANON_KAFKA_PROPS:+
$CANON_KAFKA_PROPS}" write_props "$1" "$2" "$3" "$4" 0
}
# SASL_PLAINTEXT with PLAIN.
write_props_sasl() { # file datadir broker_port controller_port
    write_props_secure "$1" "$2" "$3" "$4" SASL_PLAINTEXT "sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
$(plain_jaas sasl_plaintext)"
}
# SSL, client certificates required.
write_props_ssl() { # file datadir broker_port controller_port
    write_props_secure "$1" "$2" "$3" "$4" SSL "$(tls_props "$2")
ssl.client.auth=required"
}
# SASL_SSL: TLS (the broker's certificate only), then PLAIN.
write_props_sasl_ssl() { # file datadir broker_port controller_port
    write_props_secure "$1" "$2" "$3" "$4" SASL_SSL "sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
$(plain_jaas sasl_ssl)
$(tls_props "$2")
ssl.client.auth=none"
}

# A CA, the broker's key and certificate in a PKCS12 keystore, and a client key and
# certificate as PEM, in dir/tls; once per dir, so restarts keep them (and clients' files).
make_tls() { # dir
    local t=$1/tls
    [ -f "$t/done" ] && return 0
    rm -rf "$t"
    mkdir -p "$t"
    (
        cd "$t"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
            -subj "/CN=canon test CA" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr \
            -subj "/CN=localhost" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out broker.pem -days 30 -extfile broker.ext 2>/dev/null
        openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem \
            -name broker -out broker.p12 -passout pass:canon-tls
        openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
            -subj "/CN=canon" 2>/dev/null
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out client.pem -days 30 2>/dev/null
        rm -f ./*.csr broker.ext
        touch done
    ) || {
        die "could not make the TLS files in $t (is openssl installed?)"
        return 1
    }
}

shell_quote() {
    case "$1" in
    *[!A-Za-z0-9_./:@%+,=-]* | '') printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
    *) printf '%s' "$1" ;;
    esac
}

broker_alive() { # dir
    local pid
    [ -f "$1/kafka.pid" ] || return 1
    pid=$(cat "$1/kafka.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # The pid must still be our broker, not a reused number.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/server.properties"
}

# Launches the JVM and waits for it; returns 0 when started, 2 on a port clash, 1 else.
launch() { # dir bport cport
    local dir=$1 java jsa pid deadline cp
    java=$(find_java)
    jsa=$(cds_archive "$java")
    cp=$(classpath)
    local mode=0
    [ -f "$dir/sasl" ] && mode=1
    [ -f "$dir/ssl" ] && mode=$((mode + 2))
    write_props "$dir/server.properties" "$dir/data" "$2" "$3" "$mode"
    mkdir -p "$dir/logs"
    [ -f "$dir/logs/server.log" ] && mv "$dir/logs/server.log" "$dir/logs/server.log.prev"
    local -a opts
    # G1 regions of 4 MB: with the 1 MB regions G1 picks for a small heap, every produce
    # request of 512 KB or more (librdkafka's batches reach 1 MB) is a humongous object, and
    # each one starts a GC cycle. perf on a fresh broker during the aggregator benchmark's
    # canon phase: 45% of the broker's CPU in G1 (113 collections in 7 s, all "G1 Humongous
    # Allocation"); with 4 MB regions none, and the broker's CPU for that phase went from
    # 7.3-9.9 to 3.1 s (docs/performance-journal.md). Production guides size regions
    # for the same reason.
    # shellcheck disable=SC2206
    opts=(${CANON_KAFKA_HEAP:--Xmx512m} -server -XX:+UseG1GC -XX:G1HeapRegionSize=4m
        -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
        -XX:+ExplicitGCInvokesConcurrent
        -Djava.awt.headless=true -Xlog:cds=off -Xlog:cds+dynamic=off
        "-Dlog4j2.configurationFile=$cache/log4j2.properties" "-Dkafka.logs.dir=$dir/logs")
    if [ -n "${CANON_KAFKA_CDS_DUMP:-}" ]; then
        opts+=("-XX:ArchiveClassesAtExit=$CANON_KAFKA_CDS_DUMP")
    elif [ -f "$jsa" ]; then
        opts+=("-XX:SharedArchiveFile=$jsa")
    fi
    if [ "${CANON_KAFKA_QUICK:-0}" = 1 ]; then
        # C1 only: the broker starts in about half the time on a busy 2-core machine
        # (measured 8.3 s -> 3.8 s at load 5), but runs slower: tests yes, benchmarks no.
        opts+=(-XX:TieredStopAtLevel=1)
    fi
    # shellcheck disable=SC2206
    opts+=(${CANON_KAFKA_JVM_OPTS:-})
    # setsid: the broker outlives this script and ignores the caller's Ctrl-C (the caller
    # stops it with `stop`); no inherited stdout, or a caller reading ours would hang.
    setsid "$java" "${opts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" \
        </dev/null >"$dir/logs/stdout.log" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$dir/kafka.pid"
    deadline=$(($(date +%s) + ${CANON_KAFKA_START_TIMEOUT:-60}))
    while :; do
        if grep -q "Kafka Server started" "$dir/logs/server.log" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            if grep -qs "Address already in use" "$dir/logs/server.log" "$dir/logs/stdout.log"; then
                return 2
            fi
            echo "kafka.sh: the broker exited during start-up; its log ends:" >&2
            tail -n 40 "$dir/logs/server.log" "$dir/logs/stdout.log" >&2 2>/dev/null || true
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "kafka.sh: the broker did not start within ${CANON_KAFKA_START_TIMEOUT:-60} s; its log ends:" >&2
            tail -n 40 "$dir/logs/server.log" "$dir/logs/stdout.log" >&2 2>/dev/null || true
            kill -9 "$pid" 2>/dev/null || true
            return 1
        fi
        sleep 0.05
    done
}

do_start() { # dir (may be empty)
    local dir=${1:-} t0 bport cport try rc made=0
    t0=$(now_ms)
    if [ -z "$dir" ]; then
        dir=$(mktemp -d "${TMPDIR:-/tmp}/canon-kafka.XXXXXX")
        made=1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if broker_alive "$dir"; then
        die "a broker already runs in $dir (pid $(cat "$dir/kafka.pid"))"
    fi
    # Only a dir that is new (or ours already) is marked for removal by `stop`: a named
    # dir holding other files keeps them.
    if [ -z "$(ls -A "$dir")" ]; then
        touch "$dir/$marker"
    fi
    if [ "${CANON_KAFKA_SASL:-0}" = 1 ]; then
        touch "$dir/sasl"
    fi
    if [ "${CANON_KAFKA_SSL:-0}" = 1 ]; then
        touch "$dir/ssl"
    fi
    if [ -f "$dir/ssl" ]; then
        make_tls "$dir" || exit 1
    fi
    if [ ! -f "$dir/data/meta.properties" ]; then
        # A fresh storage: the template with new ids.
        rm -rf "$dir/data"
        mkdir -p "$dir/data"
        cp "$cache/template/bootstrap.checkpoint" "$dir/data/"
        sed -e "s/^cluster\.id=.*/cluster.id=$(new_uuid)/" \
            -e "s/^directory\.id=.*/directory.id=$(new_uuid)/" \
            "$cache/template/meta.properties" >"$dir/data/meta.properties"
    fi
    # A restart keeps its ports when they are still free, so clients can reconnect.
    if [ -f "$dir/ports" ]; then
        read -r bport cport <"$dir/ports"
        if ! port_free "$bport" || ! port_free "$cport"; then
            read -r bport cport < <(free_ports)
        fi
    else
        read -r bport cport < <(free_ports)
    fi
    for try in 1 2 3 4 5; do
        rc=0
        launch "$dir" "$bport" "$cport" || rc=$?
        [ "$rc" -eq 2 ] || break
        echo "kafka.sh: port $bport or $cport was taken meanwhile; trying others ($try)" >&2
        read -r bport cport < <(free_ports)
    done
    if [ "$rc" -ne 0 ]; then
        rm -f "$dir/kafka.pid"
        # A temp dir of ours goes (its log tail was printed); a dir the caller named stays.
        [ "$made" = 0 ] || rm -rf "$dir"
        die "could not start a broker in $dir"
    fi
    echo "$bport $cport" >"$dir/ports"
    {
        echo "KAFKA_BOOTSTRAP=127.0.0.1:$bport"
        echo "KAFKA_PID=$(cat "$dir/kafka.pid")"
        echo "KAFKA_DIR=$(shell_quote "$dir")"
        echo "KAFKA_CONTROLLER=127.0.0.1:$cport"
        if [ -f "$dir/sasl" ] && [ -f "$dir/ssl" ]; then
            echo "KAFKA_SECURITY_PROTOCOL=SASL_SSL"
        elif [ -f "$dir/sasl" ]; then
            echo "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"
        elif [ -f "$dir/ssl" ]; then
            echo "KAFKA_SECURITY_PROTOCOL=SSL"
        fi
        if [ -f "$dir/sasl" ]; then
            echo "KAFKA_SASL_MECHANISM=PLAIN"
            echo "KAFKA_SASL_USERNAME=canon"
            echo "KAFKA_SASL_PASSWORD=canon-secret"
        fi
        if [ -f "$dir/ssl" ]; then
            echo "KAFKA_SSL_CA_LOCATION=$(shell_quote "$dir/tls/ca.pem")"
        fi
        if [ -f "$dir/ssl" ] && [ ! -f "$dir/sasl" ]; then
            echo "KAFKA_SSL_CERTIFICATE_LOCATION=$(shell_quote "$dir/tls/client.pem")"
            echo "KAFKA_SSL_KEY_LOCATION=$(shell_quote "$dir/tls/client.key")"
        fi
    } >"$dir/env"
    if [ -n "${CANON_KAFKA_WATCH_PID:-}" ]; then
        start_watchdog "$dir" "$CANON_KAFKA_WATCH_PID"
    fi
    echo "kafka.sh: broker started in $(($(now_ms) - t0)) ms" >&2
    cat "$dir/env"
}

# Stops the broker (and removes its dir) once the watched process has gone, so a test
# runner killed without its teardown leaves no broker behind.
start_watchdog() { # dir pid
    local bpid
    bpid=$(cat "$1/kafka.pid")
    # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
    setsid bash -c '
        while kill -0 "$1" 2>/dev/null; do
            kill -0 "$2" 2>/dev/null || exit 0
            sleep 1
        done
        kill -0 "$2" 2>/dev/null && exec "$3" stop "$4"' \
        watchdog "$2" "$bpid" "$self" "$1" </dev/null >/dev/null 2>&1 &
}

# --- stop / status / env --------------------------------------------------------------

resolve_dir() {
    local d=${1:-${KAFKA_DIR:-}}
    [ -n "$d" ] || die "no state dir: pass DIR or set KAFKA_DIR (from \`eval \"\$(kafka.sh start)\"\`)"
    [ -d "$d" ] || die "$d: no such directory"
    (cd "$d" && pwd)
}

do_stop() { # dir keep
    local dir=$1 keep=$2 pid waited limit
    if broker_alive "$dir"; then
        pid=$(cat "$dir/kafka.pid")
        kill -TERM "$pid" 2>/dev/null || true
        limit=$((${CANON_KAFKA_STOP_TIMEOUT:-30} * 20))
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$limit" ]; do
            sleep 0.05
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "kafka.sh: broker $pid ignored SIGTERM for ${CANON_KAFKA_STOP_TIMEOUT:-30} s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        fi
    fi
    rm -f "$dir/kafka.pid"
    if [ "$keep" = 0 ]; then
        if [ -f "$dir/$marker" ]; then
            rm -rf "$dir"
        else
            echo "kafka.sh: $dir was not made by kafka.sh start; not removing it" >&2
        fi
    fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
fetch)
    do_fetch
    ;;
start)
    do_fetch
    do_start "${1:-${CANON_KAFKA_STATE_DIR:-}}"
    ;;
stop)
    keep=${CANON_KAFKA_KEEP:-0}
    if [ "${1:-}" = "--keep" ]; then
        keep=1
        shift
    fi
    d=$(resolve_dir "${1:-}")
    do_stop "$d" "$keep"
    ;;
status)
    d=$(resolve_dir "${1:-}")
    if broker_alive "$d"; then
        echo "running pid $(cat "$d/kafka.pid") $(grep KAFKA_BOOTSTRAP "$d/env" 2>/dev/null)"
    else
        echo "stopped"
        exit 1
    fi
    ;;
env)
    d=$(resolve_dir "${1:-}")
    [ -f "$d/env" ] || die "$d: no broker was started there"
    cat "$d/env"
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
