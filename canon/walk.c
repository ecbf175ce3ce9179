/* walk.c - compiled, bounds-checked Avro binary walking (see walk.h).
 *
 * A program is a flat array of ops. Each op is a type: its kind, a count (fields,
 * branches, symbols, fixed size) and an index into the kids array (the ops of its fields
 * or branches, or its one child for arrays and maps). Named types are compiled once, so
 * recursive schemas compile to cycles in the op graph. Walking is a recursive descent
 * bounded by CANON_WALK_MAX_DEPTH; every read checks the bytes left first.
 *
 * Block counts of arrays and maps come from the input, so they are checked against the
 * bytes left: an item that needs at least one byte cannot be more numerous than the bytes
 * left. Items that may take zero bytes (null, an all-null record) are capped at
 * CANON_WALK_MAX_ITEMS, so that a 10-byte message cannot make us loop 2^62 times. A
 * block with a byte size (negative count) must take exactly that many bytes: values are
 * republished as they came, and a reader that skips blocks by their size trusts it.
 */
#include "walk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CANON_WALK_MAX_ITEMS (1u << 20)

/* ---- byte buffer -------------------------------------------------------------------- */

void canon_wbuf_free(canon_wbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

int canon_wbuf_reserve(canon_wbuf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->cap - b->len >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void canon_wbuf_put_slow(canon_wbuf *b, const void *data, size_t n)
{
    if (n == 0 || canon_wbuf_reserve(b, n))
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void canon_wbuf_long_slow(canon_wbuf *b, int64_t v)
{
    if (canon_wbuf_reserve(b, 10))
        return;
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        b->p[b->len++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    b->p[b->len++] = (uint8_t)z;
}

void canon_wbuf_float(canon_wbuf *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t o[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    canon_wbuf_put(b, o, 4);
}

void canon_wbuf_double(canon_wbuf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    uint8_t o[8];
    for (int i = 0; i < 8; i++)
        o[i] = (uint8_t)(u >> (8 * i));
    canon_wbuf_put(b, o, 8);
}

/* ---- primitive readers ---------------------------------------------------------------- */

int canon_read_long(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    const uint8_t *q = *p;
    uint64_t z = 0;
    if (end - q >= 10) {
        /* Ten bytes left: no bounds check per byte. Same rules as the loop below. */
        for (int shift = 0; shift < 63; shift += 7) {
            uint8_t c = *q++;
            z |= (uint64_t)(c & 0x7f) << shift;
            if (!(c & 0x80)) {
                *p = q;
                *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
                return 0;
            }
        }
        uint8_t c = *q++;
        if (c > 1)
            return -1;
        z |= (uint64_t)c << 63;
        *p = q;
        *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
        return 0;
    }
    for (int shift = 0; shift < 64; shift += 7) {
        if (q >= end)
            return -1;
        uint8_t c = *q++;
        /* The tenth byte may only carry the top bit of a 64-bit value. */
        if (shift == 63 && c > 1)
            return -1;
        z |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *p = q;
            *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return 0;
        }
    }
    return -1;
}

int canon_read_int(const uint8_t **p, const uint8_t *end, int32_t *out)
{
    int64_t v;
    if (canon_read_long_fast(p, end, &v) || v < INT32_MIN || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

int canon_read_str(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *n)
{
    int64_t len;
    if (canon_read_long_fast(p, end, &len) || len < 0 || (uint64_t)len > (uint64_t)(end - *p))
        return -1;
    *s = *p;
    *n = (size_t)len;
    *p += len;
    return 0;
}

int canon_read_float(const uint8_t **p, const uint8_t *end, float *out)
{
    if (end - *p < 4)
        return -1;
    const uint8_t *q = *p;
    uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    memcpy(out, &u, 4);
    *p += 4;
    return 0;
}

int canon_read_double(const uint8_t **p, const uint8_t *end, double *out)
{
    if (end - *p < 8)
        return -1;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)(*p)[i] << (8 * i);
    memcpy(out, &u, 8);
    *p += 8;
    return 0;
}

/* ---- programs ---------------------------------------------------------------------------- */

typedef struct wop {
    uint8_t kind;     /* reg_type */
    uint8_t may_zero; /* an encoding of this type can take zero bytes */
    uint32_t n;       /* fields, branches, symbols, fixed size */
    uint32_t kids;    /* index into kids/names (record, union) or the child op (array, map) */
} wop;

struct canon_walk {
    wop *ops;
    uint32_t n_ops, cap_ops;
    uint32_t *kids;
    char **names; /* parallel to kids: field names of records, NULL elsewhere */
    uint32_t n_kids, cap_kids;
    const reg_node **nodes; /* nodes[i] compiled to ops[i]; compile-time identity only */
};

static int compile_node(canon_walk *w, const reg_node *n, uint32_t *out)
{
    for (uint32_t i = 0; i < w->n_ops; i++) {
        if (w->nodes[i] == n) {
            *out = i;
            return 0;
        }
    }
    if (w->n_ops == w->cap_ops) {
        uint32_t c = w->cap_ops ? w->cap_ops * 2 : 16;
        wop *o = realloc(w->ops, (size_t)c * sizeof(*o));
        if (!o)
            return -1;
        w->ops = o;
        const reg_node **nd = realloc(w->nodes, (size_t)c * sizeof(*nd));
        if (!nd)
            return -1;
        w->nodes = nd;
        w->cap_ops = c;
    }
    uint32_t me = w->n_ops++;
    w->nodes[me] = n;
    w->ops[me] = (wop){.kind = (uint8_t)n->type};
    *out = me;

    uint32_t nk = 0;
    switch (n->type) {
    case REG_RECORD:
        nk = (uint32_t)n->n_fields;
        break;
    case REG_UNION:
        nk = (uint32_t)n->n_branches;
        break;
    case REG_ENUM:
        w->ops[me].n = (uint32_t)n->n_symbols;
        return 0;
    case REG_FIXED:
        w->ops[me].n = (uint32_t)n->size;
        return 0;
    case REG_ARRAY:
    case REG_MAP: {
        uint32_t child;
        if (compile_node(w, n->items, &child))
            return -1;
        w->ops[me].n = 1;
        w->ops[me].kids = child;
        return 0;
    }
    default:
        return 0;
    }
    uint32_t base = w->n_kids;
    if (base + nk > w->cap_kids) {
        uint32_t c = w->cap_kids ? w->cap_kids : 16;
        while (c < base + nk)
            c *= 2;
        uint32_t *k = realloc(w->kids, (size_t)c * sizeof(*k));
        if (!k)
            return -1;
        w->kids = k;
        char **nm = realloc(w->names, (size_t)c * sizeof(*nm));
        if (!nm)
            return -1;
        w->names = nm;
        w->cap_kids = c;
    }
    w->n_kids += nk;
    for (uint32_t i = 0; i < nk; i++)
        w->names[base + i] = NULL;
    w->ops[me].n = nk;
    w->ops[me].kids = base;
    for (uint32_t i = 0; i < nk; i++) {
        uint32_t child;
        const reg_node *c = n->type == REG_RECORD ? n->fields[i].type : n->branches[i];
        if (compile_node(w, c, &child))
            return -1;
        w->kids[base + i] = child;
        if (n->type == REG_RECORD) {
            w->names[base + i] = strdup(n->fields[i].name);
            if (!w->names[base + i])
                return -1;
        }
    }
    return 0;
}

/* Which types can be encoded in zero bytes: a fixpoint, since records may be recursive
 * (a cycle through a record alone cannot be encoded at all, so "no" is right for it). */
static void compute_may_zero(canon_walk *w)
{
    int changed = 1;
    while (changed) {
        changed = 0;
        for (uint32_t i = 0; i < w->n_ops; i++) {
            wop *o = &w->ops[i];
            if (o->may_zero)
                continue;
            int z = 0;
            if (o->kind == REG_NULL || (o->kind == REG_FIXED && o->n == 0)) {
                z = 1;
            } else if (o->kind == REG_RECORD) {
                z = 1;
                for (uint32_t k = 0; k < o->n; k++)
                    z = z && w->ops[w->kids[o->kids + k]].may_zero;
            }
            if (z) {
                o->may_zero = 1;
                changed = 1;
            }
        }
    }
}

cg_err *canon_walk_compile(const reg_node *root, canon_walk **out)
{
    canon_walk *w = calloc(1, sizeof(*w));
    uint32_t r;
    if (!w || compile_node(w, root, &r)) {
        canon_walk_free(w);
        return cg_err_new(CG_ENOMEM, "out of memory compiling a schema");
    }
    compute_may_zero(w);
    *out = w;
    return NULL;
}

void canon_walk_free(canon_walk *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; i < w->n_kids; i++)
        free(w->names[i]);
    free(w->names);
    free(w->kids);
    free(w->ops);
    free(w->nodes);
    free(w);
}

uint32_t canon_walk_root(const canon_walk *w)
{
    (void)w;
    return 0;
}

uint32_t canon_walk_op(const canon_walk *w, const reg_node *n)
{
    for (uint32_t i = 0; i < w->n_ops; i++) {
        if (w->nodes[i] == n)
            return i;
    }
    return UINT32_MAX;
}

reg_type canon_walk_kind(const canon_walk *w, uint32_t op)
{
    return (reg_type)w->ops[op].kind;
}

uint32_t canon_walk_count(const canon_walk *w, uint32_t op)
{
    return w->ops[op].n;
}

uint32_t canon_walk_child(const canon_walk *w, uint32_t op, uint32_t i)
{
    const wop *o = &w->ops[op];
    if (o->kind == REG_ARRAY || o->kind == REG_MAP)
        return o->kids;
    return w->kids[o->kids + i];
}

const char *canon_walk_field_name(const canon_walk *w, uint32_t op, uint32_t i)
{
    return w->names[w->ops[op].kids + i];
}

/* ---- walking -------------------------------------------------------------------------- */

typedef struct wctx {
    const canon_walk *w;
    const uint8_t *end;
    const char *prefix;
    const char *path[CANON_WALK_MAX_DEPTH + 1];
    int depth;
    char *err;
    size_t errsz;
} wctx;

__attribute__((format(printf, 2, 3))) static int fail(wctx *c, const char *fmt, ...)
{
    if (!c->err || c->errsz == 0)
        return -1;
    size_t off = 0;
    int first = 1;
    const char *parts[CANON_WALK_MAX_DEPTH + 2];
    int np = 0;
    if (c->prefix && *c->prefix)
        parts[np++] = c->prefix;
    for (int i = 0; i < c->depth; i++)
        parts[np++] = c->path[i];
    for (int i = 0; i < np && off + 1 < c->errsz; i++) {
        /* Deep paths (recursive types) keep their head and tail, so the message fits. */
        if (np > 12 && i == 4) {
            int k = snprintf(c->err + off, c->errsz - off, ".(%d levels)", np - 10);
            if (k < 0)
                break;
            off += (size_t)k;
            i = np - 7;
            continue;
        }
        int brk = parts[i][0] == '[';
        int k = snprintf(c->err + off, c->errsz - off, "%s%s", first || brk ? "" : ".", parts[i]);
        if (k < 0)
            break;
        off += (size_t)k;
        first = 0;
    }
    if (off >= c->errsz)
        off = c->errsz - 1;
    if (np == 0)
        off += (size_t)snprintf(c->err + off, c->errsz - off, "(value)");
    if (off + 2 < c->errsz) {
        c->err[off++] = ':';
        c->err[off++] = ' ';
        c->err[off] = '\0';
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + off, c->errsz - off, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int walk(wctx *c, uint32_t op, const uint8_t **pp);

static int walk_blocks(wctx *c, const wop *o, const uint8_t **pp)
{
    int is_map = o->kind == REG_MAP;
    const wop *item = &c->w->ops[o->kids];
    uint64_t total = 0;
    c->path[c->depth++] = is_map ? "{}" : "[]";
    for (;;) {
        int64_t count;
        if (canon_read_long(pp, c->end, &count))
            return fail(c, "truncated or malformed block count");
        if (count == 0)
            break;
        int64_t size = -1;
        if (count < 0) {
            if (count == INT64_MIN)
                return fail(c, "block count out of range");
            count = -count;
            if (canon_read_long(pp, c->end, &size) || size < 0 ||
                (uint64_t)size > (uint64_t)(c->end - *pp))
                return fail(c, "block size invalid or beyond the bytes left");
        }
        const uint8_t *block = *pp;
        uint64_t left = (uint64_t)(c->end - *pp);
        if (!item->may_zero || is_map) {
            if ((uint64_t)count > left)
                return fail(c, "block of %lld items exceeds the %llu bytes left", (long long)count,
                            (unsigned long long)left);
        }
        total += (uint64_t)count;
        if (total > CANON_WALK_MAX_ITEMS && item->may_zero)
            return fail(c, "more than %u items", CANON_WALK_MAX_ITEMS);
        for (int64_t i = 0; i < count; i++) {
            if (is_map) {
                const uint8_t *s;
                size_t n;
                if (canon_read_str(pp, c->end, &s, &n))
                    return fail(c, "map key truncated or malformed");
            }
            if (walk(c, o->kids, pp))
                return -1;
        }
        /* The bytes go out again as they came (the envelope copies values), and readers
         * that skip a block by its size (Avro Java) would misread whatever follows. */
        if (size >= 0 && *pp - block != size)
            return fail(c, "block size %lld differs from the %lld bytes its %lld items take",
                        (long long)size, (long long)(*pp - block), (long long)count);
    }
    c->depth--;
    return 0;
}

static int walk(wctx *c, uint32_t op, const uint8_t **pp)
{
    const wop *o = &c->w->ops[op];
    const uint8_t *end = c->end;
    int64_t v;
    if (c->depth >= CANON_WALK_MAX_DEPTH)
        return fail(c, "nested deeper than %d levels", CANON_WALK_MAX_DEPTH);
    switch ((reg_type)o->kind) {
    case REG_NULL:
        return 0;
    case REG_BOOLEAN:
        if (*pp >= end)
            return fail(c, "boolean truncated");
        if (**pp > 1)
            return fail(c, "boolean byte %u is neither 0 nor 1", **pp);
        (*pp)++;
        return 0;
    case REG_INT: {
        int32_t i;
        if (canon_read_int(pp, end, &i))
            return fail(c, "int truncated, malformed or out of range");
        return 0;
    }
    case REG_LONG:
        if (canon_read_long(pp, end, &v))
            return fail(c, "long truncated or malformed");
        return 0;
    case REG_FLOAT:
        if (end - *pp < 4)
            return fail(c, "float truncated");
        *pp += 4;
        return 0;
    case REG_DOUBLE:
        if (end - *pp < 8)
            return fail(c, "double truncated");
        *pp += 8;
        return 0;
    case REG_BYTES:
    case REG_STRING:
        if (canon_read_long(pp, end, &v))
            return fail(c, "length truncated or malformed");
        if (v < 0)
            return fail(c, "negative length %lld", (long long)v);
        if ((uint64_t)v > (uint64_t)(end - *pp))
            return fail(c, "length %lld exceeds the %lld bytes left", (long long)v,
                        (long long)(end - *pp));
        *pp += v;
        return 0;
    case REG_FIXED:
        if ((uint64_t)(end - *pp) < o->n)
            return fail(c, "fixed of %u bytes truncated", o->n);
        *pp += o->n;
        return 0;
    case REG_ENUM:
        if (canon_read_long(pp, end, &v))
            return fail(c, "enum index truncated or malformed");
        if (v < 0 || v >= (int64_t)o->n)
            return fail(c, "enum index %lld out of range (%u symbols)", (long long)v, o->n);
        return 0;
    case REG_UNION:
        if (canon_read_long(pp, end, &v))
            return fail(c, "union index truncated or malformed");
        if (v < 0 || v >= (int64_t)o->n)
            return fail(c, "union branch %lld out of range (%u branches)", (long long)v, o->n);
        return walk(c, c->w->kids[o->kids + (uint32_t)v], pp);
    case REG_RECORD:
        for (uint32_t i = 0; i < o->n; i++) {
            c->path[c->depth++] = c->w->names[o->kids + i];
            if (walk(c, c->w->kids[o->kids + i], pp))
                return -1;
            c->depth--;
        }
        return 0;
    case REG_ARRAY:
    case REG_MAP:
        return walk_blocks(c, o, pp);
    }
    return fail(c, "unknown type");
}

/* Field by field: the path array is written before it is read, and zeroing its 500 bytes
 * on every call showed in profiles. */
static void ctx_init(wctx *c, const canon_walk *w, const uint8_t *end, const char *prefix,
                     char *err, size_t errsz)
{
    c->w = w;
    c->end = end;
    c->prefix = prefix;
    c->depth = 0;
    c->err = err;
    c->errsz = errsz;
    if (err && errsz)
        err[0] = '\0';
}

int canon_walk_skip(const canon_walk *w, uint32_t op, const uint8_t **p, const uint8_t *end,
                    const char *prefix, char *err, size_t errsz)
{
    wctx c;
    ctx_init(&c, w, end, prefix, err, errsz);
    return walk(&c, op, p);
}

int canon_walk_record(const canon_walk *w, uint32_t op, const uint8_t **p, const uint8_t *end,
                      const uint8_t **starts, const uint8_t **ends, const char *prefix, char *err,
                      size_t errsz)
{
    wctx c;
    ctx_init(&c, w, end, prefix, err, errsz);
    const wop *o = &w->ops[op];
    if (o->kind != REG_RECORD)
        return fail(&c, "not a record");
    for (uint32_t i = 0; i < o->n; i++) {
        starts[i] = *p;
        c.path[c.depth++] = w->names[o->kids + i];
        if (walk(&c, w->kids[o->kids + i], p))
            return -1;
        c.depth--;
        ends[i] = *p;
    }
    return 0;
}

/* ---- walking without a path ------------------------------------------------------------
 *
 * The same checks as walk() and walk_blocks() above, in the same order, minus the path
 * and the message: a valid message (nearly all of them) pays for neither, and an invalid
 * one is walked again by walk() to say why. depth counts what walk() counts in c->depth
 * (record fields and array or map levels around the value). */

static int check(const canon_walk *w, uint32_t op, const uint8_t **pp, const uint8_t *end,
                 int depth);

/* check() for a record field or an item: the usual ["null", string] (or a bare string or
 * null) without a call; anything else through check(). */
static inline int check_kid(const canon_walk *w, uint32_t k, const uint8_t **pp, const uint8_t *end,
                            int depth)
{
    const wop *ko = &w->ops[k];
    int64_t v;
    if (depth >= CANON_WALK_MAX_DEPTH)
        return -1;
    if (ko->kind == REG_UNION) {
        if (canon_read_long_fast(pp, end, &v) || v < 0 || v >= (int64_t)ko->n)
            return -1;
        k = w->kids[ko->kids + (uint32_t)v];
        ko = &w->ops[k];
    }
    if (ko->kind == REG_NULL)
        return 0;
    if (ko->kind == REG_STRING || ko->kind == REG_BYTES) {
        if (canon_read_long_fast(pp, end, &v) || v < 0 || (uint64_t)v > (uint64_t)(end - *pp))
            return -1;
        *pp += v;
        return 0;
    }
    return check(w, k, pp, end, depth);
}

static int check_blocks(const canon_walk *w, const wop *o, const uint8_t **pp, const uint8_t *end,
                        int depth)
{
    int is_map = o->kind == REG_MAP;
    const wop *item = &w->ops[o->kids];
    uint64_t total = 0;
    for (;;) {
        int64_t count;
        if (canon_read_long_fast(pp, end, &count))
            return -1;
        if (count == 0)
            break;
        int64_t size = -1;
        if (count < 0) {
            if (count == INT64_MIN)
                return -1;
            count = -count;
            if (canon_read_long_fast(pp, end, &size) || size < 0 ||
                (uint64_t)size > (uint64_t)(end - *pp))
                return -1;
        }
        const uint8_t *block = *pp;
        uint64_t left = (uint64_t)(end - *pp);
        if ((!item->may_zero || is_map) && (uint64_t)count > left)
            return -1;
        total += (uint64_t)count;
        if (total > CANON_WALK_MAX_ITEMS && item->may_zero)
            return -1;
        for (int64_t i = 0; i < count; i++) {
            if (is_map) {
                const uint8_t *s;
                size_t n;
                if (canon_read_str(pp, end, &s, &n))
                    return -1;
            }
            if (check_kid(w, o->kids, pp, end, depth))
                return -1;
        }
        if (size >= 0 && *pp - block != size)
            return -1;
    }
    return 0;
}

static int check(const canon_walk *w, uint32_t op, const uint8_t **pp, const uint8_t *end,
                 int depth)
{
    const wop *o = &w->ops[op];
    int64_t v;
    if (depth >= CANON_WALK_MAX_DEPTH)
        return -1;
    switch ((reg_type)o->kind) {
    case REG_NULL:
        return 0;
    case REG_BOOLEAN:
        if (*pp >= end || **pp > 1)
            return -1;
        (*pp)++;
        return 0;
    case REG_INT:
        return canon_read_long_fast(pp, end, &v) || v < INT32_MIN || v > INT32_MAX ? -1 : 0;
    case REG_LONG:
        return canon_read_long_fast(pp, end, &v);
    case REG_FLOAT:
        if (end - *pp < 4)
            return -1;
        *pp += 4;
        return 0;
    case REG_DOUBLE:
        if (end - *pp < 8)
            return -1;
        *pp += 8;
        return 0;
    case REG_BYTES:
    case REG_STRING:
        if (canon_read_long_fast(pp, end, &v) || v < 0 || (uint64_t)v > (uint64_t)(end - *pp))
            return -1;
        *pp += v;
        return 0;
    case REG_FIXED:
        if ((uint64_t)(end - *pp) < o->n)
            return -1;
        *pp += o->n;
        return 0;
    case REG_ENUM:
        return canon_read_long_fast(pp, end, &v) || v < 0 || v >= (int64_t)o->n ? -1 : 0;
    case REG_UNION: {
        if (canon_read_long_fast(pp, end, &v) || v < 0 || v >= (int64_t)o->n)
            return -1;
        uint32_t b = w->kids[o->kids + (uint32_t)v];
        /* The usual optional field: ["null", string]. No call for either branch. */
        switch ((reg_type)w->ops[b].kind) {
        case REG_NULL:
            return 0;
        case REG_STRING:
        case REG_BYTES:
            if (canon_read_long_fast(pp, end, &v) || v < 0 || (uint64_t)v > (uint64_t)(end - *pp))
                return -1;
            *pp += v;
            return 0;
        default:
            return check(w, b, pp, end, depth);
        }
    }
    case REG_RECORD:
        for (uint32_t i = 0; i < o->n; i++) {
            if (check_kid(w, w->kids[o->kids + i], pp, end, depth + 1))
                return -1;
        }
        return 0;
    case REG_ARRAY:
    case REG_MAP:
        return check_blocks(w, o, pp, end, depth + 1);
    }
    return -1;
}

int canon_walk_check(const canon_walk *w, uint32_t op, const uint8_t **p, const uint8_t *end)
{
    return check(w, op, p, end, 0);
}

int canon_walk_record_check(const canon_walk *w, uint32_t op, const uint8_t **p, const uint8_t *end,
                            const uint8_t **starts, const uint8_t **ends)
{
    const wop *o = &w->ops[op];
    if (o->kind != REG_RECORD)
        return -1;
    const uint8_t *q = *p;
    for (uint32_t i = 0; i < o->n; i++) {
        starts[i] = q;
        if (check_kid(w, w->kids[o->kids + i], &q, end, 1))
            return -1;
        ends[i] = q;
    }
    *p = q;
    return 0;
}

/* ---- defaults --------------------------------------------------------------------------- */

static cg_err *mismatch(const reg_node *n)
{
    return cg_err_new(CG_EINVALID_SCHEMA, "default does not match type %s",
                      n->fullname ? n->fullname : reg_type_name(n->type));
}

/* Bytes and fixed defaults are JSON strings whose code points are the byte values. */
static cg_err *latin1(const json_t *v, canon_wbuf *tmp)
{
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    for (size_t i = 0; i < n; i++) {
        unsigned cp = s[i];
        if (cp >= 0x80) {
            if ((cp & 0xe0) != 0xc0 || i + 1 >= n)
                return cg_err_new(CG_EINVALID_SCHEMA, "bytes default has a code point above 255");
            cp = ((cp & 0x1f) << 6) | (s[i + 1] & 0x3f);
            i++;
        }
        canon_wbuf_byte(tmp, (uint8_t)cp);
    }
    return NULL;
}

cg_err *canon_encode_default(const reg_node *n, const json_t *v, canon_wbuf *b)
{
    cg_err *err = NULL;
    switch (n->type) {
    case REG_NULL:
        return json_is_null(v) ? NULL : mismatch(n);
    case REG_BOOLEAN:
        if (!json_is_boolean(v))
            return mismatch(n);
        canon_wbuf_byte(b, json_is_true(v) ? 1 : 0);
        break;
    case REG_INT:
    case REG_LONG:
        if (!json_is_integer(v))
            return mismatch(n);
        canon_wbuf_long(b, (int64_t)json_integer_value(v));
        break;
    case REG_FLOAT:
    case REG_DOUBLE: {
        double d;
        if (json_is_number(v))
            d = json_number_value(v);
        else if (json_is_string(v) && !strcmp(json_string_value(v), "NaN"))
            d = __builtin_nan("");
        else if (json_is_string(v) && !strcmp(json_string_value(v), "Infinity"))
            d = __builtin_inf();
        else if (json_is_string(v) && !strcmp(json_string_value(v), "-Infinity"))
            d = -__builtin_inf();
        else
            return mismatch(n);
        if (n->type == REG_FLOAT)
            canon_wbuf_float(b, (float)d);
        else
            canon_wbuf_double(b, d);
        break;
    }
    case REG_STRING:
        if (!json_is_string(v))
            return mismatch(n);
        canon_wbuf_str(b, json_string_value(v), json_string_length(v));
        break;
    case REG_BYTES:
    case REG_FIXED: {
        if (!json_is_string(v))
            return mismatch(n);
        canon_wbuf tmp = {0};
        err = latin1(v, &tmp);
        if (!err && n->type == REG_FIXED && tmp.len != n->size)
            err = mismatch(n);
        if (!err) {
            if (n->type == REG_BYTES)
                canon_wbuf_str(b, tmp.p, tmp.len);
            else
                canon_wbuf_put(b, tmp.p, tmp.len);
        }
        canon_wbuf_free(&tmp);
        break;
    }
    case REG_ENUM: {
        if (!json_is_string(v))
            return mismatch(n);
        size_t i;
        for (i = 0; i < n->n_symbols; i++) {
            if (!strcmp(n->symbols[i], json_string_value(v)))
                break;
        }
        if (i == n->n_symbols)
            return mismatch(n);
        canon_wbuf_long(b, (int64_t)i);
        break;
    }
    case REG_ARRAY: {
        if (!json_is_array(v))
            return mismatch(n);
        size_t i;
        json_t *item;
        if (json_array_size(v)) {
            canon_wbuf_long(b, (int64_t)json_array_size(v));
            json_array_foreach(v, i, item)
            {
                if ((err = canon_encode_default(n->items, item, b)))
                    return err;
            }
        }
        canon_wbuf_byte(b, 0);
        break;
    }
    case REG_MAP: {
        if (!json_is_object(v))
            return mismatch(n);
        const char *k;
        json_t *item;
        if (json_object_size(v)) {
            canon_wbuf_long(b, (int64_t)json_object_size(v));
            json_object_foreach((json_t *)v, k, item)
            {
                canon_wbuf_str(b, k, strlen(k));
                if ((err = canon_encode_default(n->items, item, b)))
                    return err;
            }
        }
        canon_wbuf_byte(b, 0);
        break;
    }
    case REG_UNION:
        if (n->n_branches == 0)
            return mismatch(n);
        canon_wbuf_byte(b, 0);
        return canon_encode_default(n->branches[0], v, b);
    case REG_RECORD:
        if (!json_is_object(v))
            return mismatch(n);
        for (size_t i = 0; i < n->n_fields; i++) {
            const reg_field *f = &n->fields[i];
            const json_t *fv = json_object_get(v, f->name);
            if (!fv)
                fv = f->default_json;
            if (!fv)
                return cg_err_new(CG_EINVALID_SCHEMA, "record default lacks field '%s'", f->name);
            if ((err = canon_encode_default(f->type, fv, b)))
                return err;
        }
        break;
    }
    if (b->oom)
        return cg_err_new(CG_ENOMEM, "out of memory encoding a default");
    return NULL;
}
