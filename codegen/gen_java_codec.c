/* gen_java_codec.c - the straight-line Avro binary encoder/decoder of a record class.
 *
 * Avro's SpecificDatumWriter/Reader walk the schema at run time for every datum: a
 * switch per value, a union resolved by reflection-like look-ups, logical types found in
 * a map. The generated encode()/decode() are written out for the schema instead: one
 * statement per field on Avro's own Encoder/Decoder, so the bytes are Avro's by
 * construction (same primitive writers; logical types through the same Conversion
 * objects), while the per-value dispatch disappears. Arrays, maps, unions and fixed
 * types get a small private static helper each, so nesting and recursion stay simple.
 *
 * Decoding is bounds-checked by Avro's BinaryDecoder (it throws on a short input); ints,
 * enum and union indexes are read as longs and must fit 32 bits (runtime Wire.readInt:
 * Avro's readInt would drop the high bits of a longer varint); the class's
 * fromByteArray() also turns runtime errors from hostile input (an enum or union index
 * out of range) into IOException and refuses trailing bytes. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_java_internal.h"

typedef struct codec {
    jgen *g;
    const char *cls; /* simple name of the class being written */
    char *helpers;   /* Java text of helper methods and constants, appended */
    size_t len, cap;
    const reg_node **done; /* nodes whose helpers exist, index = helper number */
    char **done_form;      /* their normalized forms: equal types share one helper */
    size_t n_done, cap_done;
} codec;

static void put(codec *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(codec *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        c->g->oom = 1;
        return;
    }
    if (c->len + (size_t)n + 1 > c->cap) {
        size_t cap = (c->cap ? c->cap * 2 : 4096) + (size_t)n;
        char *p = realloc(c->helpers, cap);
        if (!p) {
            c->g->oom = 1;
            return;
        }
        c->helpers = p;
        c->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(c->helpers + c->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->len += (size_t)n;
}

/* Number of the helper for node n; *fresh is 1 when the caller must write it. Types are
 * matched by their normalized form (which keeps logical types, unlike the canonical
 * form), so ten ["null","string"] fields share one pair of helpers. */
static size_t helper_id(codec *c, const reg_node *n, int *fresh)
{
    *fresh = 0;
    char *form = reg_node_normalized(n);
    if (!form) {
        c->g->oom = 1;
        return 0;
    }
    for (size_t i = 0; i < c->n_done; i++)
        if (c->done[i] == n || !strcmp(c->done_form[i], form)) {
            free(form);
            return i;
        }
    if (c->n_done == c->cap_done) {
        size_t cap = c->cap_done ? c->cap_done * 2 : 16;
        const reg_node **d = realloc(c->done, cap * sizeof *d);
        if (d)
            c->done = d;
        char **f = d ? realloc(c->done_form, cap * sizeof *f) : NULL;
        if (!f) {
            free(form);
            c->g->oom = 1;
            return 0;
        }
        c->done_form = f;
        c->cap_done = cap;
    }
    c->done[c->n_done] = n;
    c->done_form[c->n_done] = form;
    *fresh = 1;
    return c->n_done++;
}

static const char *wstmt(codec *c, const reg_node *n, const char *v);
static const char *rexpr(codec *c, const reg_node *n);

static int is_logical(jgen *g, const reg_node *n)
{
    return jg_conversion(n) != NULL && strcmp(jg_type(g, n, 1), "java.lang.Object");
}

/* The static LogicalType a decimal's conversion needs (its scale and precision). */
static const char *decimal_type(codec *c, const reg_node *n, size_t id)
{
    put(c,
        "\n  private static final org.apache.avro.LogicalTypes.Decimal DECIMAL$%zu =\n"
        "      org.apache.avro.LogicalTypes.decimal(%d, %d);\n",
        id, n->precision, n->scale);
    return jg_strf(c->g, "DECIMAL$%zu", id);
}

static const char *time_conv(reg_logical lt)
{
    switch (lt) {
    case REG_LT_DATE:
        return "DATE";
    case REG_LT_TIME_MILLIS:
        return "TIME_MILLIS";
    case REG_LT_TIME_MICROS:
        return "TIME_MICROS";
    case REG_LT_TIMESTAMP_MILLIS:
        return "TIMESTAMP_MILLIS";
    case REG_LT_TIMESTAMP_MICROS:
        return "TIMESTAMP_MICROS";
    case REG_LT_TIMESTAMP_NANOS:
        return "TIMESTAMP_NANOS";
    case REG_LT_LOCAL_TIMESTAMP_MILLIS:
        return "LOCAL_TIMESTAMP_MILLIS";
    case REG_LT_LOCAL_TIMESTAMP_MICROS:
        return "LOCAL_TIMESTAMP_MICROS";
    case REG_LT_LOCAL_TIMESTAMP_NANOS:
        return "LOCAL_TIMESTAMP_NANOS";
    default:
        return NULL;
    }
}

/* Writes and reads of a logical type go through the Conversion Avro Java itself uses. */
static const char *logical_w(codec *c, const reg_node *n, const char *v)
{
    jgen *g = c->g;
    const char *tc = time_conv(n->logical);
    if (tc)
        return n->type == REG_INT
                   ? jg_strf(g, "out.writeInt(canongate.runtime.Wire.%s.toInt(%s, null, null));",
                             tc, v)
                   : jg_strf(g, "out.writeLong(canongate.runtime.Wire.%s.toLong(%s, null, null));",
                             tc, v);
    int fresh;
    size_t id = helper_id(c, n, &fresh);
    if (n->logical == REG_LT_UUID) {
        if (n->type == REG_STRING)
            return jg_strf(g, "out.writeString(%s.toString());", v);
        return jg_strf(
            g, "out.writeFixed(canongate.runtime.Wire.UUID.toFixed(%s, %s.SCHEMA$, null).bytes());",
            v, jg_fqn(g, n));
    }
    /* decimal */
    const char *dt = fresh ? decimal_type(c, n, id) : jg_strf(g, "DECIMAL$%zu", id);
    if (n->type == REG_BYTES)
        return jg_strf(g, "out.writeBytes(canongate.runtime.Wire.DECIMAL.toBytes(%s, null, %s));",
                       v, dt);
    return jg_strf(
        g, "out.writeFixed(canongate.runtime.Wire.DECIMAL.toFixed(%s, %s.SCHEMA$, %s).bytes());", v,
        jg_fqn(g, n), dt);
}

static const char *logical_r(codec *c, const reg_node *n)
{
    jgen *g = c->g;
    const char *tc = time_conv(n->logical);
    if (tc)
        return n->type == REG_INT
                   ? jg_strf(
                         g,
                         "canongate.runtime.Wire.%s.fromInt(canongate.runtime.Wire.readInt(in), "
                         "null, null)",
                         tc)
                   : jg_strf(g, "canongate.runtime.Wire.%s.fromLong(in.readLong(), null, null)",
                             tc);
    int fresh;
    size_t id = helper_id(c, n, &fresh);
    if (n->logical == REG_LT_UUID) {
        if (n->type == REG_STRING)
            return "canongate.runtime.Wire.uuid(canongate.runtime.Wire.readString(in))";
        return jg_strf(g,
                       "canongate.runtime.Wire.UUID.fromFixed(canongate.runtime.Wire.fixed(in, "
                       "%s.SCHEMA$), %s.SCHEMA$, null)",
                       jg_fqn(g, n), jg_fqn(g, n));
    }
    const char *dt = fresh ? decimal_type(c, n, id) : jg_strf(g, "DECIMAL$%zu", id);
    if (n->type == REG_BYTES)
        return jg_strf(
            g,
            "canongate.runtime.Wire.DECIMAL.fromBytes(canongate.runtime.Wire.readBytes(in), "
            "null, %s)",
            dt);
    return jg_strf(g,
                   "canongate.runtime.Wire.DECIMAL.fromFixed(canongate.runtime.Wire.fixed(in, "
                   "%s.SCHEMA$), %s.SCHEMA$, %s)",
                   jg_fqn(g, n), jg_fqn(g, n), dt);
}

/* The instanceof test that picks union branch b for a value of type Object. */
static const char *branch_test(codec *c, const reg_node *b)
{
    jgen *g = c->g;
    if (is_logical(g, b))
        return jg_strf(g, "v instanceof %s", jg_type(g, b, 1));
    switch (b->type) {
    case REG_STRING:
        return "v instanceof java.lang.CharSequence";
    case REG_ARRAY:
        return "v instanceof java.util.List";
    case REG_MAP:
        return "v instanceof java.util.Map";
    default:
        return jg_strf(g, "v instanceof %s", jg_type(g, b, 1));
    }
}

/* The Java expression of v cast to branch b's type (v is an Object). */
static const char *branch_cast(codec *c, const reg_node *b)
{
    jgen *g = c->g;
    if (!is_logical(g, b) && b->type == REG_STRING)
        return "v.toString()";
    return jg_strf(g, "((%s) v)", jg_type(g, b, 1));
}

static void helper_union(codec *c, const reg_node *n, size_t id)
{
    jgen *g = c->g;
    const char *T = jg_type(g, n, 1);
    int object = !strcmp(T, "java.lang.Object");
    int generic = 0;
    for (size_t i = 0; i < n->n_branches; i++)
        if (object && (n->branches[i]->type == REG_ARRAY || n->branches[i]->type == REG_MAP))
            generic = 1;
    const char **ws = calloc(n->n_branches, sizeof *ws);
    const char **rs = calloc(n->n_branches, sizeof *rs);
    if (!ws || !rs) {
        free(ws);
        free(rs);
        g->oom = 1;
        return;
    }
    /* Nested helpers are written while these are built, so before this one starts. */
    for (size_t i = 0; i < n->n_branches; i++) {
        const reg_node *b = n->branches[i];
        if (b->type == REG_NULL)
            continue;
        ws[i] = wstmt(c, b, object ? branch_cast(c, b) : "v");
        rs[i] = rexpr(c, b);
    }
    put(c,
        "\n%s  private static void write$%zu(org.apache.avro.io.Encoder out, %s v) throws "
        "java.io.IOException {\n",
        generic ? "  @SuppressWarnings(\"unchecked\")\n" : "", id, T);
    if (!object) {
        /* ["null", T] or [T, "null"] or [T]: anything not null is T. */
        size_t null_i = n->n_branches, other_i = 0;
        for (size_t i = 0; i < n->n_branches; i++) {
            if (n->branches[i]->type == REG_NULL)
                null_i = i;
            else
                other_i = i;
        }
        if (null_i < n->n_branches)
            put(c,
                "    if (v == null) {\n      out.writeIndex(%zu);\n      out.writeNull();\n"
                "    } else {\n      out.writeIndex(%zu);\n      %s\n    }\n  }\n",
                null_i, other_i, ws[other_i] ? ws[other_i] : "");
        else
            put(c, "    out.writeIndex(%zu);\n    %s\n  }\n", other_i,
                ws[other_i] ? ws[other_i] : "");
    } else {
        int first = 1;
        for (size_t i = 0; i < n->n_branches; i++) {
            const reg_node *b = n->branches[i];
            if (b->type == REG_NULL)
                put(c,
                    "    %sif (v == null) {\n      out.writeIndex(%zu);\n      out.writeNull();\n",
                    first ? "" : "} else ", i);
            else
                put(c, "    %sif (%s) {\n      out.writeIndex(%zu);\n      %s\n",
                    first ? "" : "} else ", branch_test(c, b), i, ws[i]);
            first = 0;
        }
        put(c,
            "    } else {\n      throw new org.apache.avro.UnresolvedUnionException(SCHEMA$, v);\n"
            "    }\n  }\n");
    }

    put(c,
        "\n  private static %s read$%zu(org.apache.avro.io.Decoder in, long[] e) throws "
        "java.io.IOException "
        "{\n"
        "    switch (canongate.runtime.Wire.readIndex(in)) {\n",
        T, id);
    for (size_t i = 0; i < n->n_branches; i++) {
        const reg_node *b = n->branches[i];
        if (b->type == REG_NULL)
            put(c, "    case %zu:\n      in.readNull();\n      return null;\n", i);
        else
            put(c, "    case %zu:\n      return %s;\n", i, rs[i]);
    }
    put(c,
        "    default:\n      throw new java.io.IOException(\"union branch index out of range\");\n"
        "    }\n  }\n");
    free(ws);
    free(rs);
}

/* The fewest bytes an item of an array (plus extra: a map entry's key) encodes to, for
 * runtime Wire.block; 0 only for items that may encode to no bytes at all. */
static int item_min_size(const reg_node *items, size_t extra)
{
    size_t min = gen_min_size(items, 0) + extra;
    return min > INT_MAX ? INT_MAX : (int)min;
}

static void helper_array(codec *c, const reg_node *n, size_t id)
{
    jgen *g = c->g;
    const char *T = jg_type(g, n->items, 1);
    const char *ws = wstmt(c, n->items, "x");
    const char *rs = rexpr(c, n->items);
    put(c,
        "\n  private static void write$%zu(org.apache.avro.io.Encoder out, java.util.List<%s> v) "
        "throws java.io.IOException {\n"
        "    out.writeArrayStart();\n    out.setItemCount(v.size());\n"
        "    for (%s x : v) {\n      out.startItem();\n      %s\n    }\n    out.writeArrayEnd();\n "
        " }\n",
        id, T, T, ws);
    /* Each block's count is checked against the input before its items are read. */
    int min = item_min_size(n->items, 0);
    put(c,
        "\n  private static java.util.List<%s> read$%zu(org.apache.avro.io.Decoder in, long[] e) "
        "throws "
        "java.io.IOException {\n"
        "    long n = canongate.runtime.Wire.block(in, in.readArrayStart(), %d, 0, e);\n"
        "    java.util.List<%s> a = new java.util.ArrayList<>((int) java.lang.Math.min(n, "
        "1024L));\n"
        "    for (long have = 0; n != 0; n = canongate.runtime.Wire.block(in, in.arrayNext(), %d, "
        "have, e)) {\n"
        "      for (long i = 0; i < n; i++) {\n        a.add(%s);\n      }\n      have += n;\n"
        "    }\n    return a;\n  }\n",
        T, id, min, T, min, rs);
}

static void helper_map(codec *c, const reg_node *n, size_t id)
{
    jgen *g = c->g;
    const char *T = jg_type(g, n->items, 1);
    const char *ws = wstmt(c, n->items, "e.getValue()");
    const char *rs = rexpr(c, n->items);
    int min = item_min_size(n->items, 1); /* the key's length takes a byte */
    put(c,
        "\n  private static void write$%zu(org.apache.avro.io.Encoder out, "
        "java.util.Map<java.lang.String,%s> v) throws java.io.IOException {\n"
        "    out.writeMapStart();\n    out.setItemCount(v.size());\n"
        "    for (java.util.Map.Entry<java.lang.String,%s> e : v.entrySet()) {\n"
        "      out.startItem();\n      out.writeString(e.getKey());\n      %s\n    }\n"
        "    out.writeMapEnd();\n  }\n",
        id, T, T, ws);
    /* LinkedHashMap: a decoded map re-encodes to the same bytes. */
    put(c,
        "\n  private static java.util.Map<java.lang.String,%s> read$%zu(org.apache.avro.io.Decoder "
        "in, long[] e) throws java.io.IOException {\n"
        "    long n = canongate.runtime.Wire.block(in, in.readMapStart(), %d, 0, e);\n"
        "    java.util.Map<java.lang.String,%s> m = new java.util.LinkedHashMap<>();\n"
        "    for (long have = 0; n != 0; n = canongate.runtime.Wire.block(in, in.mapNext(), %d, "
        "have, e)) {\n"
        "      for (long i = 0; i < n; i++) {\n"
        "        java.lang.String k = canongate.runtime.Wire.readString(in);\n"
        "        m.put(k, %s);\n      }\n      have += n;\n    }\n    return m;\n  }\n",
        T, id, min, T, min, rs);
}

static const char *wstmt(codec *c, const reg_node *n, const char *v)
{
    jgen *g = c->g;
    if (is_logical(g, n))
        return logical_w(c, n, v);
    switch (n->type) {
    case REG_NULL:
        return "out.writeNull();";
    case REG_BOOLEAN:
        return jg_strf(g, "out.writeBoolean(%s);", v);
    case REG_INT:
        return jg_strf(g, "out.writeInt(%s);", v);
    case REG_LONG:
        return jg_strf(g, "out.writeLong(%s);", v);
    case REG_FLOAT:
        return jg_strf(g, "out.writeFloat(%s);", v);
    case REG_DOUBLE:
        return jg_strf(g, "out.writeDouble(%s);", v);
    case REG_BYTES:
        return jg_strf(g, "out.writeBytes(%s);", v);
    case REG_STRING:
        return jg_strf(g, "out.writeString(%s);", v);
    case REG_RECORD:
        return jg_strf(g, "%s.encode(out);", v);
    case REG_ENUM:
        return jg_strf(g, "out.writeEnum(%s.ordinal());", v);
    case REG_FIXED:
        return jg_strf(g, "out.writeFixed(%s.bytes());", v);
    case REG_ARRAY:
    case REG_MAP:
    case REG_UNION: {
        int fresh;
        size_t id = helper_id(c, n, &fresh);
        if (fresh) {
            if (n->type == REG_ARRAY)
                helper_array(c, n, id);
            else if (n->type == REG_MAP)
                helper_map(c, n, id);
            else
                helper_union(c, n, id);
        }
        return jg_strf(g, "write$%zu(out, %s);", id, v);
    }
    }
    return "";
}

static const char *rexpr(codec *c, const reg_node *n)
{
    jgen *g = c->g;
    if (is_logical(g, n))
        return logical_r(c, n);
    switch (n->type) {
    case REG_NULL:
        return "canongate.runtime.Wire.readNull(in)";
    case REG_BOOLEAN:
        return "canongate.runtime.Wire.readBoolean(in)";
    case REG_INT:
        return "canongate.runtime.Wire.readInt(in)";
    case REG_LONG:
        return "in.readLong()";
    case REG_FLOAT:
        return "in.readFloat()";
    case REG_DOUBLE:
        return "in.readDouble()";
    case REG_BYTES:
        return "canongate.runtime.Wire.readBytes(in)";
    case REG_STRING:
        return "canongate.runtime.Wire.readString(in)";
    case REG_RECORD:
        return jg_strf(g, "%s.decode(in, null, e)", jg_fqn(g, n));
    case REG_ENUM: {
        int fresh;
        size_t id = helper_id(c, n, &fresh);
        if (fresh)
            put(c, "\n  private static final %s[] SYMBOLS$%zu = %s.values();\n", jg_fqn(g, n), id,
                jg_fqn(g, n));
        return jg_strf(
            g, "canongate.runtime.Wire.symbol(SYMBOLS$%zu, canongate.runtime.Wire.readEnum(in))",
            id);
    }
    case REG_FIXED:
        return jg_strf(g, "new %s(canongate.runtime.Wire.fixedBytes(in, %zu))", jg_fqn(g, n),
                       n->size);
    case REG_ARRAY:
    case REG_MAP:
    case REG_UNION: {
        int fresh;
        size_t id = helper_id(c, n, &fresh);
        if (fresh) {
            if (n->type == REG_ARRAY)
                helper_array(c, n, id);
            else if (n->type == REG_MAP)
                helper_map(c, n, id);
            else
                helper_union(c, n, id);
        }
        return jg_strf(g, "read$%zu(in, e)", id);
    }
    }
    return "null";
}

void jg_emit_codec(jgen *g, const char *P, const reg_node *rec)
{
    codec c;
    memset(&c, 0, sizeof c);
    c.g = g;
    c.cls = jg_class(g, rec);
    gen_files_printf(
        g->out, P,
        "\n  /**\n   * Writes this record's Avro binary encoding to out (straight-line, "
        "no schema walk).\n   *\n   * @param out the encoder\n"
        "   * @throws java.io.IOException from out\n   */\n"
        "  public void encode(org.apache.avro.io.Encoder out) throws java.io.IOException {\n");
    for (size_t i = 0; i < rec->n_fields; i++) {
        const reg_field *f = &rec->fields[i];
        gen_files_printf(g->out, P, "    %s\n",
                         wstmt(&c, f->type, jg_strf(g, "this.%s", jg_field(g, f->name))));
    }
    gen_files_printf(g->out, P,
                     "  }\n\n  /**\n   * Reads one record's Avro binary encoding from in.\n   *\n"
                     "   * @param in the decoder\n   * @param reuse a record to fill, or null\n"
                     "   * @return the record\n"
                     "   * @throws java.io.IOException when the input ends early or is malformed\n"
                     "   */\n"
                     "  public static %s decode(org.apache.avro.io.Decoder in, %s reuse) throws "
                     "java.io.IOException {\n    return decode(in, reuse, new long[2]);\n  }\n\n"
                     "  /**\n   * Reads one record's Avro binary encoding from in, as part of a "
                     "value whose\n   * items that encode to no bytes are counted in e.\n   *\n"
                     "   * @param in the decoder\n   * @param reuse a record to fill, or null\n"
                     "   * @param e the value's decode state: e[0] its items that encode to no "
                     "bytes so\n   *     far (canongate.runtime.Wire.MAX_EMPTY_TOTAL), e[1] the "
                     "records open\n   *     (canongate.runtime.Wire.MAX_DEPTH)\n"
                     "   * @return the record\n"
                     "   * @throws java.io.IOException when the input ends early or is malformed\n"
                     "   */\n"
                     "  public static %s decode(org.apache.avro.io.Decoder in, %s reuse, long[] e) "
                     "throws java.io.IOException {\n    canongate.runtime.Wire.enter(e);\n"
                     "    %s r = reuse != null ? reuse : new %s();\n",
                     c.cls, c.cls, c.cls, c.cls, c.cls, c.cls);
    for (size_t i = 0; i < rec->n_fields; i++) {
        const reg_field *f = &rec->fields[i];
        gen_files_printf(g->out, P, "    r.%s = %s;\n", jg_field(g, f->name), rexpr(&c, f->type));
    }
    gen_files_printf(g->out, P, "    e[1]--;\n    return r;\n  }\n");
    if (c.helpers)
        gen_files_append(g->out, P, c.helpers, c.len);
    free(c.helpers);
    for (size_t i = 0; i < c.n_done; i++)
        free(c.done_form[i]);
    free(c.done_form);
    free(c.done);
}
