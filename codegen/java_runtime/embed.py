#!/usr/bin/env python3
"""embed.py - writes codegen/gen_java_runtime.c from the Java sources in this folder.

The Java runtime every binding carries (package canongate.runtime) is kept here as real
Java files so it can be read, compiled and reviewed as Java; the generator embeds it as C
string arrays. Run `python3 codegen/java_runtime/embed.py && clang-format -i
codegen/gen_java_runtime.c` after editing a file here."""
import os, json
d=os.path.dirname(os.path.abspath(__file__))
names=['Framed','Wire','RecordCodec','AvroJson','RegistryClient','SchemaFetchException','RegistryDecoder','CanonProducer','CanonRecord','CanonConsumer']
out=['''/* gen_java_runtime.c - the fixed runtime every Java binding carries (canongate.runtime).
 *
 * Code that does not depend on the schema lives here once instead of being written into
 * every class: the binary codec shared by a record class's instances, Confluent framing,
 * the Avro JSON encoding (with the wire contract's "NaN"/"Infinity" strings, which Avro
 * Java's JsonDecoder refuses), the registry client (java.net.http), the decoder that
 * resolves a writer schema fetched by id against the binding's (RegistryDecoder) and the
 * generic producer/consumer the entity helpers specialise. Each binding carries the same bytes,
 * so two bindings on one classpath share these classes without conflict.
 *
 * Do not edit: generated from the .java files of codegen/java_runtime/ by codegen/java_runtime/embed.py
 * (then clang-format); tests/bindings/java checks the two agree. */
#include <string.h>

#include "gen_java_internal.h"
''']
for n in names:
    src=open(os.path.join(d,n+'.java')).read().rstrip('\n').split('\n')
    out.append('static const char *const rt_%s[] = {' % n)
    for l in src:
        out.append('    %s,' % json.dumps(l))
    out.append('    NULL};\n')
out.append('''static const struct {
    const char *name;
    const char *const *lines;
} rt_files[] = {''')
for n in names:
    out.append('    {"%s", rt_%s},' % (n,n))
out.append('''};

void jg_emit_runtime(jgen *g)
{
    for (size_t i = 0; i < sizeof rt_files / sizeof rt_files[0]; i++) {
        const char *path = jg_strf(g, "src/main/java/canongate/runtime/%s.java", rt_files[i].name);
        jg_header(g, path, NULL);
        for (const char *const *l = rt_files[i].lines; *l; l++) {
            gen_files_append(g->out, path, *l, strlen(*l));
            gen_files_append(g->out, path, "\\n", 1);
        }
    }
}''')
open(os.path.join(d, '..', 'gen_java_runtime.c'),'w').write('\n'.join(out)+'\n')
