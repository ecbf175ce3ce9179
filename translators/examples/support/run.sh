#!/bin/sh
# run.sh - build and run the Support translator (a Java app on the generated Java binding).
#
#   translators/examples/support/run.sh --bootstrap-servers B --registry URL [--events FILE]
#   translators/examples/support/run.sh --print-ids < emails.txt
#
# 1. `canon gen --lang java` writes the person binding from the registry (from
#    schemas/person.avsc when no --registry is given, e.g. for --print-ids);
# 2. javac compiles the binding and the app against Avro + kafka-clients (their classpath
#    is asked of Maven once and cached, as the binding's own roundtrip.sh does);
# 3. java runs it. `mvn package` with pom.xml is the same build the Maven way (README.md).
#
# Environment: CANON_BIN (default build/canon), OUT (default build/examples/support).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
canon=${CANON_BIN:-$root/build/canon}
out=${OUT:-$root/build/examples/support}
registry=
prev=
for a in "$@"; do
    [ "$prev" = --registry ] && registry=$a
    prev=$a
done

rm -rf "$out/binding" "$out/classes"
mkdir -p "$out"
if [ -n "$registry" ]; then
    "$canon" gen --lang java --registry "$registry" --subject canon.person.entity \
        --out "$out/binding" >/dev/null 2>"$out/gen.err" || { cat "$out/gen.err" >&2; exit 1; }
else
    "$canon" gen --lang java --schema "$root/schemas/person.avsc" --out "$out/binding" \
        >/dev/null 2>"$out/gen.err" || { cat "$out/gen.err" >&2; exit 1; }
fi

cache=${CANONGATE_CACHE_DIR:-$HOME/.cache/canongate}/java
cpfile=$cache/classpath-avro-1.12.1-kafka-3.9.1.txt
if [ ! -s "$cpfile" ]; then
    mkdir -p "$cache"
    (cd "$out/binding" &&
        { mvn -q -B -o dependency:build-classpath -Dmdep.outputFile="$cpfile.tmp" >/dev/null 2>&1 ||
          mvn -q -B dependency:build-classpath -Dmdep.outputFile="$cpfile.tmp" >&2; }) &&
        mv "$cpfile.tmp" "$cpfile"
fi
cp=$(cat "$cpfile")

# shellcheck disable=SC2046 # the file list is split on purpose (paths have no spaces)
javac -J-XX:TieredStopAtLevel=1 -J-Xshare:auto --release 17 -nowarn -cp "$cp" -d "$out/classes" \
    $(find "$out/binding/src/main/java" "$here/src/main/java" -name '*.java')
cd "$here"
exec java -XX:TieredStopAtLevel=1 -Dslf4j.internal.verbosity=ERROR -cp "$out/classes:$cp" \
    org.example.support.SupportTranslator "$@"
