#!/bin/sh
# Regenerates codegen/gen_python_runtime.c from codegen/gen_python_runtime.py (the source
# of truth of canongate/_runtime.py). Run after editing the .py; the Python binding
# tests check that the two agree (tests/bindings/python/test_runtime_embedded.py).
cd "$(dirname "$0")" || exit 2
python3 - <<'PY'
src = open("gen_python_runtime.py", encoding="utf-8").read()
out = ['/* gen_python_runtime.c - canongate/_runtime.py, embedded in every Python binding.',
       ' *',
       ' * Made by gen_python_embed.sh from gen_python_runtime.py (edit that file, not this',
       ' * one): fastavro calls, framing, Avro JSON leaf conversions, murmur2 and the Kafka',
       ' * helpers, the same bytes in every binding so that bindings installed side by side',
       ' * agree. */',
       '#include "gen_python_internal.h"',
       '',
       'static const char *const runtime_lines[] = {']
for line in src.split("\n")[:-1]:
    esc = line.replace("\\", "\\\\").replace('"', '\\"')
    out.append('    "%s",' % esc)
out += ['    NULL,', '};', '',
        'void pg_emit_runtime(gen_files *out)', '{',
        '    for (size_t i = 0; runtime_lines[i]; i++)',
        '        gen_files_printf(out, "src/canongate/_runtime.py", "%s\\n", runtime_lines[i]);',
        '}', '']
open("gen_python_runtime.c", "w", encoding="utf-8").write("\n".join(out))
PY
command -v clang-format >/dev/null && clang-format -i gen_python_runtime.c
