#!/usr/bin/env bash
# valgrind.sh - the unit tests and a short `canon registry` session under valgrind's
# memcheck (issue 7: "the whole test suite passes under ASan + UBSan and under valgrind
# with no leak").
#
# ASan + UBSan (scripts/test.sh) already run everything; valgrind adds what they miss
# on the same code: reads of uninitialised memory, and leaks checked on a build without
# instrumentation (the libraries' own allocations included). A definite or indirect leak,
# or any memcheck error, fails; "still reachable" memory (libraries' global state kept
# until exit) does not.
#
#   scripts/valgrind.sh               build-valgrind (-O1 -g), every unit test, a registry
#   scripts/valgrind.sh test_store    only the named unit tests (and no registry session)
#
# Environment: BUILD_DIR (default build-valgrind), JOBS (parallel tests, default 2).
# Prints one line per test, then "valgrind: N passed, M failed"; exit 1 if any failed.
# Each failure's full valgrind log is kept in BUILD_DIR/valgrind-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-$root/build-valgrind}
jobs=${JOBS:-2}
logs=$build/valgrind-logs

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind not found (Debian package valgrind)" >&2; exit 2; }

# -O1 keeps stack traces readable and runs several times faster than -O0 under valgrind.
# Warnings are not errors here: GCC's -Wformat-truncation reasons differently at -O1 than at
# the -O2 and -O0 of the builds that enforce -Werror (scripts/build.sh).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCANON_WERROR=OFF >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null
rm -rf "$logs"
mkdir -p "$logs"

# shellcheck disable=SC2054 # the commas are inside option values
VG=(valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=yes
    --num-callers=30)

# One unit test under valgrind: prints "ok NAME (S s)" or "FAIL NAME ...".
run_unit() {
    local name=$1 log=$logs/$1.log t0 rc=0
    t0=$(date +%s)
    CANON_VECTORS_DIR=$root/../shared/vectors CANON_TESTDATA_DIR=$root/tests/unit/data \
        "${VG[@]}" --log-file="$log" "$build/$name" >"$logs/$name.out" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "ok   $name ($(($(date +%s) - t0)) s)"
        rm -f "$log" "$logs/$name.out"
    else
        echo "FAIL $name (exit $rc$([ "$rc" -eq 99 ] && echo ': memcheck errors or leaks'); see $log)"
    fi
}
export -f run_unit
export root build logs
export VG_STR="${VG[*]}"

if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=()
    for src in tests/unit/test_*.c; do
        tests+=("$(basename "$src" .c)")
    done
fi

# bash arrays do not cross `export`: each worker rebuilds VG from VG_STR (no option holds
# a space)
# shellcheck disable=SC2016 # expanded by the worker's bash, not here
results=$(printf '%s\n' "${tests[@]}" |
    xargs -P "$jobs" -I{} bash -c 'read -r -a VG <<<"$VG_STR"; run_unit "$1"' _ {})

# A registry session: start, a few requests of each kind, SIGTERM, clean exit.
registry_session() {
    local dir log url pid rc=0 t0
    t0=$(date +%s)
    dir=$(mktemp -d)
    log=$logs/registry.log
    "${VG[@]}" --log-file="$log" "$build/canon" registry --listen 127.0.0.1:0 \
        --db "$dir/reg.db" >"$dir/out" 2>"$logs/registry.stderr" &
    pid=$!
    for _ in $(seq 1 600); do # valgrind starts slowly: up to 60 s
        url=$(grep -o 'http://[^ ]*' "$dir/out" 2>/dev/null | head -1 || true)
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$url" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "FAIL registry session (did not start; see $logs/registry.stderr)"
        return
    fi
    local ct='Content-Type: application/vnd.schemaregistry.v1+json' bad=0
    local schema='{"schema": "{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}"}'
    local schema2='{"schema": "{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"int\",\"default\":0}]}"}'
    req() { # expected-status method path [body]
        local got
        got=$(curl -s -o /dev/null -w '%{http_code}' -X "$2" -H "$ct" ${4:+--data "$4"} "$url$3" || true)
        if [ "$got" != "$1" ]; then
            echo "  registry: $2 $3 answered $got, expected $1" >&2
            bad=1
        fi
    }
    req 200 POST /subjects/v-value/versions "$schema"
    req 200 POST /subjects/v-value/versions "$schema" # same schema again: same id
    req 200 POST /compatibility/subjects/v-value/versions/latest "$schema2"
    req 200 POST /subjects/v-value/versions "$schema2"
    req 200 GET /subjects
    req 200 GET /subjects/v-value/versions
    req 200 GET /subjects/v-value/versions/latest
    req 200 GET /schemas/ids/1
    req 200 POST /subjects/v-value "$schema"
    req 200 PUT /config/v-value '{"compatibility": "FULL"}'
    req 200 GET /config
    req 404 GET /subjects/none/versions
    req 422 POST /subjects/v-value/versions '{"schema": "{not json"}'
    req 404 GET /schemas/ids/999
    req 200 DELETE /subjects/v-value/versions/1
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    rm -rf "$dir"
    if [ "$rc" -eq 0 ] && [ "$bad" -eq 0 ]; then
        echo "ok   registry session ($(($(date +%s) - t0)) s)"
        rm -f "$log"
    elif [ "$rc" -ne 0 ]; then
        echo "FAIL registry session (exit $rc$([ "$rc" -eq 99 ] && echo ': memcheck errors or leaks'); see $log)"
    else
        echo "FAIL registry session (unexpected answers, above)"
    fi
}

if [ $# -eq 0 ]; then
    read -r -a VG <<<"$VG_STR"
    results+=$'\n'$(registry_session)
fi

echo "$results" | sed '/^$/d'
passed=$(echo "$results" | grep -c '^ok ' || true)
failed=$(echo "$results" | grep -c '^FAIL ' || true)
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
