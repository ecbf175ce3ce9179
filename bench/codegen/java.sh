#!/bin/sh
# Hook of bench/codegen/run.sh for the Java binding: `sh java.sh BUILD_DIR SECONDS`.
# Uses BUILD_DIR/canon when it exists (else CANON_BIN or build/canon); see java/run.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -x "${1:-}/canon" ] && [ -z "${CANON_BIN:-}" ]; then
    CANON_BIN="$1/canon"
    export CANON_BIN
fi
echo "Java (bench/codegen/java):"
exec sh "$here/java/run.sh" "${2:-1}"
