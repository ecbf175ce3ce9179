/* schema.c - parsing and validating Avro schema text into the reg_node graph.
 *
 * Implements the Avro specification's "Schema Declaration" and "Names" sections: the three
 * JSON forms of a schema (a type name string, an object, an array for a union), named
 * types with namespace inheritance, references to named types by short or full name,
 * recursion, logical types (invalid ones ignored with a warning, as the specification
 * says), custom properties, and field/enum defaults checked against their types.
 *
 * Why our own parser when Avro C has one: Avro C drops what the registry needs (field
 * defaults it cannot represent, aliases, doc, custom properties such as canon.key) and
 * disagrees with the specification in places. Avro C still runs as a second gate (see
 * avro_gate()), so what we accept the reference C library accepts too, except for its
 * documented bugs.
 *
 * Decisions the specification leaves open:
 * - Duplicate JSON object keys are refused (JSON_REJECT_DUPLICATES): a schema with two
 *   "type" keys means different things to different parsers, and the registry's identity
 *   of a schema must not depend on which one wins.
 * - A short name resolves only in the enclosing namespace, as the specification and Avro C
 *   say. Apache Avro Java (and so Confluent) also falls back to the null namespace; such
 *   schemas are refused here, with a message saying why.
 * - \u0000 is allowed in string values only inside defaults (a bytes default may need it);
 *   anywhere else (names, symbols, properties) it is refused, since C strings would
 *   silently cut the value short.
 * - {"type": "SomeNamedType"} is a reference to that named type (Java and Avro C agree).
 * - "namespace": null is the same as no namespace attribute (inherit the enclosing one);
 *   "namespace": "" is the null namespace.
 * - A "doc" that is not a string is ignored with a warning rather than refused.
 *
 * Memory: the registry holds thousands of parsed schemas, so a parse keeps little. The
 * JSON tree is dropped after the parse; only defaults and custom properties (small
 * subtrees) are kept, as json_t, because the registry needs them verbatim. Nodes, field
 * and branch arrays and strings live in a per-schema arena (a few chunks instead of a
 * malloc each), and a primitive type without attributes is one shared node per schema
 * (every "string" of a schema is the same reg_node).
 */
#define _GNU_SOURCE /* vasprintf */
#include "schema.h"

#include "hmap.h"

#include <avro.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any real schema, shallow enough that the recursive walks (ours and
 * Avro C's) cannot exhaust the stack on hostile input. */
#define MAX_DEPTH REG_SCHEMA_MAX_DEPTH

/* A chunk of the per-schema arena. */
typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

struct reg_schema {
    reg_node *root;

    chunk *arena;
    size_t chunk_size;               /* for new chunks; from the text's length */
    reg_node *prims[REG_STRING + 1]; /* shared attribute-less primitives */

    reg_node **owned; /* every node but the shared primitives (those hold no json_t) */
    size_t n_owned, cap_owned;

    reg_node **named; /* named types defined by this schema, in definition order */
    size_t n_named, cap_named;
    reg_hmap *named_index; /* fullname -> node, built once n_named passes LINEAR_MAX */

    /* Every schema referenced, directly or not, each once, in the order a depth-first
     * walk of the references meets them (set by set_refs()); borrowed. */
    const reg_schema **refs;
    size_t n_refs;

    char *canonical;
    char *normalized;
    uint64_t fingerprint;
    unsigned char md5[16];
    unsigned char sha256[32];

    char **warnings; /* NULL-terminated */
    size_t n_warnings;
};

typedef struct parser {
    reg_schema *s;
    int depth;
} parser;

static const char *const primitive_names[] = {"null",  "boolean", "int",   "long",
                                              "float", "double",  "bytes", "string"};
static const reg_type primitive_types[] = {REG_NULL,  REG_BOOLEAN, REG_INT,   REG_LONG,
                                           REG_FLOAT, REG_DOUBLE,  REG_BYTES, REG_STRING};

const char *reg_type_name(reg_type t)
{
    switch (t) {
    case REG_NULL:
        return "null";
    case REG_BOOLEAN:
        return "boolean";
    case REG_INT:
        return "int";
    case REG_LONG:
        return "long";
    case REG_FLOAT:
        return "float";
    case REG_DOUBLE:
        return "double";
    case REG_BYTES:
        return "bytes";
    case REG_STRING:
        return "string";
    case REG_RECORD:
        return "record";
    case REG_ENUM:
        return "enum";
    case REG_ARRAY:
        return "array";
    case REG_MAP:
        return "map";
    case REG_UNION:
        return "union";
    case REG_FIXED:
        return "fixed";
    }
    return "?";
}

const char *reg_logical_name(reg_logical l)
{
    switch (l) {
    case REG_LT_NONE:
        return NULL;
    case REG_LT_DECIMAL:
        return "decimal";
    case REG_LT_UUID:
        return "uuid";
    case REG_LT_DATE:
        return "date";
    case REG_LT_TIME_MILLIS:
        return "time-millis";
    case REG_LT_TIME_MICROS:
        return "time-micros";
    case REG_LT_TIMESTAMP_MILLIS:
        return "timestamp-millis";
    case REG_LT_TIMESTAMP_MICROS:
        return "timestamp-micros";
    case REG_LT_TIMESTAMP_NANOS:
        return "timestamp-nanos";
    case REG_LT_LOCAL_TIMESTAMP_MILLIS:
        return "local-timestamp-millis";
    case REG_LT_LOCAL_TIMESTAMP_MICROS:
        return "local-timestamp-micros";
    case REG_LT_LOCAL_TIMESTAMP_NANOS:
        return "local-timestamp-nanos";
    case REG_LT_DURATION:
        return "duration";
    }
    return NULL;
}

static int primitive_lookup(const char *name, reg_type *out)
{
    for (size_t i = 0; i < sizeof(primitive_names) / sizeof(primitive_names[0]); i++) {
        if (strcmp(name, primitive_names[i]) == 0) {
            *out = primitive_types[i];
            return 1;
        }
    }
    return 0;
}

static cg_err *oom(void)
{
    return cg_err_new(CG_ENOMEM, "out of memory");
}

static cg_err *invalid(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cg_err *invalid(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_err *e = cg_err_newv(CG_EINVALID_SCHEMA, fmt, ap);
    va_end(ap);
    return e;
}

/* printf into a new heap string; NULL when memory is short. */
static char *fmt_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_str(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

static cg_err *add_warning(reg_schema *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static cg_err *add_warning(reg_schema *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *w = NULL;
    if (vasprintf(&w, fmt, ap) < 0)
        w = NULL;
    va_end(ap);
    if (!w)
        return oom();
    char **nw = realloc(s->warnings, (s->n_warnings + 2) * sizeof(*nw));
    if (!nw) {
        free(w);
        return oom();
    }
    s->warnings = nw;
    s->warnings[s->n_warnings++] = w;
    s->warnings[s->n_warnings] = NULL;
    return NULL;
}

/* Zeroed memory aligned to `align` (a power of two, at most that of max_align_t) that
 * lives until reg_schema_free(); NULL when memory is short. */
static void *arena_alloc_aligned(reg_schema *s, size_t n, size_t align)
{
    size_t at = s->arena ? (s->arena->used + align - 1) & ~(align - 1) : 0;
    if (!s->arena || at > s->arena->cap || s->arena->cap - at < n) {
        size_t cap = s->chunk_size > n ? s->chunk_size : n;
        chunk *c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = s->arena;
        c->used = 0;
        c->cap = cap;
        s->arena = c;
        at = 0;
        /* The first chunk is sized for the whole schema; later ones only top it up. */
        s->chunk_size = s->chunk_size / 3 < 512 ? 512 : s->chunk_size / 3;
    }
    void *p = (char *)s->arena->data + at;
    s->arena->used = at + n;
    memset(p, 0, n);
    return p;
}

/* For nodes, fields and pointer arrays: nothing in them needs more than a pointer's
 * alignment. */
static void *arena_alloc(reg_schema *s, size_t n)
{
    return arena_alloc_aligned(s, n,
                               sizeof(void *) > sizeof(double) ? sizeof(void *) : sizeof(double));
}

static char *arena_strndup(reg_schema *s, const char *str, size_t len)
{
    char *p = arena_alloc_aligned(s, len + 1, 1);
    if (p)
        memcpy(p, str, len);
    return p;
}

static char *arena_strdup(reg_schema *s, const char *str)
{
    return arena_strndup(s, str, strlen(str));
}

/* The shared node of an attribute-less primitive type. */
static cg_err *prim_node(reg_schema *s, reg_type t, reg_node **out)
{
    if (!s->prims[t]) {
        reg_node *n = arena_alloc(s, sizeof(*n));
        if (!n)
            return cg_err_new(CG_ENOMEM, "out of memory");
        n->type = t;
        s->prims[t] = n;
    }
    *out = s->prims[t];
    return NULL;
}

static cg_err *new_node(reg_schema *s, reg_type t, reg_node **out)
{
    if (s->n_owned == s->cap_owned) {
        size_t cap = s->cap_owned ? s->cap_owned * 2 : 8;
        reg_node **no = realloc(s->owned, cap * sizeof(*no));
        if (!no)
            return oom();
        s->owned = no;
        s->cap_owned = cap;
    }
    reg_node *n = arena_alloc(s, sizeof(*n));
    if (!n)
        return oom();
    n->type = t;
    s->owned[s->n_owned++] = n;
    *out = n;
    return NULL;
}

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Everything else of a node is in the arena. */
static void free_node_json(reg_node *n)
{
    for (size_t i = 0; i < n->n_fields; i++) {
        json_decref(n->fields[i].default_json);
        json_decref(n->fields[i].props);
    }
    json_decref(n->props);
}

void reg_schema_free(reg_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_owned; i++)
        free_node_json(s->owned[i]);
    free(s->owned);
    while (s->arena) {
        chunk *next = s->arena->next;
        free(s->arena);
        s->arena = next;
    }
    free(s->named);
    reg_hmap_free(s->named_index);
    free(s->refs);
    free(s->canonical);
    free(s->normalized);
    free_strv(s->warnings, s->n_warnings);
    free(s);
}

/* ---- names ---------------------------------------------------------------------- */

int reg_name_valid(const char *name)
{
    if (!name || !*name)
        return 0;
    const char *p = name;
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
        return 0;
    for (p++; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
              (*p >= '0' && *p <= '9')))
            return 0;
    }
    return 1;
}

/* A namespace is empty (the null namespace) or dot-separated names. */
static int namespace_valid(const char *ns)
{
    if (!*ns)
        return 1;
    char buf[256];
    const char *p = ns;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len >= sizeof(buf))
            return 0;
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (!reg_name_valid(buf))
            return 0;
        if (!dot)
            return 1;
        p = dot + 1;
    }
}

/* Full name of `name` written in namespace `ns` (NULL or "" for the null namespace), in
 * a new heap string. */
static char *qualify(const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return strdup(name);
    return fmt_str("%s.%s", ns, name);
}

/* The same, in the schema's arena. */
static char *qualify_arena(reg_schema *s, const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return arena_strdup(s, name);
    size_t nl = strlen(ns), ml = strlen(name);
    char *p = arena_alloc_aligned(s, nl + 1 + ml + 1, 1);
    if (p) {
        memcpy(p, ns, nl);
        p[nl] = '.';
        memcpy(p + nl + 1, name, ml);
    }
    return p;
}

/* Name lookups and duplicate checks scan linearly up to this many entries and hash
 * beyond: a schema with tens of thousands of fields or symbols must not cost a
 * quadratic number of string compares (30,000 fields took 2 s), while the common
 * small record should not pay for a hash map. */
#define LINEAR_MAX 16

static reg_node *find_own(const reg_schema *s, const char *fullname)
{
    if (s->named_index)
        return reg_hmap_gets(s->named_index, fullname);
    for (size_t i = 0; i < s->n_named; i++) {
        if (strcmp(s->named[i]->fullname, fullname) == 0)
            return s->named[i];
    }
    return NULL;
}

/* s->refs is flat (set_refs()): a lookup reads each referenced schema once, where a walk
 * of the reference graph would read a schema once per path to it, exponentially many
 * when references share references (diamonds). The first match is the walk's. */
const reg_node *reg_schema_find(const reg_schema *s, const char *fullname)
{
    if (!s || !fullname)
        return NULL;
    const reg_node *n = find_own(s, fullname);
    for (size_t i = 0; !n && i < s->n_refs; i++)
        n = find_own(s->refs[i], fullname);
    return n;
}

/* Resolves a reference as the specification says: a dotted name is a full name, else it
 * is in the enclosing namespace. (Apache Avro Java also falls back to the null
 * namespace; Avro C and the specification do not, so neither do we.) */
static reg_node *resolve(const reg_schema *s, const char *ref, const char *ns)
{
    char *full = qualify(ref, ns);
    if (!full)
        return NULL;
    const reg_node *n = reg_schema_find(s, full);
    free(full);
    return (reg_node *)n;
}

/* The message for an unresolved reference, with a hint when Java would have found it. */
static cg_err *unknown_type(const reg_schema *s, const char *ctx, const char *t, const char *ns)
{
    if (!strchr(t, '.') && ns && *ns && reg_schema_find(s, t))
        return invalid("%s: unknown type '%s' (there is a '%s' in the null namespace, but a short "
                       "name resolves in the enclosing namespace '%s')",
                       ctx, t, t, ns);
    char *full = qualify(t, ns);
    cg_err *e = full && strcmp(full, t) != 0
                    ? invalid("%s: unknown type '%s' (looked for '%s')", ctx, t, full)
                    : invalid("%s: unknown type '%s'", ctx, t);
    free(full);
    return e;
}

static cg_err *register_named(reg_schema *s, reg_node *n, const char *ctx)
{
    if (reg_schema_find(s, n->fullname))
        return invalid("%s: the name '%s' is already defined", ctx, n->fullname);
    if (s->n_named == s->cap_named) {
        size_t cap = s->cap_named ? s->cap_named * 2 : 8;
        reg_node **nn = realloc(s->named, cap * sizeof(*nn));
        if (!nn)
            return oom();
        s->named = nn;
        s->cap_named = cap;
    }
    s->named[s->n_named++] = n;
    if (!s->named_index && s->n_named > LINEAR_MAX) {
        if (!(s->named_index = reg_hmap_new()))
            return oom();
        for (size_t i = 0; i + 1 < s->n_named; i++)
            if (reg_hmap_put_ref(s->named_index, s->named[i]->fullname,
                                 strlen(s->named[i]->fullname), s->named[i]) < 0)
                return oom();
    }
    if (s->named_index && reg_hmap_put_ref(s->named_index, n->fullname, strlen(n->fullname), n) < 0)
        return oom();
    return NULL;
}

/* Whether name is already in seen (a set of borrowed keys, NULL for small lists where
 * the caller scans), adding it if not. -1 when out of memory. */
static int seen_before(reg_hmap *seen, const char *name)
{
    size_t len = strlen(name);
    if (reg_hmap_get(seen, name, len))
        return 1;
    return reg_hmap_put_ref(seen, name, len, (void *)name) < 0 ? -1 : 0;
}

/* ---- helpers on JSON ------------------------------------------------------------ */

static int key_in(const char *key, const char *const *list)
{
    for (; *list; list++) {
        if (strcmp(key, *list) == 0)
            return 1;
    }
    return 0;
}

/* Copies the keys of obj not in `reserved` into a new object; *out stays NULL when none. */
static cg_err *collect_props(json_t *obj, const char *const *reserved, json_t **out)
{
    const char *key;
    json_t *val;
    *out = NULL;
    json_object_foreach(obj, key, val)
    {
        if (key_in(key, reserved))
            continue;
        if (!*out) {
            *out = json_object();
            if (!*out)
                return oom();
        }
        if (json_object_set(*out, key, val) != 0)
            return oom();
    }
    return NULL;
}

static char *json_brief(const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (s && strlen(s) > 60) {
        strcpy(s + 57, "...");
    }
    return s;
}

/* Whether v[i] repeats one of v[0..i-1]: a scan for short lists, the set seen for long
 * ones. -1 when out of memory. */
static int repeats(char **v, size_t i, reg_hmap *seen)
{
    if (seen)
        return seen_before(seen, v[i]);
    for (size_t k = 0; k < i; k++)
        if (strcmp(v[k], v[i]) == 0)
            return 1;
    return 0;
}

/* An array of strings, each a valid name, into a new vector. */
static cg_err *string_list(reg_schema *s, json_t *arr, const char *what, const char *ctx,
                           const char *ns, int qualify_names, char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!arr)
        return NULL;
    if (!json_is_array(arr))
        return invalid("%s: %s must be an array of strings", ctx, what);
    size_t n = json_array_size(arr);
    if (n == 0)
        return NULL; /* "aliases": [] is the same as none */
    char **v = arena_alloc(s, (n + 1) * sizeof(*v));
    if (!v)
        return oom();
    reg_hmap *seen = NULL;
    if (n > LINEAR_MAX && !(seen = reg_hmap_new()))
        return oom();
    cg_err *err = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_string(e)) {
            err = invalid("%s: %s must be an array of strings", ctx, what);
            goto done;
        }
        const char *str = json_string_value(e);
        int ok = qualify_names ? (strchr(str, '.') ? namespace_valid(str) &&
                                                         reg_name_valid(strrchr(str, '.') + 1)
                                                   : reg_name_valid(str))
                               : reg_name_valid(str);
        if (!ok) {
            err = invalid("%s: %s entry '%s' is not a valid Avro name", ctx, what, str);
            goto done;
        }
        v[i] = qualify_names ? qualify_arena(s, str, ns) : arena_strdup(s, str);
        int dup = v[i] ? repeats(v, i, seen) : -1;
        if (dup) {
            err = dup < 0 ? oom() : invalid("%s: duplicate %s entry '%s'", ctx, what, str);
            goto done;
        }
    }
    *out = v;
    *n_out = n;
done:
    reg_hmap_free(seen);
    return err;
}

/* ---- logical types -------------------------------------------------------------- */

static int json_is_positive_int(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0;
}

/* Sets n->logical from the annotation lt, or leaves it NONE with a warning when the
 * annotation is unknown or does not fit, as the specification says ("implementations
 * must ignore unknown logical types ... invalid ones"). Precision and scale that are not
 * used by a valid decimal stay in props (they were written, so they are part of the
 * schema's identity). */
static cg_err *apply_logical(parser *p, reg_node *n, json_t *obj, const char *ctx)
{
    json_t *ltj = json_object_get(obj, "logicalType");
    if (!ltj)
        return NULL;
    if (!json_is_string(ltj))
        return add_warning(p->s, "IgnoredLogicalType: %s: logicalType is not a string", ctx);
    const char *lt = json_string_value(ltj);
    const char *base = reg_type_name(n->type);
    static const struct {
        const char *name;
        reg_logical lt;
        reg_type on;
    } simple[] = {
        {"date", REG_LT_DATE, REG_INT},
        {"time-millis", REG_LT_TIME_MILLIS, REG_INT},
        {"time-micros", REG_LT_TIME_MICROS, REG_LONG},
        {"timestamp-millis", REG_LT_TIMESTAMP_MILLIS, REG_LONG},
        {"timestamp-micros", REG_LT_TIMESTAMP_MICROS, REG_LONG},
        {"timestamp-nanos", REG_LT_TIMESTAMP_NANOS, REG_LONG},
        {"local-timestamp-millis", REG_LT_LOCAL_TIMESTAMP_MILLIS, REG_LONG},
        {"local-timestamp-micros", REG_LT_LOCAL_TIMESTAMP_MICROS, REG_LONG},
        {"local-timestamp-nanos", REG_LT_LOCAL_TIMESTAMP_NANOS, REG_LONG},
    };
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
        if (strcmp(lt, simple[i].name) != 0)
            continue;
        if (n->type != simple[i].on)
            return add_warning(
                p->s, "IgnoredLogicalType: %s: Logical type %s requires literal type %s, not %s.",
                ctx, lt, reg_type_name(simple[i].on), base);
        n->logical = simple[i].lt;
        return NULL;
    }
    if (strcmp(lt, "uuid") == 0) {
        if (n->type == REG_STRING || (n->type == REG_FIXED && n->size == 16)) {
            n->logical = REG_LT_UUID;
            return NULL;
        }
        return add_warning(p->s,
                           "IgnoredLogicalType: %s: Logical type uuid requires literal type string "
                           "or fixed(16), not %s.",
                           ctx, base);
    }
    if (strcmp(lt, "duration") == 0) {
        if (n->type == REG_FIXED && n->size == 12) {
            n->logical = REG_LT_DURATION;
            return NULL;
        }
        return add_warning(p->s,
                           "IgnoredLogicalType: %s: Logical type duration requires literal type "
                           "fixed(12), not %s.",
                           ctx, base);
    }
    if (strcmp(lt, "decimal") == 0) {
        if (n->type != REG_BYTES && n->type != REG_FIXED)
            return add_warning(p->s,
                               "IgnoredLogicalType: %s: Logical type decimal requires literal type "
                               "bytes/fixed, not %s.",
                               ctx, base);
        json_t *pj = json_object_get(obj, "precision");
        json_t *sj = json_object_get(obj, "scale");
        if (!json_is_positive_int(pj)) {
            char *v = pj ? json_brief(pj) : NULL;
            cg_err *e = add_warning(
                p->s,
                "IgnoredLogicalType: %s: Invalid decimal precision %s. Must be a positive integer.",
                ctx, v ? v : "None");
            free(v);
            return e;
        }
        json_int_t prec = json_integer_value(pj);
        if (n->type == REG_FIXED) {
            /* The largest number of base-10 digits a signed two's-complement value of
             * `size` bytes can hold in full: floor(log10(2^(8*size-1) - 1)). */
            double maxp = n->size == 0 ? 0 : floor((8.0 * (double)n->size - 1) * log10(2.0));
            if ((double)prec > maxp)
                return add_warning(
                    p->s, "IgnoredLogicalType: %s: Invalid decimal precision %lld. Max is %.0f.",
                    ctx, (long long)prec, maxp);
        }
        json_int_t scale = 0;
        if (sj) {
            if (!json_is_integer(sj) || json_integer_value(sj) < 0) {
                char *v = json_brief(sj);
                cg_err *e = add_warning(p->s,
                                        "IgnoredLogicalType: %s: Invalid decimal scale %s. Must be "
                                        "a non-negative integer.",
                                        ctx, v ? v : "?");
                free(v);
                return e;
            }
            scale = json_integer_value(sj);
        }
        if (scale > prec)
            return add_warning(p->s,
                               "IgnoredLogicalType: %s: Invalid decimal scale %lld. Cannot be "
                               "greater than precision %lld.",
                               ctx, (long long)scale, (long long)prec);
        if (prec > 1000000)
            return add_warning(p->s, "IgnoredLogicalType: %s: Invalid decimal precision %lld.", ctx,
                               (long long)prec);
        n->logical = REG_LT_DECIMAL;
        n->precision = (int)prec;
        n->scale = (int)scale;
        return NULL;
    }
    return add_warning(p->s, "IgnoredLogicalType: %s: Unknown %s, using %s.", ctx, lt, base);
}

/* Moves props that a valid logical type consumed out of n->props. */
static void drop_logical_props(reg_node *n)
{
    if (!n->props || n->logical == REG_LT_NONE)
        return;
    json_object_del(n->props, "logicalType");
    if (n->logical == REG_LT_DECIMAL) {
        json_object_del(n->props, "precision");
        json_object_del(n->props, "scale");
    }
    if (json_object_size(n->props) == 0) {
        json_decref(n->props);
        n->props = NULL;
    }
}

/* ---- the parser ----------------------------------------------------------------- */

static cg_err *parse_type(parser *p, json_t *j, const char *ns, const char *ctx, reg_node **out);

static cg_err *parse_union(parser *p, json_t *j, const char *ns, const char *ctx, reg_node **out)
{
    reg_node *n = NULL;
    cg_err *err = new_node(p->s, REG_UNION, &n);
    if (err)
        return err;
    size_t cnt = json_array_size(j);
    n->branches = arena_alloc(p->s, (cnt ? cnt : 1) * sizeof(*n->branches));
    if (!n->branches)
        return oom();
    for (size_t i = 0; i < cnt; i++) {
        json_t *bj = json_array_get(j, i);
        if (json_is_array(bj))
            return invalid("%s: a union may not immediately contain another union (branch %zu)",
                           ctx, i);
        char *bctx = fmt_str("%s (union branch %zu)", ctx, i);
        if (!bctx)
            return oom();
        reg_node *b = NULL;
        err = parse_type(p, bj, ns, bctx, &b);
        free(bctx);
        if (err)
            return err;
        for (size_t k = 0; k < i; k++) {
            reg_node *o = n->branches[k];
            int named = b->fullname != NULL;
            if (named ? (o->fullname && strcmp(o->fullname, b->fullname) == 0)
                      : (!o->fullname && o->type == b->type))
                return invalid("%s: union has two branches of type %s", ctx,
                               named ? b->fullname : reg_type_name(b->type));
        }
        n->branches[i] = b;
        n->n_branches = i + 1;
    }
    *out = n;
    return NULL;
}

/* Name, namespace, aliases and doc of a named type. */
static cg_err *parse_name(parser *p, json_t *j, reg_node *n, const char *ns, const char *ctx)
{
    json_t *nj = json_object_get(j, "name");
    if (!nj)
        return invalid("%s: %s has no name", ctx, reg_type_name(n->type));
    if (!json_is_string(nj))
        return invalid("%s: the name of a %s must be a string", ctx, reg_type_name(n->type));
    const char *name = json_string_value(nj);
    const char *dot = strrchr(name, '.');
    if (dot) {
        n->name = arena_strdup(p->s, dot + 1);
        n->namespace_ = arena_strndup(p->s, name, (size_t)(dot - name));
    } else {
        json_t *nsj = json_object_get(j, "namespace");
        const char *nsv = ns;
        if (nsj && !json_is_null(nsj)) {
            if (!json_is_string(nsj))
                return invalid("%s: namespace of '%s' must be a string", ctx, name);
            nsv = json_string_value(nsj);
        }
        n->name = arena_strdup(p->s, name);
        n->namespace_ = arena_strdup(p->s, nsv ? nsv : "");
    }
    if (!n->name || !n->namespace_)
        return oom();
    if (!reg_name_valid(n->name))
        return invalid("%s: '%s' is not a valid Avro name", ctx, name);
    if (!namespace_valid(n->namespace_))
        return invalid("%s: '%s' is not a valid Avro namespace (in the name of '%s')", ctx,
                       n->namespace_, n->name);
    n->fullname = qualify_arena(p->s, n->name, n->namespace_);
    if (!n->fullname)
        return oom();
    reg_type prim;
    if (primitive_lookup(n->fullname, &prim))
        return invalid("%s: a %s may not be named after the primitive type '%s'", ctx,
                       reg_type_name(n->type), n->fullname);
    cg_err *err = string_list(p->s, json_object_get(j, "aliases"), "aliases", ctx, n->namespace_, 1,
                              &n->aliases, &n->n_aliases);
    if (err)
        return err;
    json_t *dj = json_object_get(j, "doc");
    if (dj && json_is_string(dj)) {
        n->doc = arena_strdup(p->s, json_string_value(dj));
        if (!n->doc)
            return oom();
    } else if (dj) {
        err = add_warning(p->s, "%s: doc of '%s' is not a string; ignored", ctx, n->fullname);
        if (err)
            return err;
    }
    return NULL;
}

/* seen: the names of fields 0..idx-1 for a long record (NULL: scan them). */
static cg_err *parse_field(parser *p, json_t *fj, reg_node *rec, size_t idx, reg_hmap *seen,
                           const char *ctx)
{
    static const char *const reserved[] = {"name",    "type", "default", "order",
                                           "aliases", "doc",  NULL};
    reg_field *f = &rec->fields[idx];
    f->index = idx;
    f->order = 1;
    if (!json_is_object(fj))
        return invalid("%s: field %zu is not a JSON object", ctx, idx);
    json_t *nj = json_object_get(fj, "name");
    if (!json_is_string(nj))
        return invalid("%s: field %zu has no name", ctx, idx);
    const char *name = json_string_value(nj);
    if (!reg_name_valid(name))
        return invalid("%s: field name '%s' is not a valid Avro name", ctx, name);
    for (size_t k = 0; !seen && k < idx; k++) {
        if (strcmp(rec->fields[k].name, name) == 0)
            return invalid("%s: duplicate field '%s'", ctx, name);
    }
    f->name = arena_strdup(p->s, name);
    if (!f->name)
        return oom();
    int dup = seen ? seen_before(seen, f->name) : 0;
    if (dup)
        return dup < 0 ? oom() : invalid("%s: duplicate field '%s'", ctx, name);
    char *fctx = fmt_str("field '%s.%s'", rec->fullname, name);
    if (!fctx)
        return oom();
    cg_err *err = NULL;
    json_t *tj = json_object_get(fj, "type");
    if (!tj) {
        err = invalid("%s: has no type", fctx);
        goto done;
    }
    err = parse_type(p, tj, rec->namespace_, fctx, &f->type);
    if (err)
        goto done;
    err = string_list(p->s, json_object_get(fj, "aliases"), "aliases", fctx, NULL, 0, &f->aliases,
                      &f->n_aliases);
    if (err)
        goto done;
    json_t *dj = json_object_get(fj, "doc");
    if (dj && json_is_string(dj)) {
        f->doc = arena_strdup(p->s, json_string_value(dj));
        if (!f->doc) {
            err = oom();
            goto done;
        }
    } else if (dj) {
        err = add_warning(p->s, "%s: doc is not a string; ignored", fctx);
        if (err)
            goto done;
    }
    json_t *oj = json_object_get(fj, "order");
    if (oj) {
        const char *o = json_is_string(oj) ? json_string_value(oj) : "";
        if (strcmp(o, "ascending") == 0)
            f->order = 1;
        else if (strcmp(o, "descending") == 0)
            f->order = -1;
        else if (strcmp(o, "ignore") == 0)
            f->order = 0;
        else {
            err = invalid("%s: order must be \"ascending\", \"descending\" or \"ignore\"", fctx);
            goto done;
        }
    }
    err = collect_props(fj, reserved, &f->props);
    if (err)
        goto done;
    /* The default is checked after the whole schema is parsed (check_defaults()): it
     * may name a record whose definition comes later in the text. */
    json_t *def = json_object_get(fj, "default");
    if (def)
        f->default_json = json_incref(def);
done:
    free(fctx);
    return err;
}

static cg_err *parse_named(parser *p, json_t *j, reg_type t, const char *tname, const char *ns,
                           const char *ctx, reg_node **out)
{
    static const char *const rec_reserved[] = {"type", "name",   "namespace", "aliases",
                                               "doc",  "fields", NULL};
    static const char *const enum_reserved[] = {"type", "name",    "namespace", "aliases",
                                                "doc",  "symbols", "default",   NULL};
    static const char *const fixed_reserved[] = {"type", "name", "namespace", "aliases",
                                                 "doc",  "size", NULL};
    reg_node *n = NULL;
    cg_err *err = new_node(p->s, t, &n);
    if (err)
        return err;
    n->is_error = strcmp(tname, "error") == 0;
    err = parse_name(p, j, n, ns, ctx);
    if (err)
        return err;
    char *nctx = fmt_str("%s '%s'", tname, n->fullname);
    if (!nctx)
        return oom();
    if (t == REG_FIXED) {
        json_t *sj = json_object_get(j, "size");
        if (!sj) {
            err = invalid("%s: fixed has no size", nctx);
            goto done;
        }
        if (!json_is_integer(sj) || json_integer_value(sj) < 0 ||
            json_integer_value(sj) > INT32_MAX) {
            err = invalid("%s: size must be a non-negative integer", nctx);
            goto done;
        }
        n->size = (size_t)json_integer_value(sj);
    }
    err = register_named(p->s, n, nctx);
    if (err)
        goto done;
    if (t == REG_RECORD) {
        json_t *fj = json_object_get(j, "fields");
        if (!json_is_array(fj)) {
            err = invalid("%s: fields must be an array", nctx);
            goto done;
        }
        size_t cnt = json_array_size(fj);
        n->fields = arena_alloc(p->s, (cnt ? cnt : 1) * sizeof(*n->fields));
        if (!n->fields) {
            err = oom();
            goto done;
        }
        reg_hmap *seen = NULL;
        if (cnt > LINEAR_MAX && !(seen = reg_hmap_new())) {
            err = oom();
            goto done;
        }
        for (size_t i = 0; i < cnt && !err; i++) {
            n->n_fields = i + 1;
            err = parse_field(p, json_array_get(fj, i), n, i, seen, nctx);
        }
        reg_hmap_free(seen);
        if (err)
            goto done;
        err = collect_props(j, rec_reserved, &n->props);
    } else if (t == REG_ENUM) {
        json_t *sj = json_object_get(j, "symbols");
        if (!json_is_array(sj)) {
            err = invalid("%s: symbols must be an array of strings", nctx);
            goto done;
        }
        err = string_list(p->s, sj, "symbols", nctx, NULL, 0, &n->symbols, &n->n_symbols);
        if (err)
            goto done;
        json_t *dj = json_object_get(j, "default");
        if (dj) {
            const char *d = json_is_string(dj) ? json_string_value(dj) : NULL;
            size_t k = 0;
            while (d && k < n->n_symbols && strcmp(n->symbols[k], d) != 0)
                k++;
            if (!d || k == n->n_symbols) {
                char *v = json_brief(dj);
                err = invalid("%s: default %s is not one of its symbols", nctx, v ? v : "?");
                free(v);
                goto done;
            }
            n->enum_default = arena_strdup(p->s, d);
            if (!n->enum_default) {
                err = oom();
                goto done;
            }
        }
        err = collect_props(j, enum_reserved, &n->props);
    } else {
        err = collect_props(j, fixed_reserved, &n->props);
        if (!err)
            err = apply_logical(p, n, j, nctx);
        drop_logical_props(n);
    }
    if (!err)
        *out = n;
done:
    free(nctx);
    return err;
}

static cg_err *parse_object(parser *p, json_t *j, const char *ns, const char *ctx, reg_node **out)
{
    /* "doc" is not an attribute of these types in the specification, but people write
     * it; it is dropped rather than kept as a property, so that it cannot become part of
     * the schema's identity (doc never is). */
    static const char *const prim_reserved[] = {"type", "doc", NULL};
    static const char *const array_reserved[] = {"type", "items", "doc", NULL};
    static const char *const map_reserved[] = {"type", "values", "doc", NULL};
    json_t *tj = json_object_get(j, "type");
    if (!tj)
        return invalid("%s: schema object has no \"type\"", ctx);
    if (!json_is_string(tj))
        return invalid("%s: \"type\" must be a string naming a type", ctx);
    const char *t = json_string_value(tj);
    reg_type prim;
    cg_err *err = NULL;
    reg_node *n = NULL;
    if (primitive_lookup(t, &prim) && json_object_size(j) == 1) {
        err = prim_node(p->s, prim, &n);
    } else if (primitive_lookup(t, &prim)) {
        err = new_node(p->s, prim, &n);
        if (!err)
            err = collect_props(j, prim_reserved, &n->props);
        if (!err)
            err = apply_logical(p, n, j, ctx);
        drop_logical_props(n);
    } else if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
        return parse_named(p, j, REG_RECORD, t, ns, ctx, out);
    } else if (strcmp(t, "enum") == 0) {
        return parse_named(p, j, REG_ENUM, t, ns, ctx, out);
    } else if (strcmp(t, "fixed") == 0) {
        return parse_named(p, j, REG_FIXED, t, ns, ctx, out);
    } else if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        int is_array = t[0] == 'a';
        json_t *ij = json_object_get(j, is_array ? "items" : "values");
        if (!ij)
            return invalid("%s: %s has no \"%s\"", ctx, t, is_array ? "items" : "values");
        err = new_node(p->s, is_array ? REG_ARRAY : REG_MAP, &n);
        if (err)
            return err;
        char *ictx = fmt_str("%s (%s)", ctx, is_array ? "array items" : "map values");
        if (!ictx)
            return oom();
        err = parse_type(p, ij, ns, ictx, &n->items);
        free(ictx);
        if (!err)
            err = collect_props(j, is_array ? array_reserved : map_reserved, &n->props);
    } else {
        n = resolve(p->s, t, ns);
        if (!n)
            return unknown_type(p->s, ctx, t, ns);
        /* {"type": "Name"} is only a reference; other attributes would be silently
         * lost, so they are refused rather than dropped. */
        if (json_object_size(j) != 1)
            return invalid("%s: a reference to '%s' may not carry other attributes", ctx, t);
    }
    if (!err)
        *out = n;
    return err;
}

static cg_err *parse_type(parser *p, json_t *j, const char *ns, const char *ctx, reg_node **out)
{
    cg_err *err = NULL;
    if (++p->depth > MAX_DEPTH) {
        err = invalid("%s: schema nested deeper than %d levels", ctx, MAX_DEPTH);
        goto done;
    }
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        reg_type prim;
        if (primitive_lookup(t, &prim)) {
            err = prim_node(p->s, prim, out);
            goto done;
        }
        reg_node *n = resolve(p->s, t, ns);
        if (!n) {
            err = unknown_type(p->s, ctx, t, ns);
            goto done;
        }
        *out = n;
    } else if (json_is_object(j)) {
        err = parse_object(p, j, ns, ctx, out);
    } else if (json_is_array(j)) {
        err = parse_union(p, j, ns, ctx, out);
    } else {
        char *v = json_brief(j);
        err = invalid("%s: %s is not a schema (expected a type name, an object or an array)", ctx,
                      v ? v : "?");
        free(v);
    }
done:
    p->depth--;
    return err;
}

/* Field defaults, checked once every named type is known. */
static cg_err *check_defaults(reg_schema *s)
{
    for (size_t i = 0; i < s->n_owned; i++) {
        reg_node *n = s->owned[i];
        if (n->type != REG_RECORD)
            continue;
        for (size_t k = 0; k < n->n_fields; k++) {
            reg_field *f = &n->fields[k];
            if (!f->default_json)
                continue;
            char *path = fmt_str("%s.%s", n->fullname, f->name);
            if (!path)
                return oom();
            cg_err *err = reg_default_check(f->type, f->default_json, path);
            free(path);
            if (err)
                return err;
        }
    }
    return NULL;
}

/* 1 if a string outside a "default" value has an embedded NUL. */
static int nul_outside_defaults(json_t *j, int depth)
{
    if (depth > MAX_DEPTH * 4)
        return 0; /* the parser refuses such depth anyway */
    if (json_is_string(j))
        return strlen(json_string_value(j)) != json_string_length(j);
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (nul_outside_defaults(json_array_get(j, i), depth + 1))
                return 1;
        }
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            if (strcmp(k, "default") != 0 && nul_outside_defaults(v, depth + 1))
                return 1;
        }
    }
    return 0;
}

/* ---- Avro C as a second gate ---------------------------------------------------- */

/* Avro C 1.11.1 refuses some schemas the specification allows. Its verdict is trusted
 * except for these messages, each a known disagreement with the specification, proven by
 * tests in test_schema_avroc.c. Our own parser has already accepted the schema when this
 * runs, so e.g. "must have a name" cannot be a genuinely nameless record: it is Avro C
 * reading a reference to a type *named* "record" (or "fixed", "map", "array") as the
 * keyword. */
static int avroc_known_bug(const char *msg)
{
    static const char *const bugs[] = {
        "Unknown Avro \"type\": error", /* the spec's "error" record type */
        /* "Record type must have a \"name\"", "Fixed type must have a \"size\"", "Map type
         * must have \"values\"", ...: a reference to a type named "record", "fixed", "map",
         * ... read as the keyword. Also "Union type must have at least one branch" and
         * "Enum type must have at least one symbol": the specification allows both (the
         * empty union is in Avro's own schema-tests.txt). Our parser has refused every
         * genuinely missing attribute before Avro C runs. */
        " type must have ",
        "is not allowed without JSON_ALLOW_NUL", /* "\\u0000" in a bytes default */
        NULL,
    };
    for (size_t i = 0; bugs[i]; i++) {
        if (strstr(msg, bugs[i]))
            return 1;
    }
    return 0;
}

/* Avro C 1.11.1 keeps its last error message in one process-wide buffer (not
 * thread-local: avro_strerror() returns a plain global), and schemas are parsed on the
 * HTTP pool threads. This lock is the one piece of global mutable state in the module: it
 * owns Avro C's error buffer, from the call that may set it until the message is copied. */
static pthread_mutex_t avroc_lock = PTHREAD_MUTEX_INITIALIZER;

/* Runs Avro C's parser on text. Returns NULL if it accepts, else a new copy of its
 * message. */
static char *avroc_verdict(const char *text, size_t len, int *oom_out)
{
    avro_schema_t as = NULL;
    char *msg = NULL;
    *oom_out = 0;
    pthread_mutex_lock(&avroc_lock);
    if (avro_schema_from_json_length(text, len, &as) == 0) {
        avro_schema_decref(as);
    } else {
        msg = strdup(avro_strerror());
        *oom_out = !msg;
    }
    pthread_mutex_unlock(&avroc_lock);
    return msg;
}

/* Judges Avro C's refusal (msg, or NULL when it accepted) of a schema we accepted. */
static cg_err *avro_gate(reg_schema *s, const char *msg)
{
    if (!msg)
        return NULL;
    if (avroc_known_bug(msg))
        return add_warning(s, "Avro C 1.11.1 refuses this schema (a known Avro C bug): %s", msg);
    return invalid("schema refused by Avro C: %s", msg);
}

/* ---- entry points --------------------------------------------------------------- */

static int refs_add(reg_schema *s, const reg_schema *r)
{
    for (size_t i = 0; i < s->n_refs; i++)
        if (s->refs[i] == r)
            return 0;
    s->refs[s->n_refs++] = r;
    return 1;
}

/* Sets s->refs to the schemas refs reach, each once, in depth-first order: each
 * referenced schema, then what it reaches (its own flat list, already in that order). */
static cg_err *set_refs(reg_schema *s, const reg_schema *const *refs, size_t n_refs)
{
    size_t cap = 0;
    for (size_t i = 0; i < n_refs; i++)
        cap += 1 + refs[i]->n_refs;
    if (!cap)
        return NULL;
    s->refs = calloc(cap, sizeof(*s->refs));
    if (!s->refs)
        return oom();
    for (size_t i = 0; i < n_refs; i++)
        if (refs_add(s, refs[i]))
            for (size_t j = 0; j < refs[i]->n_refs; j++)
                refs_add(s, refs[i]->refs[j]);
    return NULL;
}

cg_err *reg_schema_parse(const char *text, size_t len, const reg_schema *const *refs, size_t n_refs,
                         reg_schema **out)
{
    cg_err *err = NULL;
    json_t *root = NULL;
    char *avroc_msg = NULL;
    int avroc_oom = 0;
    reg_schema *s = calloc(1, sizeof(*s));
    if (!s)
        return oom();
    /* Parsed, a schema takes about three times its text's size in the arena (nodes are
     * bigger than the JSON that declares them; docs and whitespace are smaller); the
     * first chunk is sized so that most schemas need no second one. */
    size_t want = len * 3;
    s->chunk_size = want < 512 ? 512 : want > 65536 ? 65536 : want;
    err = set_refs(s, refs, n_refs);
    if (err)
        goto done;
    json_error_t jerr;
    root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        err = invalid("schema is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                      jerr.column);
        goto done;
    }
    if (nul_outside_defaults(root, 0)) {
        err = invalid("schema has a \\u0000 character outside a default value");
        goto done;
    }
    parser p = {.s = s, .depth = 0};
    err = parse_type(&p, root, NULL, "schema", &s->root);
    if (err)
        goto done;
    json_decref(root);
    root = NULL;
    err = check_defaults(s);
    if (err)
        goto done;
    s->canonical = reg_node_canonical(s->root);
    s->normalized = reg_node_normalized(s->root);
    if (!s->canonical || !s->normalized) {
        err = oom();
        goto done;
    }
    /* Avro C sees only what we accepted: its error paths leak (a record redefining its
     * own name leaks the inner fixed, for one), and what we refuse needs no second
     * opinion. With references it cannot resolve the names; it then reads our
     * normalized form, which inlines every named type at first use and so stands
     * alone. */
    if (n_refs)
        avroc_msg = avroc_verdict(s->normalized, strlen(s->normalized), &avroc_oom);
    else
        avroc_msg = avroc_verdict(text, len, &avroc_oom);
    if (avroc_oom) {
        err = oom();
        goto done;
    }
    err = avro_gate(s, avroc_msg);
    if (err)
        goto done;
    size_t cl = strlen(s->canonical);
    s->fingerprint = reg_fingerprint64(s->canonical, cl);
    if (gnutls_hash_fast(GNUTLS_DIG_MD5, s->canonical, cl, s->md5) != 0 ||
        gnutls_hash_fast(GNUTLS_DIG_SHA256, s->canonical, cl, s->sha256) != 0) {
        err = cg_err_new(CG_EINVAL, "gnutls_hash_fast failed");
        goto done;
    }
    *out = s;
    s = NULL;
done:
    free(avroc_msg);
    json_decref(root);
    reg_schema_free(s);
    return err;
}

const reg_node *reg_schema_root(const reg_schema *s)
{
    return s ? s->root : NULL;
}

const char *reg_schema_canonical(const reg_schema *s)
{
    return s ? s->canonical : NULL;
}

const char *reg_schema_normalized(const reg_schema *s)
{
    return s ? s->normalized : NULL;
}

uint64_t reg_schema_fingerprint(const reg_schema *s)
{
    return s->fingerprint;
}

void reg_schema_md5(const reg_schema *s, unsigned char out[16])
{
    memcpy(out, s->md5, 16);
}

void reg_schema_sha256(const reg_schema *s, unsigned char out[32])
{
    memcpy(out, s->sha256, 32);
}

const char *const *reg_schema_warnings(const reg_schema *s)
{
    return s ? (const char *const *)s->warnings : NULL;
}

size_t reg_schema_named_count(const reg_schema *s)
{
    return s->n_named;
}

const reg_node *reg_schema_named_at(const reg_schema *s, size_t i)
{
    return i < s->n_named ? s->named[i] : NULL;
}
