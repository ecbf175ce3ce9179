/* avro_json.c - Avro's JSON encoding <-> Avro binary, walking the reg_node graph.
 *
 * One recursive encoder and one recursive decoder over the registry's parsed schema, so
 * the CLI tools need no generated code and no Avro C value API (which loses the custom
 * properties and logical types we keep). The encoder validates as it writes and names
 * the field path of the first problem; the decoder treats its bytes as hostile (they come
 * from any producer on a topic): every varint, length, count and index is checked against
 * the bytes left and the schema before use, and recursion is bounded.
 *
 * Plain mode (see avro_json.h) picks a union branch for a bare value by trial: each
 * branch that could fit is encoded into the output buffer and the buffer is cut back, so
 * a branch is chosen only when exactly one of the best-fitting ones accepts the value.
 */
#include "avro_json.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Recursive schemas nest as deep as the data does; this bounds the stack on hostile
 * input and on cyclic JSON-free recursion alike. */
#define MAX_DEPTH 200
/* Items of a type that encodes to zero bytes (null, empty records) cost no input, so
 * their count cannot be checked against the bytes left: cap them instead. */
#define MAX_EMPTY_ITEMS 100000

typedef struct wbuf {
    unsigned char *d;
    size_t len, cap;
    int oom;
} wbuf;

typedef struct ctx {
    char path[1024];
    size_t plen;
    int flags;
    int depth;
    int in_default; /* encoding a schema default: unions take their first branch, bare */
    wbuf *w;
    const unsigned char *in; /* decoder input */
    size_t in_len, pos;
    size_t empty_items;
} ctx;

/* ---- paths and errors ------------------------------------------------------------- */

static size_t path_push(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(ctx *c, const char *fmt, ...)
{
    size_t old = c->plen;
    if (c->plen >= sizeof(c->path) - 1)
        return old;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->plen, sizeof(c->path) - c->plen, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->plen += (size_t)n;
    if (c->plen >= sizeof(c->path))
        c->plen = sizeof(c->path) - 1;
    return old;
}

static size_t path_field(ctx *c, const char *name)
{
    return c->plen ? path_push(c, ".%s", name) : path_push(c, "%s", name);
}

static void path_pop(ctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

static cg_err *fail(ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static cg_err *fail(ctx *c, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->in)
        return cg_err_new(code, "%s%s%s (at byte %zu)", c->plen ? c->path : "", c->plen ? ": " : "",
                          msg, c->pos);
    return cg_err_new(code, "%s%s%s", c->plen ? c->path : "", c->plen ? ": " : "", msg);
}

/* A short rendering of a JSON value for messages ("12", "\"x\"", "{...}"). */
static void describe(const json_t *v, char *out, size_t cap)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(out, cap, "a value");
        return;
    }
    if (strlen(s) > 60)
        snprintf(out, cap, "%.57s...", s);
    else
        snprintf(out, cap, "%s", s);
    free(s);
}

const char *canon_avro_json_branch_name(const reg_node *t)
{
    if (t->fullname && (t->type == REG_RECORD || t->type == REG_ENUM || t->type == REG_FIXED))
        return t->fullname;
    return reg_type_name(t->type);
}

/* "string", or for a union "null or string". */
static void type_desc(const reg_node *t, char *out, size_t cap)
{
    if (t->type != REG_UNION) {
        snprintf(out, cap, "%s", canon_avro_json_branch_name(t));
        return;
    }
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->n_branches && n < cap; i++) {
        int k = snprintf(out + n, cap - n, "%s%s", i ? " or " : "",
                         canon_avro_json_branch_name(t->branches[i]));
        if (k < 0)
            break;
        n += (size_t)k;
    }
}

static cg_err *mismatch(ctx *c, const reg_node *t, const json_t *v)
{
    char want[256], got[80];
    type_desc(t, want, sizeof(want));
    describe(v, got, sizeof(got));
    return fail(c, CG_EINVAL, "expected %s, got %s", want, got);
}

/* ---- output buffer ---------------------------------------------------------------- */

static void put(wbuf *w, const void *p, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 64;
        while (cap < w->len + n)
            cap *= 2;
        unsigned char *d = realloc(w->d, cap);
        if (!d) {
            w->oom = 1;
            return;
        }
        w->d = d;
        w->cap = cap;
    }
    if (n)
        memcpy(w->d + w->len, p, n);
    w->len += n;
}

static void put_long(wbuf *w, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    unsigned char b[10];
    size_t n = 0;
    while (z & ~(uint64_t)0x7f) {
        b[n++] = (unsigned char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    b[n++] = (unsigned char)z;
    put(w, b, n);
}

static void put_float(wbuf *w, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 24)};
    put(w, b, 4);
}

static void put_double(wbuf *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(u >> (8 * i));
    put(w, b, 8);
}

/* ---- encoder ---------------------------------------------------------------------- */

static cg_err *enc(ctx *c, const reg_node *t, const json_t *v);

/* A JSON number, or one of the strings the JSON encoding uses for non-finite values. */
static int json_to_double(const json_t *v, double *d)
{
    if (json_is_integer(v)) {
        *d = (double)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        *d = json_real_value(v);
        return 1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "NaN")) {
            *d = NAN;
            return 1;
        }
        if (!strcmp(s, "Infinity")) {
            *d = INFINITY;
            return 1;
        }
        if (!strcmp(s, "-Infinity")) {
            *d = -INFINITY;
            return 1;
        }
    }
    return 0;
}

/* Decodes a UTF-8 JSON string of code points 0-255 into bytes (appended to w). Returns
 * 0, or -1 with *bad the offending code point (or -1 for malformed UTF-8, which jansson
 * does not let through anyway). */
static int codepoints_to_bytes(const char *s, size_t len, wbuf *w, long *bad, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned char b = (unsigned char)s[i];
        unsigned char out;
        if (b < 0x80) {
            out = b;
            i++;
        } else if ((b & 0xe0) == 0xc0 && i + 1 < len) {
            long cp = ((long)(b & 0x1f) << 6) | (s[i + 1] & 0x3f);
            if (cp > 255) {
                *bad = cp;
                return -1;
            }
            out = (unsigned char)cp;
            i += 2;
        } else {
            /* three- or four-byte sequences are all above 255 */
            long cp = -1;
            if ((b & 0xf0) == 0xe0 && i + 2 < len)
                cp = ((long)(b & 0x0f) << 12) | ((long)(s[i + 1] & 0x3f) << 6) | (s[i + 2] & 0x3f);
            else if ((b & 0xf8) == 0xf0 && i + 3 < len)
                cp = ((long)(b & 0x07) << 18) | ((long)(s[i + 1] & 0x3f) << 12) |
                     ((long)(s[i + 2] & 0x3f) << 6) | (s[i + 3] & 0x3f);
            *bad = cp;
            return -1;
        }
        if (w)
            put(w, &out, 1);
        n++;
    }
    *n_out = n;
    return 0;
}

static cg_err *enc_bytes(ctx *c, const reg_node *t, const json_t *v)
{
    if (!json_is_string(v))
        return mismatch(c, t, v);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), n = 0;
    long bad = 0;
    if (codepoints_to_bytes(s, len, NULL, &bad, &n) < 0)
        return fail(c, CG_EINVAL,
                    "%s is a string of code points 0-255 (one per byte), got code point %ld",
                    t->type == REG_FIXED ? "fixed" : "bytes", bad);
    if (t->type == REG_FIXED) {
        if (n != t->size)
            return fail(c, CG_EINVAL, "fixed %s holds %zu bytes, got %zu", t->fullname, t->size, n);
    } else {
        put_long(c->w, (int64_t)n);
    }
    codepoints_to_bytes(s, len, c->w, &bad, &n);
    return NULL;
}

static const reg_field *find_field(const reg_node *rec, const char *name)
{
    for (size_t i = 0; i < rec->n_fields; i++)
        if (!strcmp(rec->fields[i].name, name))
            return &rec->fields[i];
    return NULL;
}

static cg_err *enc_record(ctx *c, const reg_node *t, const json_t *v)
{
    if (!json_is_object(v))
        return mismatch(c, t, v);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (!find_field(t, key)) {
            char fields[300];
            size_t n = 0;
            fields[0] = '\0';
            for (size_t i = 0; i < t->n_fields && n < sizeof(fields); i++) {
                int k = snprintf(fields + n, sizeof(fields) - n, "%s%s", i ? ", " : "",
                                 t->fields[i].name);
                if (k < 0)
                    break;
                n += (size_t)k;
            }
            return fail(c, CG_EINVAL, "unknown field '%s' (record %s has: %s)", key, t->fullname,
                        fields);
        }
    }
    for (size_t i = 0; i < t->n_fields; i++) {
        const reg_field *f = &t->fields[i];
        const json_t *fv = json_object_get(v, f->name);
        size_t old = path_field(c, f->name);
        cg_err *err = NULL;
        if (fv) {
            err = enc(c, f->type, fv);
        } else if (f->default_json) {
            int saved = c->in_default;
            c->in_default = 1;
            err = enc(c, f->type, f->default_json);
            c->in_default = saved;
        } else {
            err = fail(c, CG_EINVAL, "missing (the field has no default)");
        }
        path_pop(c, old);
        if (err)
            return err;
    }
    return NULL;
}

static int branch_named(const reg_node *b, const char *name)
{
    if (!strcmp(canon_avro_json_branch_name(b), name))
        return 1;
    /* the short name of a named type is accepted on input */
    return b->name && (b->type == REG_RECORD || b->type == REG_ENUM || b->type == REG_FIXED) &&
           !strcmp(b->name, name);
}

/* How well a bare JSON value fits a branch, by kind only: 1 exact, 2 loose, 0 not. */
static int fit(const reg_node *b, const json_t *v)
{
    switch (b->type) {
    case REG_NULL:
        return json_is_null(v) ? 1 : 0;
    case REG_BOOLEAN:
        return json_is_boolean(v) ? 1 : 0;
    case REG_INT:
    case REG_LONG:
        return json_is_integer(v) ? 1 : 0;
    case REG_FLOAT:
    case REG_DOUBLE:
        if (json_is_real(v))
            return 1;
        if (json_is_integer(v))
            return 2;
        if (json_is_string(v)) {
            double d;
            return json_to_double(v, &d) ? 2 : 0;
        }
        return 0;
    case REG_STRING:
        return json_is_string(v) ? 1 : 0;
    case REG_ENUM:
        if (json_is_string(v))
            for (size_t i = 0; i < b->n_symbols; i++)
                if (!strcmp(b->symbols[i], json_string_value(v)))
                    return 1;
        return 0;
    case REG_BYTES:
    case REG_FIXED:
        return json_is_string(v) ? 2 : 0;
    case REG_ARRAY:
        return json_is_array(v) ? 1 : 0;
    case REG_MAP:
    case REG_RECORD:
        return json_is_object(v) ? 1 : 0;
    case REG_UNION:
        return 0;
    }
    return 0;
}

static cg_err *enc_branch(ctx *c, const reg_node *t, size_t i, const json_t *v)
{
    put_long(c->w, (int64_t)i);
    return enc(c, t->branches[i], v);
}

static cg_err *enc_union_plain(ctx *c, const reg_node *t, const json_t *v)
{
    size_t n_candidates = 0;
    cg_err *only_err = NULL; /* why the one candidate refused the value */
    for (int rank = 1; rank <= 2; rank++) {
        size_t at_rank = 0, single = 0;
        for (size_t i = 0; i < t->n_branches; i++)
            if (fit(t->branches[i], v) == rank) {
                at_rank++;
                single = i;
            }
        n_candidates += at_rank;
        if (at_rank == 1) {
            /* Encoded once, in place: nested unions with one fitting branch each stay
             * linear, not exponential, in the depth of the value. */
            size_t mark = c->w->len;
            cg_err *err = enc_branch(c, t, single, v);
            if (!err) {
                cg_err_free(only_err);
                return NULL;
            }
            c->w->len = mark;
            cg_err_free(only_err);
            only_err = err;
            continue;
        }
        size_t ok = 0, first = 0, second = 0;
        for (size_t i = 0; i < t->n_branches && at_rank; i++) {
            if (fit(t->branches[i], v) != rank)
                continue;
            size_t mark = c->w->len;
            cg_err *err = enc_branch(c, t, i, v);
            c->w->len = mark;
            if (err) {
                cg_err_free(err);
                continue;
            }
            if (ok == 0)
                first = i;
            else if (ok == 1)
                second = i;
            ok++;
        }
        if (ok == 1) {
            cg_err_free(only_err);
            return enc_branch(c, t, first, v);
        }
        if (ok > 1) {
            char got[80];
            cg_err_free(only_err);
            describe(v, got, sizeof(got));
            return fail(c, CG_EINVAL,
                        "%s fits union branches %s and %s: write it as {\"%s\": ...} to choose",
                        got, canon_avro_json_branch_name(t->branches[first]),
                        canon_avro_json_branch_name(t->branches[second]),
                        canon_avro_json_branch_name(t->branches[first]));
        }
    }
    /* One branch had the right kind but refused the value: its own message says more. */
    if (n_candidates == 1 && only_err)
        return only_err;
    cg_err_free(only_err);
    /* A string that is no symbol of the union's one enum: say so rather than list types. */
    if (n_candidates == 0 && json_is_string(v)) {
        size_t enums = 0, at = 0;
        for (size_t i = 0; i < t->n_branches; i++)
            if (t->branches[i]->type == REG_ENUM) {
                enums++;
                at = i;
            }
        if (enums == 1)
            return enc_branch(c, t, at, v);
    }
    return mismatch(c, t, v);
}

static cg_err *enc_union(ctx *c, const reg_node *t, const json_t *v)
{
    if (c->in_default) {
        /* a default is for the first branch, given bare (specification, "Unions") */
        if (!t->n_branches)
            return fail(c, CG_EINVAL, "empty union");
        return enc_branch(c, t, 0, v);
    }
    if (json_is_null(v)) {
        for (size_t i = 0; i < t->n_branches; i++)
            if (t->branches[i]->type == REG_NULL)
                return enc_branch(c, t, i, v);
        return mismatch(c, t, v);
    }
    if (json_is_object(v) && json_object_size(v) == 1) {
        const char *key = json_object_iter_key(json_object_iter((json_t *)v));
        for (size_t i = 0; i < t->n_branches; i++)
            if (branch_named(t->branches[i], key)) {
                return enc_branch(c, t, i, json_object_get(v, key));
            }
        if (!(c->flags & CANON_AVRO_JSON_PLAIN)) {
            char want[256];
            type_desc(t, want, sizeof(want));
            return fail(c, CG_EINVAL, "'%s' is not a branch of the union (%s)", key, want);
        }
    }
    if (c->flags & CANON_AVRO_JSON_PLAIN)
        return enc_union_plain(c, t, v);
    char want[256], got[80];
    type_desc(t, want, sizeof(want));
    describe(v, got, sizeof(got));
    return fail(c, CG_EINVAL,
                "expected %s as a union value ({\"<branch>\": value}, or null), got %s", want, got);
}

static cg_err *enc_inner(ctx *c, const reg_node *t, const json_t *v)
{
    switch (t->type) {
    case REG_NULL:
        return json_is_null(v) ? NULL : mismatch(c, t, v);
    case REG_BOOLEAN:
        if (!json_is_boolean(v))
            return mismatch(c, t, v);
        put(c->w, json_is_true(v) ? "\1" : "\0", 1);
        return NULL;
    case REG_INT:
        if (!json_is_integer(v))
            return mismatch(c, t, v);
        if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
            return fail(c, CG_EINVAL, "%" JSON_INTEGER_FORMAT " is out of range for int",
                        json_integer_value(v));
        put_long(c->w, json_integer_value(v));
        return NULL;
    case REG_LONG:
        if (!json_is_integer(v))
            return mismatch(c, t, v);
        put_long(c->w, json_integer_value(v));
        return NULL;
    case REG_FLOAT: {
        double d;
        if (!json_to_double(v, &d))
            return mismatch(c, t, v);
        if (isfinite(d) && fabs(d) > FLT_MAX)
            return fail(c, CG_EINVAL, "%g is out of range for float", d);
        if (isnan(d)) {
            put(c->w, "\x00\x00\xc0\x7f", 4); /* the canonical quiet NaN */
            return NULL;
        }
        put_float(c->w, (float)d);
        return NULL;
    }
    case REG_DOUBLE: {
        double d;
        if (!json_to_double(v, &d))
            return mismatch(c, t, v);
        if (isnan(d)) {
            put(c->w, "\x00\x00\x00\x00\x00\x00\xf8\x7f", 8);
            return NULL;
        }
        put_double(c->w, d);
        return NULL;
    }
    case REG_BYTES:
    case REG_FIXED:
        return enc_bytes(c, t, v);
    case REG_STRING:
        if (!json_is_string(v))
            return mismatch(c, t, v);
        put_long(c->w, (int64_t)json_string_length(v));
        put(c->w, json_string_value(v), json_string_length(v));
        return NULL;
    case REG_ENUM:
        if (!json_is_string(v))
            return mismatch(c, t, v);
        for (size_t i = 0; i < t->n_symbols; i++)
            if (!strcmp(t->symbols[i], json_string_value(v))) {
                put_long(c->w, (int64_t)i);
                return NULL;
            }
        return fail(c, CG_EINVAL, "'%s' is not a symbol of enum %s", json_string_value(v),
                    t->fullname);
    case REG_ARRAY: {
        if (!json_is_array(v))
            return mismatch(c, t, v);
        size_t n = json_array_size(v);
        if (n)
            put_long(c->w, (int64_t)n);
        for (size_t i = 0; i < n; i++) {
            size_t old = path_push(c, "[%zu]", i);
            cg_err *err = enc(c, t->items, json_array_get(v, i));
            path_pop(c, old);
            if (err)
                return err;
        }
        put(c->w, "\0", 1);
        return NULL;
    }
    case REG_MAP: {
        if (!json_is_object(v))
            return mismatch(c, t, v);
        size_t n = json_object_size(v);
        if (n)
            put_long(c->w, (int64_t)n);
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            const char *k = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);
            put_long(c->w, (int64_t)klen);
            put(c->w, k, klen);
            size_t old = path_push(c, "[\"%s\"]", k);
            cg_err *err = enc(c, t->items, json_object_iter_value(it));
            path_pop(c, old);
            if (err)
                return err;
        }
        put(c->w, "\0", 1);
        return NULL;
    }
    case REG_RECORD:
        return enc_record(c, t, v);
    case REG_UNION:
        return enc_union(c, t, v);
    }
    return fail(c, CG_EINVAL, "unknown type");
}

static cg_err *enc(ctx *c, const reg_node *t, const json_t *v)
{
    if (c->depth >= MAX_DEPTH)
        return fail(c, CG_EINVAL, "nested deeper than %d levels", MAX_DEPTH);
    c->depth++;
    cg_err *err = enc_inner(c, t, v);
    c->depth--;
    return err;
}

cg_err *canon_avro_json_encode(const reg_node *type, const json_t *value, int flags,
                               unsigned char **out, size_t *out_len)
{
    if (!type || !value || !out || !out_len)
        return cg_err_new(CG_EINVAL, "canon_avro_json_encode: NULL argument");
    wbuf w = {0};
    ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return cg_err_new(CG_ENOMEM, "out of memory");
    c->flags = flags;
    c->w = &w;
    cg_err *err = enc(c, type, value);
    free(c);
    if (!err && w.oom)
        err = cg_err_new(CG_ENOMEM, "out of memory encoding a value");
    if (!err && !w.d) {
        w.d = malloc(1);
        if (!w.d)
            err = cg_err_new(CG_ENOMEM, "out of memory");
    }
    if (err) {
        free(w.d);
        return err;
    }
    *out = w.d;
    *out_len = w.len;
    return NULL;
}

/* ---- decoder ---------------------------------------------------------------------- */

static cg_err *dec(ctx *c, const reg_node *t, json_t **out);

static cg_err *get_long(ctx *c, int64_t *out)
{
    uint64_t z = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->pos >= c->in_len)
            return fail(c, CG_EDECODE, "truncated (a varint runs past the end)");
        unsigned char b = c->in[c->pos++];
        z |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return NULL;
        }
    }
    return fail(c, CG_EDECODE, "varint longer than 10 bytes");
}

static cg_err *get_len(ctx *c, const char *what, size_t *out)
{
    int64_t n;
    cg_err *err = get_long(c, &n);
    if (err)
        return err;
    if (n < 0)
        return fail(c, CG_EDECODE, "negative %s length %" PRId64, what, n);
    if ((uint64_t)n > c->in_len - c->pos)
        return fail(c, CG_EDECODE, "%s length %" PRId64 " but only %zu bytes left", what, n,
                    c->in_len - c->pos);
    *out = (size_t)n;
    return NULL;
}

/* 1 when a value of t may encode to zero bytes (so a count of them costs no input). */
static int can_be_empty(const reg_node *t, int depth)
{
    if (depth > 32)
        return 1;
    switch (t->type) {
    case REG_NULL:
        return 1;
    case REG_FIXED:
        return t->size == 0;
    case REG_RECORD:
        for (size_t i = 0; i < t->n_fields; i++)
            if (!can_be_empty(t->fields[i].type, depth + 1))
                return 0;
        return 1;
    default:
        return 0;
    }
}

static json_t *bytes_to_codepoints(const unsigned char *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (!s)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            s[k++] = (char)p[i];
        } else {
            s[k++] = (char)(0xc0 | (p[i] >> 6));
            s[k++] = (char)(0x80 | (p[i] & 0x3f));
        }
    }
    json_t *j = json_stringn(s, k);
    free(s);
    return j;
}

static json_t *nonfinite(double d)
{
    if (isnan(d))
        return json_string("NaN");
    return json_string(d > 0 ? "Infinity" : "-Infinity");
}

static cg_err *oom(void)
{
    return cg_err_new(CG_ENOMEM, "out of memory decoding a value");
}

/* Reads the blocks of an array or map, calling item() for each element. */
static cg_err *dec_blocks(ctx *c, const reg_node *t, json_t *container)
{
    int empty_ok = can_be_empty(t->items, 0) && t->type == REG_ARRAY;
    size_t index = 0;
    for (;;) {
        int64_t count;
        cg_err *err = get_long(c, &count);
        if (err)
            return err;
        if (count == 0)
            return NULL;
        if (count < 0) {
            if (count == INT64_MIN)
                return fail(c, CG_EDECODE, "invalid block count");
            count = -count;
            size_t block_bytes;
            err = get_len(c, "block", &block_bytes);
            if (err)
                return err;
        }
        if (empty_ok) {
            if ((uint64_t)count > MAX_EMPTY_ITEMS - c->empty_items)
                return fail(c, CG_EDECODE, "more than %d zero-byte items", MAX_EMPTY_ITEMS);
            c->empty_items += (size_t)count;
        } else if ((uint64_t)count > c->in_len - c->pos) {
            return fail(c, CG_EDECODE, "block of %" PRId64 " items but only %zu bytes left", count,
                        c->in_len - c->pos);
        }
        for (int64_t i = 0; i < count; i++, index++) {
            if (t->type == REG_ARRAY) {
                size_t old = path_push(c, "[%zu]", index);
                json_t *item = NULL;
                err = dec(c, t->items, &item);
                path_pop(c, old);
                if (err)
                    return err;
                if (json_array_append_new(container, item))
                    return oom();
            } else {
                size_t klen;
                err = get_len(c, "map key", &klen);
                if (err)
                    return err;
                const char *k = (const char *)c->in + c->pos;
                c->pos += klen;
                char *key = strndup(k, klen);
                if (!key)
                    return oom();
                size_t old = path_push(c, "[\"%s\"]", key);
                free(key);
                json_t *val = NULL;
                err = dec(c, t->items, &val);
                if (!err && json_object_setn_new(container, k, klen, val)) {
                    val = NULL;
                    err = fail(c, CG_EDECODE, "map key is not valid UTF-8");
                }
                path_pop(c, old);
                if (err)
                    return err;
            }
        }
    }
}

static cg_err *dec_inner(ctx *c, const reg_node *t, json_t **out)
{
    cg_err *err = NULL;
    switch (t->type) {
    case REG_NULL:
        *out = json_null();
        return NULL;
    case REG_BOOLEAN:
        if (c->pos >= c->in_len)
            return fail(c, CG_EDECODE, "truncated (boolean)");
        if (c->in[c->pos] > 1)
            return fail(c, CG_EDECODE, "invalid boolean byte 0x%02x", c->in[c->pos]);
        *out = json_boolean(c->in[c->pos++]);
        return NULL;
    case REG_INT:
    case REG_LONG: {
        int64_t v;
        err = get_long(c, &v);
        if (err)
            return err;
        if (t->type == REG_INT && (v < INT32_MIN || v > INT32_MAX))
            return fail(c, CG_EDECODE, "%" PRId64 " is out of range for int", v);
        *out = json_integer((json_int_t)v);
        break;
    }
    case REG_FLOAT: {
        if (c->in_len - c->pos < 4)
            return fail(c, CG_EDECODE, "truncated (float needs 4 bytes)");
        const unsigned char *p = c->in + c->pos;
        uint32_t u =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &u, 4);
        c->pos += 4;
        *out = isfinite(f) ? json_real((double)f) : nonfinite((double)f);
        break;
    }
    case REG_DOUBLE: {
        if (c->in_len - c->pos < 8)
            return fail(c, CG_EDECODE, "truncated (double needs 8 bytes)");
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u |= (uint64_t)c->in[c->pos + i] << (8 * i);
        double d;
        memcpy(&d, &u, 8);
        c->pos += 8;
        *out = isfinite(d) ? json_real(d) : nonfinite(d);
        break;
    }
    case REG_BYTES:
    case REG_FIXED: {
        size_t n;
        if (t->type == REG_FIXED) {
            n = t->size;
            if (c->in_len - c->pos < n)
                return fail(c, CG_EDECODE, "truncated (fixed %s needs %zu bytes)", t->fullname, n);
        } else {
            err = get_len(c, "bytes", &n);
            if (err)
                return err;
        }
        *out = bytes_to_codepoints(c->in + c->pos, n);
        c->pos += n;
        break;
    }
    case REG_STRING: {
        size_t n;
        err = get_len(c, "string", &n);
        if (err)
            return err;
        *out = json_stringn((const char *)c->in + c->pos, n);
        if (!*out)
            return fail(c, CG_EDECODE, "string of %zu bytes is not valid UTF-8", n);
        c->pos += n;
        return NULL;
    }
    case REG_ENUM: {
        int64_t i;
        err = get_long(c, &i);
        if (err)
            return err;
        if (i < 0 || (uint64_t)i >= t->n_symbols)
            return fail(c, CG_EDECODE, "enum index %" PRId64 " out of range (%s has %zu symbols)",
                        i, t->fullname, t->n_symbols);
        *out = json_string(t->symbols[i]);
        break;
    }
    case REG_ARRAY:
    case REG_MAP: {
        json_t *j = t->type == REG_ARRAY ? json_array() : json_object();
        if (!j)
            return oom();
        err = dec_blocks(c, t, j);
        if (err) {
            json_decref(j);
            return err;
        }
        *out = j;
        return NULL;
    }
    case REG_RECORD: {
        json_t *j = json_object();
        if (!j)
            return oom();
        for (size_t i = 0; i < t->n_fields; i++) {
            size_t old = path_field(c, t->fields[i].name);
            json_t *fv = NULL;
            err = dec(c, t->fields[i].type, &fv);
            path_pop(c, old);
            if (!err && json_object_set_new(j, t->fields[i].name, fv))
                err = oom();
            if (err) {
                json_decref(j);
                return err;
            }
        }
        *out = j;
        return NULL;
    }
    case REG_UNION: {
        int64_t i;
        err = get_long(c, &i);
        if (err)
            return err;
        if (i < 0 || (uint64_t)i >= t->n_branches)
            return fail(c, CG_EDECODE, "union branch index %" PRId64 " out of range (%zu branches)",
                        i, t->n_branches);
        const reg_node *b = t->branches[i];
        json_t *v = NULL;
        err = dec(c, b, &v);
        if (err)
            return err;
        if (b->type == REG_NULL || (c->flags & CANON_AVRO_JSON_PLAIN)) {
            *out = v;
            return NULL;
        }
        json_t *w = json_object();
        if (!w || json_object_set_new(w, canon_avro_json_branch_name(b), v)) {
            json_decref(w);
            return oom();
        }
        *out = w;
        return NULL;
    }
    }
    if (!*out)
        return oom();
    return NULL;
}

static cg_err *dec(ctx *c, const reg_node *t, json_t **out)
{
    if (c->depth >= MAX_DEPTH)
        return fail(c, CG_EDECODE, "nested deeper than %d levels", MAX_DEPTH);
    c->depth++;
    *out = NULL;
    cg_err *err = dec_inner(c, t, out);
    c->depth--;
    return err;
}

cg_err *canon_avro_json_decode(const reg_node *type, const void *buf, size_t len, int flags,
                               json_t **out)
{
    if (!type || (!buf && len) || !out)
        return cg_err_new(CG_EINVAL, "canon_avro_json_decode: NULL argument");
    static const unsigned char empty[1];
    ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return cg_err_new(CG_ENOMEM, "out of memory");
    c->flags = flags;
    c->in = buf ? buf : empty;
    c->in_len = len;
    json_t *v = NULL;
    cg_err *err = dec(c, type, &v);
    if (!err && c->pos != len)
        err = fail(c, CG_EDECODE, "%zu bytes left after the value", len - c->pos);
    free(c);
    if (err) {
        json_decref(v);
        return err;
    }
    *out = v;
    return NULL;
}
