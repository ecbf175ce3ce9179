/* gen_java_names.c - Java names and types for Avro schema nodes, and the string arena.
 *
 * Names follow Avro Java's own compiler so that SpecificData, which finds classes by the
 * schema's full name, finds the generated ones: the namespace is the package as is, the
 * type's name is the class name, and a name that is a Java keyword or literal gets a '$'
 * appended (Avro's SpecificCompiler.mangle does the same). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_java_internal.h"

const char *jg_strf(jgen *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s) {
        g->oom = 1;
        return "";
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (g->n_arena == g->cap_arena) {
        size_t cap = g->cap_arena ? g->cap_arena * 2 : 256;
        char **a = realloc(g->arena, cap * sizeof *a);
        if (!a) {
            free(s);
            g->oom = 1;
            return "";
        }
        g->arena = a;
        g->cap_arena = cap;
    }
    g->arena[g->n_arena++] = s;
    return s;
}

void jg_free(jgen *g)
{
    for (size_t i = 0; i < g->n_arena; i++)
        free(g->arena[i]);
    free(g->arena);
    free(g->named);
    g->arena = NULL;
    g->named = NULL;
    g->n_arena = g->cap_arena = g->n_named = g->cap_named = 0;
}

const char *jg_lit(jgen *g, const char *s)
{
    size_t len = strlen(s);
    char *buf = malloc(len * 6 + 3);
    if (!buf) {
        g->oom = 1;
        return "\"\"";
    }
    char *p = buf;
    *p++ = '"';
    /* Decode UTF-8 so that non-ASCII text becomes \u escapes (UTF-16 units): the
     * generated sources stay ASCII whatever javac's default encoding is. */
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        unsigned c = *u;
        unsigned cp = c;
        int extra = 0;
        if (c >= 0xf0 && c < 0xf8) {
            cp = c & 0x07;
            extra = 3;
        } else if (c >= 0xe0) {
            cp = c & 0x0f;
            extra = 2;
        } else if (c >= 0xc0) {
            cp = c & 0x1f;
            extra = 1;
        }
        u++;
        for (int i = 0; i < extra && (*u & 0xc0) == 0x80; i++)
            cp = (cp << 6) | (*u++ & 0x3f);
        if (cp == '"' || cp == '\\') {
            *p++ = '\\';
            *p++ = (char)cp;
        } else if (cp == '\n') {
            p += sprintf(p, "\\n");
        } else if (cp >= 0x20 && cp < 0x7f) {
            *p++ = (char)cp;
        } else if (cp < 0x10000) {
            p += sprintf(p, "\\u%04x", cp);
        } else {
            cp -= 0x10000;
            p += sprintf(p, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        }
    }
    *p++ = '"';
    *p = 0;
    const char *r = jg_strf(g, "%s", buf);
    free(buf);
    return r;
}

static const char *const reserved[] = {
    "abstract",   "assert",       "boolean",    "break",    "byte",      "case",
    "catch",      "char",         "class",      "const",    "continue",  "default",
    "do",         "double",       "else",       "enum",     "extends",   "false",
    "final",      "finally",      "float",      "for",      "goto",      "if",
    "implements", "import",       "instanceof", "int",      "interface", "long",
    "native",     "new",          "null",       "package",  "private",   "protected",
    "public",     "return",       "short",      "static",   "strictfp",  "super",
    "switch",     "synchronized", "this",       "throw",    "throws",    "transient",
    "true",       "try",          "void",       "volatile", "while",     "record",
    "var",        "yield",        "_",          NULL};

int jg_is_reserved(const char *s)
{
    for (size_t i = 0; reserved[i]; i++)
        if (!strcmp(reserved[i], s))
            return 1;
    return 0;
}

const char *jg_mangle(jgen *g, const char *name)
{
    return jg_is_reserved(name) ? jg_strf(g, "%s$", name) : name;
}

const char *jg_field(jgen *g, const char *name)
{
    /* Java looks a qualified name up as a variable first: in a class with a field named
     * org, `org.ex.Addr.decode(in, null)` or `org.apache.avro.LogicalTypes.decimal(...)`
     * is that field's member, and the class does not compile. So a field named like the
     * first part of a package the generated code names gets '$' appended too. */
    static const char *const roots[] = {"java", "org", "canongate", NULL};
    const char *m = jg_mangle(g, name);
    int clash = 0;
    for (size_t i = 0; roots[i]; i++)
        clash |= !strcmp(m, roots[i]);
    for (size_t i = 0; i < g->n_named && !clash; i++) {
        const char *pkg = jg_package(g, g->named[i]);
        size_t len = strcspn(pkg, ".");
        clash = len > 0 && strlen(m) == len && !strncmp(pkg, m, len);
    }
    return clash ? jg_strf(g, "%s$", m) : m;
}

const char *jg_package(jgen *g, const reg_node *n)
{
    if (!n->namespace_ || !*n->namespace_)
        return "";
    /* Each component is mangled on its own ("com.default.x" -> "com.default$.x"). */
    const char *out = "";
    const char *p = n->namespace_;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        const char *part = jg_mangle(g, jg_strf(g, "%.*s", (int)len, p));
        out = *out ? jg_strf(g, "%s.%s", out, part) : part;
        p += len;
        if (*p == '.')
            p++;
    }
    return out;
}

const char *jg_class(jgen *g, const reg_node *n)
{
    return jg_mangle(g, n->name);
}

const char *jg_fqn(jgen *g, const reg_node *n)
{
    const char *pkg = jg_package(g, n);
    return *pkg ? jg_strf(g, "%s.%s", pkg, jg_class(g, n)) : jg_class(g, n);
}

const char *jg_source_path(jgen *g, const reg_node *n)
{
    const char *pkg = jg_package(g, n);
    char *dirs = strdup(pkg);
    if (!dirs) {
        g->oom = 1;
        return "";
    }
    for (char *p = dirs; *p; p++)
        if (*p == '.')
            *p = '/';
    const char *r = *dirs ? jg_strf(g, "src/main/java/%s/%s.java", dirs, jg_class(g, n))
                          : jg_strf(g, "src/main/java/%s.java", jg_class(g, n));
    free(dirs);
    return r;
}

const char *jg_accessor(jgen *g, const char *field)
{
    size_t len = strlen(field);
    char *buf = malloc(len + 2);
    if (!buf) {
        g->oom = 1;
        return "";
    }
    /* Avro's compiler camel-cases around underscores (first_name -> FirstName); a
     * leading or doubled underscore is kept so that distinct fields stay distinct. */
    size_t j = 0;
    int up = 1;
    for (size_t i = 0; i < len; i++) {
        char c = field[i];
        if (c == '_' && i > 0 && i + 1 < len && field[i + 1] != '_' && field[i - 1] != '_') {
            up = 1;
            continue;
        }
        buf[j++] = up ? (char)toupper((unsigned char)c) : c;
        up = 0;
    }
    buf[j] = 0;
    /* Accessors that would override SpecificRecordBase's own methods. */
    static const char *const taken[] = {"Class",        "Schema",     "ClassSchema",
                                        "SpecificData", "Conversion", NULL};
    int clash = 0;
    for (size_t i = 0; taken[i]; i++)
        if (!strcmp(buf, taken[i]))
            clash = 1;
    const char *r = jg_strf(g, "%s%s", buf, clash ? "$" : "");
    free(buf);
    return r;
}

static const char *logical_type(const reg_node *n)
{
    switch (n->logical) {
    case REG_LT_DECIMAL:
        return (n->type == REG_BYTES || n->type == REG_FIXED) ? "java.math.BigDecimal" : NULL;
    case REG_LT_UUID:
        return (n->type == REG_STRING || (n->type == REG_FIXED && n->size == 16)) ? "java.util.UUID"
                                                                                  : NULL;
    case REG_LT_DATE:
        return n->type == REG_INT ? "java.time.LocalDate" : NULL;
    case REG_LT_TIME_MILLIS:
        return n->type == REG_INT ? "java.time.LocalTime" : NULL;
    case REG_LT_TIME_MICROS:
        return n->type == REG_LONG ? "java.time.LocalTime" : NULL;
    case REG_LT_TIMESTAMP_MILLIS:
    case REG_LT_TIMESTAMP_MICROS:
    case REG_LT_TIMESTAMP_NANOS:
        return n->type == REG_LONG ? "java.time.Instant" : NULL;
    case REG_LT_LOCAL_TIMESTAMP_MILLIS:
    case REG_LT_LOCAL_TIMESTAMP_MICROS:
    case REG_LT_LOCAL_TIMESTAMP_NANOS:
        return n->type == REG_LONG ? "java.time.LocalDateTime" : NULL;
    default:
        return NULL;
    }
}

const char *jg_conversion(const reg_node *n)
{
    if (!logical_type(n))
        return NULL;
    switch (n->logical) {
    case REG_LT_DECIMAL:
        return "new org.apache.avro.Conversions.DecimalConversion()";
    case REG_LT_UUID:
        return "new org.apache.avro.Conversions.UUIDConversion()";
    case REG_LT_DATE:
        return "new org.apache.avro.data.TimeConversions.DateConversion()";
    case REG_LT_TIME_MILLIS:
        return "new org.apache.avro.data.TimeConversions.TimeMillisConversion()";
    case REG_LT_TIME_MICROS:
        return "new org.apache.avro.data.TimeConversions.TimeMicrosConversion()";
    case REG_LT_TIMESTAMP_MILLIS:
        return "new org.apache.avro.data.TimeConversions.TimestampMillisConversion()";
    case REG_LT_TIMESTAMP_MICROS:
        return "new org.apache.avro.data.TimeConversions.TimestampMicrosConversion()";
    case REG_LT_TIMESTAMP_NANOS:
        return "new org.apache.avro.data.TimeConversions.TimestampNanosConversion()";
    case REG_LT_LOCAL_TIMESTAMP_MILLIS:
        return "new org.apache.avro.data.TimeConversions.LocalTimestampMillisConversion()";
    case REG_LT_LOCAL_TIMESTAMP_MICROS:
        return "new org.apache.avro.data.TimeConversions.LocalTimestampMicrosConversion()";
    case REG_LT_LOCAL_TIMESTAMP_NANOS:
        return "new org.apache.avro.data.TimeConversions.LocalTimestampNanosConversion()";
    default:
        return NULL;
    }
}

const char *jg_type(jgen *g, const reg_node *n, int boxed)
{
    const char *lt = logical_type(n);
    if (lt)
        return lt;
    switch (n->type) {
    case REG_NULL:
        return "java.lang.Void";
    case REG_BOOLEAN:
        return boxed ? "java.lang.Boolean" : "boolean";
    case REG_INT:
        return boxed ? "java.lang.Integer" : "int";
    case REG_LONG:
        return boxed ? "java.lang.Long" : "long";
    case REG_FLOAT:
        return boxed ? "java.lang.Float" : "float";
    case REG_DOUBLE:
        return boxed ? "java.lang.Double" : "double";
    case REG_BYTES:
        return "java.nio.ByteBuffer";
    case REG_STRING:
        return "java.lang.String";
    case REG_RECORD:
    case REG_ENUM:
    case REG_FIXED:
        return jg_fqn(g, n);
    case REG_ARRAY:
        return jg_strf(g, "java.util.List<%s>", jg_type(g, n->items, 1));
    case REG_MAP:
        return jg_strf(g, "java.util.Map<java.lang.String,%s>", jg_type(g, n->items, 1));
    case REG_UNION: {
        /* ["null", T] and [T] keep T's type; any other union is an Object holding one
         * of its branches, as in Avro Java. */
        const reg_node *other = NULL;
        size_t n_other = 0;
        for (size_t i = 0; i < n->n_branches; i++)
            if (n->branches[i]->type != REG_NULL) {
                other = n->branches[i];
                n_other++;
            }
        if (n_other == 1)
            return jg_type(g, other, 1);
        if (n_other == 0)
            return "java.lang.Void";
        return "java.lang.Object";
    }
    }
    return "java.lang.Object";
}
