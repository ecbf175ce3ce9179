/* canon_rt.c - runtime of the C bindings that `canon gen --lang c` writes.
 *
 * The slow paths that do not need inlining: arena chunks, buffer growth, varints longer
 * than one byte, array blocks, error messages and the Avro JSON conversions. See
 * canon_rt.h for the memory model. */
#include "canon_rt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int canon_error_set(canon_error *err, int code, const char *fmt, ...)
{
    if (!err || err->code != CANON_OK)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return -1;
}

/* ---- arena ---------------------------------------------------------------------- */

struct canon_arena_chunk {
    struct canon_arena_chunk *next;
    size_t size;
    /* followed by size bytes, 8-aligned (the header is two words) */
};

static unsigned char *chunk_mem(struct canon_arena_chunk *c)
{
    return (unsigned char *)(c + 1);
}

static int arena_add_chunk(canon_arena *a, size_t size)
{
    struct canon_arena_chunk *c = malloc(sizeof *c + size);
    if (!c)
        return -1;
    if (a->chunks)
        a->used_before += (size_t)(a->cur - chunk_mem(a->chunks));
    c->next = a->chunks;
    c->size = size;
    a->chunks = c;
    a->cur = chunk_mem(c);
    a->end = a->cur + size;
    return 0;
}

canon_arena *canon_arena_new(size_t first_chunk)
{
    canon_arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    if (arena_add_chunk(a, first_chunk ? (first_chunk + 7u) & ~(size_t)7u : 4096) != 0) {
        free(a);
        return NULL;
    }
    return a;
}

void *canon_arena_alloc_slow(canon_arena *a, size_t n)
{
    size_t size = a->chunks->size * 2;
    if (size < n)
        size = n;
    if (arena_add_chunk(a, size) != 0)
        return NULL;
    void *p = a->cur;
    a->cur += n;
    return p;
}

char *canon_arena_strndup(canon_arena *a, const char *s, size_t len)
{
    char *d = canon_arena_alloc(a, len + 1);
    if (!d)
        return NULL;
    if (len)
        memcpy(d, s, len);
    d[len] = 0;
    return d;
}

void canon_arena_reset(canon_arena *a)
{
    if (a->chunks->next) {
        /* Several chunks: replace them by one that holds everything they held. */
        size_t want = a->used_before + (size_t)(a->cur - chunk_mem(a->chunks));
        want = (want + 7u) & ~(size_t)7u;
        struct canon_arena_chunk *c = a->chunks;
        while (c) {
            struct canon_arena_chunk *next = c->next;
            free(c);
            c = next;
        }
        a->chunks = NULL;
        a->used_before = 0;
        if (arena_add_chunk(a, want) != 0 && arena_add_chunk(a, 4096) != 0) {
            /* Out of memory: keep a usable, empty arena (allocations will fail). */
            a->cur = a->end = NULL;
            return;
        }
    }
    a->used_before = 0;
    a->cur = chunk_mem(a->chunks);
    a->end = a->cur + a->chunks->size;
}

void canon_arena_free(canon_arena *a)
{
    if (!a)
        return;
    struct canon_arena_chunk *c = a->chunks;
    while (c) {
        struct canon_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

/* ---- buffer --------------------------------------------------------------------- */

void canon_buf_init(canon_buf *b)
{
    memset(b, 0, sizeof *b);
}

void canon_buf_init_fixed(canon_buf *b, void *mem, size_t cap)
{
    memset(b, 0, sizeof *b);
    b->data = mem;
    b->cap = cap;
    b->fixed = 1;
}

void canon_buf_free(canon_buf *b)
{
    if (!b->fixed)
        free(b->data);
    memset(b, 0, sizeof *b);
}

void canon_buf_fail(canon_buf *b, int code, const char *path, const char *reason)
{
    if (b->failed)
        return;
    b->failed = 1;
    b->fail_code = code;
    b->fail_path = path;
    b->fail_reason = reason;
}

int canon_buf_grow(canon_buf *b, size_t need)
{
    if (b->failed && b->fail_code == CANON_ENOMEM)
        return -1;
    if (b->fixed || need > ((size_t)-1) / 4 - b->len) {
        canon_buf_fail(b, CANON_ENOMEM, "", b->fixed ? "buffer full" : "out of memory");
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < need)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        canon_buf_fail(b, CANON_ENOMEM, "", "out of memory");
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int canon_buf_finish(canon_buf *b, size_t start, canon_error *err)
{
    if (!b->failed)
        return 0;
    b->len = start;
    b->failed = 0;
    if (b->fail_path && *b->fail_path)
        return canon_error_set(err, b->fail_code, "%s: %s", b->fail_path, b->fail_reason);
    return canon_error_set(err, b->fail_code, "%s", b->fail_reason);
}

/* ---- reading -------------------------------------------------------------------- */

int canon_read_error(canon_reader *r, const char *reason)
{
    if (!r->reason) {
        r->reason = reason;
        r->fail_at = (size_t)(r->p - r->start);
    }
    return -1;
}

int canon_read_finish(canon_reader *r, int rc, canon_error *err)
{
    if (rc == 0 && r->p != r->end) {
        return canon_error_set(err, CANON_EDECODE, "%zu trailing bytes after the value (byte %zu)",
                               (size_t)(r->end - r->p), (size_t)(r->p - r->start));
    }
    if (rc == 0)
        return 0;
    if (err && err->code == CANON_OK)
        err->offset = r->fail_at;
    return canon_error_set(err, CANON_EDECODE, "%s: %s (byte %zu)", r->path ? r->path : "value",
                           r->reason ? r->reason : "invalid input", r->fail_at);
}

int canon_read_long_slow(canon_reader *r, int64_t *out)
{
    uint64_t z = 0;
    *out = 0;
    for (int shift = 0;; shift += 7) {
        if (r->p >= r->end)
            return canon_read_error(r, "input ends inside a number");
        uint8_t c = *r->p++;
        if (shift == 63 && c > 1)
            return canon_read_error(r, "varint longer than 64 bits");
        z |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            break;
        if (shift == 63)
            return canon_read_error(r, "varint longer than 10 bytes");
    }
    *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}

int canon_read_block(canon_reader *r, size_t min_item_size, size_t *count)
{
    int64_t n;
    if (canon_read_long(r, &n) != 0)
        return -1;
    if (n < 0) {
        /* A negative count is followed by the block's size in bytes (for skipping). */
        int64_t bytes;
        if (n == INT64_MIN)
            return canon_read_error(r, "block count out of range");
        n = -n;
        if (canon_read_long(r, &bytes) != 0)
            return -1;
        if (bytes < 0 || (uint64_t)bytes > (uint64_t)(r->end - r->p))
            return canon_read_error(r, "block size exceeds the input");
    }
    size_t left = (size_t)(r->end - r->p);
    if (min_item_size ? (uint64_t)n > left / min_item_size : n > CANON_MAX_EMPTY_ITEMS)
        return canon_read_error(r, "block count exceeds the input");
    *count = (size_t)n;
    return 0;
}

void *canon_read_grow(canon_reader *r, void *items, size_t n, size_t more, size_t sz)
{
    if (more > ((size_t)-1) / 4 / (sz ? sz : 1) - n) {
        canon_read_error(r, "too many items");
        return NULL;
    }
    void *p = canon_arena_alloc(r->arena, (n + more) * sz);
    if (!p) {
        canon_read_error(r, "out of memory");
        return NULL;
    }
    if (n)
        memcpy(p, items, n * sz);
    return p;
}

int canon_read_frame(canon_reader *r, int32_t *schema_id)
{
    if (r->end - r->p < 5)
        return canon_read_error(r, "shorter than the 5-byte Confluent header");
    if (r->p[0] != 0)
        return canon_read_error(r, "magic byte is not 0 (not Confluent framing)");
    *schema_id = (int32_t)(((uint32_t)r->p[1] << 24) | ((uint32_t)r->p[2] << 16) |
                           ((uint32_t)r->p[3] << 8) | r->p[4]);
    r->p += 5;
    return 0;
}

/* ---- JSON: to ------------------------------------------------------------------- */

json_t *canon_json_long(int64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *nonfinite(double v)
{
    if (isnan(v))
        return json_string("NaN");
    return json_string(v > 0 ? "Infinity" : "-Infinity");
}

json_t *canon_json_float(float v)
{
    if (!isfinite(v))
        return nonfinite(v);
    /* The shortest decimal that reads back as this float, so 0.1f prints as 0.1. */
    char buf[40];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return json_real(strtod(buf, NULL));
}

json_t *canon_json_double(double v)
{
    if (!isfinite(v))
        return nonfinite(v);
    return json_real(v);
}

json_t *canon_json_str(canon_str s)
{
    return json_stringn(s.data ? s.data : "", s.len);
}

json_t *canon_json_bytes(const uint8_t *data, size_t len)
{
    /* Each byte is one code point: 0-127 one UTF-8 byte, 128-255 two. */
    char *buf = malloc(len * 2 + 1);
    if (!buf)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] < 0x80) {
            buf[k++] = (char)data[i];
        } else {
            buf[k++] = (char)(0xc0 | (data[i] >> 6));
            buf[k++] = (char)(0x80 | (data[i] & 0x3f));
        }
    }
    buf[k] = 0;
    json_t *j = json_stringn(buf, k);
    free(buf);
    return j;
}

int canon_json_add(json_t *obj, const char *key, json_t *x, canon_error *err, const char *path)
{
    if (!x)
        return canon_json_fail(err, path,
                               "cannot convert to JSON (invalid UTF-8 or out of memory)");
    if (json_object_set_new(obj, key, x) != 0)
        return canon_json_fail(err, path, "out of memory");
    return 0;
}

int canon_json_add_key(json_t *obj, canon_str key, json_t *x, canon_error *err, const char *path)
{
    if (!x)
        return canon_json_fail(err, path,
                               "cannot convert to JSON (invalid UTF-8 or out of memory)");
    if (json_object_setn_new(obj, key.data ? key.data : "", key.len, x) != 0)
        return canon_json_fail(err, path, "map key is not UTF-8 (or out of memory)");
    return 0;
}

int canon_json_append(json_t *arr, json_t *x, canon_error *err, const char *path)
{
    if (!x)
        return canon_json_fail(err, path,
                               "cannot convert to JSON (invalid UTF-8 or out of memory)");
    if (json_array_append_new(arr, x) != 0)
        return canon_json_fail(err, path, "out of memory");
    return 0;
}

json_t *canon_json_branch(const char *branch, json_t *x)
{
    if (!x)
        return NULL;
    json_t *o = json_object();
    if (!o || json_object_set_new(o, branch, x) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- JSON: from ----------------------------------------------------------------- */

int canon_json_fail(canon_error *err, const char *path, const char *reason)
{
    return canon_error_set(err, CANON_EJSON, "%s: %s", path, reason);
}

int canon_json_get_bool(const json_t *j, bool *out)
{
    if (!json_is_boolean(j))
        return -1;
    *out = json_is_true(j);
    return 0;
}

int canon_json_get_long(const json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = (int64_t)json_integer_value(j);
        return 0;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

int canon_json_get_int(const json_t *j, int32_t *out)
{
    int64_t v;
    if (canon_json_get_long(j, &v) != 0 || v < INT32_MIN || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

int canon_json_get_double(const json_t *j, double *out)
{
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        if (!strcmp(s, "NaN"))
            *out = NAN;
        else if (!strcmp(s, "Infinity"))
            *out = INFINITY;
        else if (!strcmp(s, "-Infinity"))
            *out = -INFINITY;
        else
            return -1;
        return 0;
    }
    return -1;
}

int canon_json_get_float(const json_t *j, float *out)
{
    double d;
    if (canon_json_get_double(j, &d) != 0)
        return -1;
    *out = (float)d;
    return 0;
}

int canon_json_get_str(const json_t *j, canon_str *out, canon_arena *a)
{
    if (!json_is_string(j))
        return -1;
    size_t n = json_string_length(j);
    char *s = canon_arena_strndup(a, json_string_value(j), n);
    if (!s)
        return -1;
    out->data = s;
    out->len = n;
    return 0;
}

/* Decodes UTF-8 code points 0-255 of j into out (capacity cap); returns the count, or
 * (size_t)-1 when a code point is above 255 or the count exceeds cap. */
static size_t json_latin1(const json_t *j, uint8_t *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)json_string_value(j);
    size_t n = json_string_length(j), k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cp = s[i];
        if (cp >= 0x80) {
            /* jansson validated the UTF-8; only 2-byte sequences C2/C3 stay below 256 */
            if ((cp != 0xc2 && cp != 0xc3) || i + 1 >= n)
                return (size_t)-1;
            cp = ((cp & 0x1f) << 6) | (s[++i] & 0x3f);
        }
        if (k == cap)
            return (size_t)-1;
        out[k++] = (uint8_t)cp;
    }
    return k;
}

int canon_json_get_bytes(const json_t *j, canon_bytes *out, canon_arena *a)
{
    if (!json_is_string(j))
        return -1;
    size_t cap = json_string_length(j);
    uint8_t *d = canon_arena_alloc(a, cap + 1);
    if (!d)
        return -1;
    size_t n = json_latin1(j, d, cap);
    if (n == (size_t)-1)
        return -1;
    out->data = d;
    out->len = n;
    return 0;
}

int canon_json_get_fixed(const json_t *j, uint8_t *out, size_t n)
{
    if (!json_is_string(j))
        return -1;
    uint8_t tmp[1];
    /* Decode into out, then require exactly n bytes (n may be 0: use a scratch byte). */
    size_t k = json_latin1(j, n ? out : tmp, n);
    return k == n ? 0 : -1;
}

int canon_json_get_enum(const json_t *j, const char *const *symbols, size_t n)
{
    if (!json_is_string(j))
        return -1;
    const char *s = json_string_value(j);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, symbols[i]))
            return (int)i;
    return -1;
}

const json_t *canon_json_member(const json_t *j, const char *key, const char *default_json,
                                json_t **tmp)
{
    const json_t *x = json_object_get(j, key);
    if (x || !default_json)
        return x;
    *tmp = json_loads(default_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    return *tmp;
}

int canon_json_union_form(const json_t *j, const char **branch, const json_t **value)
{
    if (!json_is_object(j) || json_object_size(j) != 1)
        return 0;
    void *it = json_object_iter((json_t *)j);
    *branch = json_object_iter_key(it);
    *value = json_object_iter_value(it);
    return 1;
}

/* ---- JSON: optional primitives -------------------------------------------------- */

#define CANON_OPT_JSON(name, branch, to_json, from_json)                                           \
    json_t *canon_json_opt_##name(const canon_opt_##name *v)                                       \
    {                                                                                              \
        return v->has ? canon_json_branch(branch, to_json) : json_null();                          \
    }                                                                                              \
    int canon_json_get_opt_##name(const json_t *j, canon_opt_##name *v, canon_arena *a)            \
    {                                                                                              \
        const char *tag;                                                                           \
        const json_t *x;                                                                           \
        (void)a;                                                                                   \
        if (json_is_null(j)) {                                                                     \
            memset(v, 0, sizeof *v);                                                               \
            return 0;                                                                              \
        }                                                                                          \
        if (!canon_json_union_form(j, &tag, &x) || strcmp(tag, branch) != 0)                       \
            x = j; /* a plain value: a field default, or python's avro */                          \
        v->has = true;                                                                             \
        return from_json;                                                                          \
    }

CANON_OPT_JSON(bool, "boolean", json_boolean(v->value), canon_json_get_bool(x, &v->value))
CANON_OPT_JSON(int, "int", canon_json_long(v->value), canon_json_get_int(x, &v->value))
CANON_OPT_JSON(long, "long", canon_json_long(v->value), canon_json_get_long(x, &v->value))
CANON_OPT_JSON(float, "float", canon_json_float(v->value), canon_json_get_float(x, &v->value))
CANON_OPT_JSON(double, "double", canon_json_double(v->value), canon_json_get_double(x, &v->value))
CANON_OPT_JSON(bytes, "bytes", canon_json_bytes(v->value.data, v->value.len),
               canon_json_get_bytes(x, &v->value, a))
CANON_OPT_JSON(str, "string", canon_json_str(v->value), canon_json_get_str(x, &v->value, a))
