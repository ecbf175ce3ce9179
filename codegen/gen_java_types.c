/* gen_java_types.c - Java classes for Avro enums and fixed types.
 *
 * An enum is a Java enum implementing GenericEnumSymbol, a fixed is a SpecificFixed
 * subclass with its size in @FixedSize: the shapes Avro Java's compiler writes and its
 * SpecificData instantiates. Symbols that are Java keywords get '$' appended, as there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gen_java_internal.h"

static long long fingerprint(const reg_node *n)
{
    char *canon = reg_node_canonical(n);
    uint64_t fp = canon ? reg_fingerprint64(canon, strlen(canon)) : 0;
    free(canon);
    return (long long)fp;
}

void jg_emit_enum(jgen *g, const reg_node *n)
{
    const char *P = jg_source_path(g, n);
    const char *C = jg_class(g, n);
    jg_header(g, P, jg_package(g, n));
    gen_files_printf(g->out, P,
                     "/** Avro enum %s%s%s. */\n@org.apache.avro.specific.AvroGenerated\n"
                     "public enum %s implements org.apache.avro.generic.GenericEnumSymbol<%s> {\n ",
                     n->fullname, n->enum_default ? ", default " : "",
                     n->enum_default ? n->enum_default : "", C, C);
    for (size_t i = 0; i < n->n_symbols; i++)
        gen_files_printf(g->out, P, "%s %s", i ? "," : "", jg_mangle(g, n->symbols[i]));
    gen_files_printf(g->out, P,
                     ";\n\n  /** The enum's schema, as SpecificData reads it. */\n"
                     "  public static final org.apache.avro.Schema SCHEMA$ =\n      ");
    jg_emit_schema_parse(g, P, n);
    gen_files_printf(g->out, P,
                     ";\n\n  /** The enum's schema. */\n"
                     "  public static org.apache.avro.Schema getClassSchema() {\n"
                     "    return SCHEMA$;\n  }\n"
                     "\n  @Override\n  public org.apache.avro.Schema getSchema() {\n"
                     "    return SCHEMA$;\n  }\n");
    if (n->enum_default)
        gen_files_printf(g->out, P,
                         "\n  /** The symbol readers use for a symbol they do not know. */\n"
                         "  public static final %s DEFAULT$ = %s;\n",
                         C, jg_mangle(g, n->enum_default));
    gen_files_printf(g->out, P, "}\n");
}

void jg_emit_fixed(jgen *g, const reg_node *n)
{
    const char *P = jg_source_path(g, n);
    const char *C = jg_class(g, n);
    jg_header(g, P, jg_package(g, n));
    gen_files_printf(g->out, P,
                     "/** Avro fixed %s, %zu bytes. */\n@org.apache.avro.specific.FixedSize(%zu)\n"
                     "@org.apache.avro.specific.AvroGenerated\n"
                     "public class %s extends org.apache.avro.specific.SpecificFixed {\n"
                     "  private static final long serialVersionUID = %lldL;\n\n"
                     "  /** The type's schema, as SpecificData reads it. */\n"
                     "  public static final org.apache.avro.Schema SCHEMA$ =\n      ",
                     n->fullname, n->size, n->size, C, fingerprint(n));
    jg_emit_schema_parse(g, P, n);
    gen_files_printf(g->out, P,
                     ";\n\n  /** The type's schema. */\n"
                     "  public static org.apache.avro.Schema getClassSchema() {\n"
                     "    return SCHEMA$;\n  }\n"
                     "\n  @Override\n  public org.apache.avro.Schema getSchema() {\n"
                     "    return SCHEMA$;\n  }\n"
                     "\n  /** All bytes zero. */\n  public %s() {\n    super();\n  }\n"
                     "\n  /** The given bytes (exactly %zu; not copied). */\n"
                     "  public %s(byte[] bytes) {\n    super(bytes);\n"
                     "    if (bytes.length != %zu)\n"
                     "      throw new java.lang.IllegalArgumentException(\"%s holds %zu bytes, "
                     "not \" + bytes.length);\n  }\n"
                     "\n  @Override\n  public void writeExternal(java.io.ObjectOutput out) "
                     "throws java.io.IOException {\n    out.write(bytes());\n  }\n"
                     "\n  @Override\n  public void readExternal(java.io.ObjectInput in) "
                     "throws java.io.IOException {\n    in.readFully(bytes());\n  }\n}\n",
                     C, n->size, C, n->size, C, n->size);
}
