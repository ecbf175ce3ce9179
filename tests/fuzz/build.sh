#!/bin/sh
# build.sh [BUILD_DIR] - builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang,
# linked against the project's static libraries built in BUILD_DIR (default
# build-fuzz) with -fsanitize=fuzzer-no-link,address,undefined. Prints the directory
# holding the binaries (BUILD_DIR/fuzz) on its last line.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bdir=${1:-$src/build-fuzz}
logdir=$bdir-logs # the build logs, beside the build directory (git ignores both)
mkdir -p "$logdir"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
command -v clang > /dev/null || { echo "build.sh: clang is needed" >&2; exit 2; }
CC=clang cmake -S "$src" -B "$bdir" -DCANON_WERROR=OFF -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="-O1 -g -fsanitize=fuzzer-no-link $san" > "$logdir/cmake.log" 2>&1 ||
    { cat "$logdir/cmake.log" >&2; exit 1; }
cmake --build "$bdir" -j2 --target cg_translators cg_canon cg_registry cg_common > "$logdir/build.log" 2>&1 ||
    { tail -40 "$logdir/build.log" >&2; exit 1; }
mkdir -p "$bdir/fuzz"
libs="$bdir/libcg_translators.a $bdir/libcg_canon.a $bdir/libcg_registry.a $bdir/libcg_common.a"
sys="-lavro -ljansson -lsqlite3 -lmicrohttpd -lgnutls -lrdkafka -lm -lpthread"
for f in "$here"/fuzz_*.c; do
    t=$(basename "$f" .c)
    out="$bdir/fuzz/$t"
    # sources a target compiles itself: code of the C bindings' runtime that no library
    # holds (canon_rt.c comes with libcg_translators.a)
    extra=""
    [ "$t" = fuzz_resolve ] && extra="$src/codegen/c_runtime/canon_resolve.c"
    if [ ! -x "$out" ] || [ "$f" -nt "$out" ] || { [ -n "$extra" ] && [ "$extra" -nt "$out" ]; } ||
        [ -n "$(find "$bdir" -maxdepth 1 -name '*.a' -newer "$out")" ]; then
        clang -std=c11 -O1 -g -fsanitize=fuzzer $san -Wall -Wextra -Werror \
            -DCANON_SRC_DIR="\"$src\"" -I"$src" -I"$here" -o "$out" "$f" $extra $libs $sys
    fi
done
# the seed generator for corpus/update (README.md); a plain program, no libFuzzer main
clang -std=c11 -O1 -g -fsanitize=fuzzer-no-link $san -Wall -Wextra -Werror \
    -DCANON_SRC_DIR="\"$src\"" -I"$src" -I"$here" -o "$bdir/fuzz/seed_updates" \
    "$here/seed_updates.c" $libs $sys
echo "$bdir/fuzz"
