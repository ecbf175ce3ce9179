#!/bin/sh
# run.sh [SECONDS_EACH] [TARGET...] - builds the libFuzzer targets (build.sh), replays
# every regression input (regressions/<target>/), then fuzzes each target for
# SECONDS_EACH seconds (default 10) of wall time from its seed corpus (corpus/<target>/).
# New inputs go to a scratch directory, never into the checked-in corpus. Prints per
# target libFuzzer's last stats line (executions, coverage, exec/s). Exits non-zero on any
# crash, leak, UB or timeout; the reproducer is left in the scratch directory it names.
# Environment: FUZZ_BUILD_DIR (default <repo>/build-fuzz), FUZZ_JOBS unused (serial,
# so the machine's other work is not starved).
set -u
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-10}
[ $# -gt 0 ] && shift
out=$("$here/build.sh" ${FUZZ_BUILD_DIR:+"$FUZZ_BUILD_DIR"}) || { echo "fuzz: build failed" >&2; exit 1; }
bin=$(printf '%s\n' "$out" | tail -1)
targets=${*:-$(cd "$here/corpus" && ls)}
scratch=$(mktemp -d /tmp/canon-fuzz.XXXXXX)
fail=0
ran=0
failed=""
for t in $targets; do
    ran=$((ran + 1))
    exe="$bin/fuzz_$t"
    [ -x "$exe" ] || { echo "fuzz: no target $t" >&2; fail=1; continue; }
    opts="-rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1"
    reg="$here/regressions/$t"
    if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
        if ! "$exe" $opts "$reg"/* > "$scratch/$t.replay.log" 2>&1; then
            echo "FAIL $t: regression input fails again:"; tail -30 "$scratch/$t.replay.log"
            fail=1
            continue
        fi
        echo "ok   $t: $(ls "$reg" | wc -l) regression inputs replayed"
    fi
    mkdir -p "$scratch/$t.corpus" "$scratch/$t.art"
    if "$exe" $opts -max_total_time="$secs" -artifact_prefix="$scratch/$t.art/" \
        "$scratch/$t.corpus" "$here/corpus/$t" > "$scratch/$t.log" 2>&1; then
        st="ok  "
    else
        st="FAIL"
        fail=1
    fi
    stats=$(grep -E '^#[0-9]+' "$scratch/$t.log" | tail -1)
    echo "$st $t (${secs}s): $stats"
    if [ "$st" = FAIL ]; then
        grep -E 'ERROR|SUMMARY|runtime error|abort' "$scratch/$t.log" | head -10
        echo "     log: $scratch/$t.log; reproducer: $(ls "$scratch/$t.art"/* 2> /dev/null)"
    fi
    [ "$st" = FAIL ] && failed="$failed $t"
done
if [ $fail -eq 0 ]; then
    rm -rf "$scratch"
    echo "fuzz: $ran targets, ${secs} s each: no crash, leak or undefined behaviour"
else
    echo "fuzz: $ran targets, ${secs} s each: FAILED:${failed:- (see above)}"
fi
exit $fail
