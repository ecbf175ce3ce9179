/* canon_rt.h - runtime of the C bindings that `canon gen --lang c` writes (prefix canon_).
 *
 * Generated code calls these helpers to write and read Avro binary and Avro JSON. The
 * file is the same for every binding made by the same canon version: a program that
 * links bindings of several schemas compiles one copy of canon_rt.c.
 *
 * Memory model (docs/bindings-c.md):
 * - Encoding appends to a canon_buf: growable (reused across calls, so steady-state
 *   encoding allocates nothing) or fixed (caller memory; encoding fails when it is full).
 * - Decoding and JSON parsing put every string, byte array, array, map and record behind
 *   a pointer into a canon_arena: one arena serves one decoded value (or many), and
 *   canon_arena_reset() frees them all at once. Decoded values never point into the
 *   input, so the input may be freed right after decoding.
 * - Values built by hand point wherever their builder likes; the binding never frees them.
 *
 * Thread-safety: no global state; a buffer, reader or arena belongs to one thread.
 */
#ifndef CANON_RT_H
#define CANON_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

/* ---- values --------------------------------------------------------------------- */

/* Avro null carries no data; the member exists so that every type has a C field. */
typedef char canon_null;

/* A string: len bytes of UTF-8 at data. Decoded strings are also NUL-terminated. */
typedef struct canon_str {
    const char *data;
    size_t len;
} canon_str;

/* Bytes (also decimal: two's-complement big-endian unscaled value). */
typedef struct canon_bytes {
    const uint8_t *data;
    size_t len;
} canon_bytes;

/* ["null", T] for a primitive T: has is false for null. (Optional enums, fixed, arrays
 * and maps get a generated struct of the same shape; an optional record is a pointer.) */
typedef struct canon_opt_bool {
    bool has;
    bool value;
} canon_opt_bool;
typedef struct canon_opt_int {
    bool has;
    int32_t value;
} canon_opt_int;
typedef struct canon_opt_long {
    bool has;
    int64_t value;
} canon_opt_long;
typedef struct canon_opt_float {
    bool has;
    float value;
} canon_opt_float;
typedef struct canon_opt_double {
    bool has;
    double value;
} canon_opt_double;
typedef struct canon_opt_bytes {
    bool has;
    canon_bytes value;
} canon_opt_bytes;
typedef struct canon_opt_str {
    bool has;
    canon_str value;
} canon_opt_str;

/* A canon_str for a NUL-terminated C string (NULL gives the empty string). */
static inline canon_str canon_str_c(const char *s)
{
    canon_str r;
    r.data = s ? s : "";
    r.len = s ? strlen(s) : 0;
    return r;
}

static inline canon_bytes canon_bytes_of(const void *data, size_t len)
{
    canon_bytes r;
    r.data = (const uint8_t *)data;
    r.len = len;
    return r;
}

/* ---- errors --------------------------------------------------------------------- */

enum canon_code {
    CANON_OK = 0,
    CANON_ENOMEM = 1,  /* allocation failed, or a fixed canon_buf is full */
    CANON_EDECODE = 2, /* Avro bytes that do not decode against the schema */
    CANON_EENCODE = 3, /* a value the schema cannot encode (bad enum value, union tag) */
    CANON_EJSON = 4,   /* JSON that does not match the schema */
    CANON_EFRAME = 5,  /* Confluent framing missing or wrong */
    CANON_EKAFKA = 6,  /* librdkafka reported an error */
};

/* Filled by a failing call: code, byte offset in the input (decode), and a message
 * naming the field and the reason ("Person.email: string length exceeds the input (byte
 * 37)"). Zero-initialise it; a call only writes into it when code is CANON_OK, so the
 * first (innermost) error wins. Every err argument may be NULL. */
typedef struct canon_error {
    int code;
    size_t offset;
    char msg[256];
} canon_error;

/* Records an error (if err is non-NULL and empty) and returns -1. */
int canon_error_set(canon_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- arena ---------------------------------------------------------------------- */

/* A bump allocator. Fields are private; they are here so that allocation inlines. */
typedef struct canon_arena {
    unsigned char *cur, *end;
    struct canon_arena_chunk *chunks; /* newest first */
    size_t used_before;               /* bytes handed out from older chunks */
} canon_arena;

/* first_chunk: initial capacity in bytes (0: 4 KiB). NULL when memory is short. */
canon_arena *canon_arena_new(size_t first_chunk);
/* Frees every allocation at once; keeps one chunk as large as all the memory used
 * since the last reset, so a loop that resets per message stops allocating. */
void canon_arena_reset(canon_arena *a);
void canon_arena_free(canon_arena *a); /* NULL is fine */
void *canon_arena_alloc_slow(canon_arena *a, size_t n);

/* n bytes aligned to 8, valid until reset/free; NULL when memory is short. */
static inline void *canon_arena_alloc(canon_arena *a, size_t n)
{
    if (n > ((size_t)-1) / 2)
        return NULL;
    n = (n + 7u) & ~(size_t)7u;
    if ((size_t)(a->end - a->cur) >= n) {
        void *p = a->cur;
        a->cur += n;
        return p;
    }
    return canon_arena_alloc_slow(a, n);
}

/* Copies len bytes into the arena and appends a NUL. */
char *canon_arena_strndup(canon_arena *a, const char *s, size_t len);

/* memcpy for the short strings records are full of: a libc call costs more than the
 * copy itself below 64 bytes, so copy those inline with fixed-size (inlined) moves that
 * may overlap. */
static inline void canon_copy16(unsigned char *d, const unsigned char *s)
{
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, s + 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + 8, &b, 8);
}

static inline void canon_copy(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (n > 64) {
        memcpy(d, s, n);
    } else if (n > 32) {
        canon_copy16(d, s);
        canon_copy16(d + 16, s + 16);
        canon_copy16(d + n - 32, s + n - 32);
        canon_copy16(d + n - 16, s + n - 16);
    } else if (n >= 16) {
        canon_copy16(d, s);
        canon_copy16(d + n - 16, s + n - 16);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    }
}

/* ---- encoding buffer ------------------------------------------------------------ */

/* Encoded bytes are data[0..len). A write that cannot grow the buffer marks it failed;
 * later writes are dropped, and the generated *_encode function reports the error and
 * restores len. */
typedef struct canon_buf {
    uint8_t *data;
    size_t len, cap;
    int fixed;             /* caller memory: never reallocated, never freed */
    int failed;            /* an error happened since the encode began */
    int fail_code;         /* CANON_ENOMEM or CANON_EENCODE */
    const char *fail_path; /* static strings naming the field and the reason */
    const char *fail_reason;
} canon_buf;

void canon_buf_init(canon_buf *b);                              /* empty, growable */
void canon_buf_init_fixed(canon_buf *b, void *mem, size_t cap); /* caller memory */
void canon_buf_free(canon_buf *b); /* frees growable memory; b may be reused after init */
static inline void canon_buf_clear(canon_buf *b)
{
    b->len = 0;
    b->failed = 0;
}

int canon_buf_grow(canon_buf *b, size_t need); /* 0, or -1 (and b marked failed) */
/* Marks the encode as failed (first reason wins). path/reason must be static strings. */
void canon_buf_fail(canon_buf *b, int code, const char *path, const char *reason);
/* Ends an encode that began at start: 0, or -1 after restoring len and filling err. */
int canon_buf_finish(canon_buf *b, size_t start, canon_error *err);

/* Room for n more bytes, or NULL once the buffer cannot grow. */
static inline uint8_t *canon_buf_reserve(canon_buf *b, size_t n)
{
    if (b->cap - b->len < n && canon_buf_grow(b, n) != 0)
        return NULL;
    return b->data + b->len;
}

/* ---- Avro binary: writing ------------------------------------------------------- */

static inline void canon_write_long(canon_buf *b, int64_t v)
{
    uint8_t *p = canon_buf_reserve(b, 10);
    if (!p)
        return;
    /* zig-zag: sign to the low bit, so small magnitudes give short varints */
    uint64_t z = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    b->len = (size_t)(p - b->data);
}

/* An int's zig-zag varint equals the long's for the same value. */
static inline void canon_write_int(canon_buf *b, int32_t v)
{
    canon_write_long(b, v);
}

static inline void canon_write_bool(canon_buf *b, bool v)
{
    uint8_t *p = canon_buf_reserve(b, 1);
    if (!p)
        return;
    *p = v ? 1 : 0;
    b->len++;
}

static inline void canon_write_raw(canon_buf *b, const void *data, size_t n)
{
    uint8_t *p = canon_buf_reserve(b, n);
    if (!p)
        return;
    if (n)
        memcpy(p, data, n);
    b->len += n;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CANON_BIG_ENDIAN 1
#endif

static inline void canon_write_float(canon_buf *b, float v)
{
    uint32_t u = 0;
    memcpy(&u, &v, 4);
#ifdef CANON_BIG_ENDIAN
    u = __builtin_bswap32(u);
#endif
    canon_write_raw(b, &u, 4);
}

static inline void canon_write_double(canon_buf *b, double v)
{
    uint64_t u = 0;
    memcpy(&u, &v, 8);
#ifdef CANON_BIG_ENDIAN
    u = __builtin_bswap64(u);
#endif
    canon_write_raw(b, &u, 8);
}

static inline void canon_write_str(canon_buf *b, canon_str s)
{
    uint8_t *p = canon_buf_reserve(b, 10 + s.len);
    if (!p)
        return;
    canon_write_long(b, (int64_t)s.len);
    canon_copy(b->data + b->len, s.data, s.len);
    b->len += s.len;
}

static inline void canon_write_bytes(canon_buf *b, canon_bytes s)
{
    canon_str t;
    t.data = (const char *)s.data;
    t.len = s.len;
    canon_write_str(b, t);
}

/* Confluent framing: magic byte 0, then the schema id, 4 bytes big-endian. */
static inline void canon_write_frame(canon_buf *b, int32_t schema_id)
{
    uint8_t h[5];
    uint32_t id = (uint32_t)schema_id;
    h[0] = 0;
    h[1] = (uint8_t)(id >> 24);
    h[2] = (uint8_t)(id >> 16);
    h[3] = (uint8_t)(id >> 8);
    h[4] = (uint8_t)id;
    canon_write_raw(b, h, 5);
}

/* ---- Avro binary: reading ------------------------------------------------------- */

/* Nesting limit of recursive records, so that hostile input cannot exhaust the stack. */
#define CANON_MAX_DEPTH 512
/* Items of a type that encodes to zero bytes (null, empty record) have no input to
 * bound their count; a block of them may hold at most this many. */
#define CANON_MAX_EMPTY_ITEMS 65536

/* A cursor over untrusted bytes. Every read checks the bounds first; on failure it
 * records a static reason, and the generated code adds the field path. */
typedef struct canon_reader {
    const uint8_t *p, *end, *start;
    canon_arena *arena;
    const char *reason; /* first failure */
    const char *path;   /* innermost field that failed */
    size_t fail_at;     /* offset of the failure */
    int depth;
} canon_reader;

static inline void canon_reader_init(canon_reader *r, const void *data, size_t len, canon_arena *a)
{
    r->start = r->p = (const uint8_t *)data;
    r->end = r->p + len;
    r->arena = a;
    r->reason = NULL;
    r->path = NULL;
    r->fail_at = 0;
    r->depth = 0;
}

/* Records reason (first wins) and returns -1. */
int canon_read_error(canon_reader *r, const char *reason);
/* Records path (innermost wins: inner failures call it first) and returns -1. */
static inline int canon_read_fail(canon_reader *r, const char *path)
{
    if (!r->path)
        r->path = path;
    return -1;
}
/* Ends a decode: 0 when all input was consumed; else -1 with err filled. */
int canon_read_finish(canon_reader *r, int rc, canon_error *err);

int canon_read_long_slow(canon_reader *r, int64_t *out);

static inline int canon_read_long(canon_reader *r, int64_t *out)
{
    if (r->p < r->end && *r->p < 0x80) { /* one byte: the common case */
        uint64_t z = *r->p++;
        *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
        return 0;
    }
    if (r->end - r->p >= 10) { /* room for the longest varint: no bounds check per byte */
        const uint8_t *p = r->p;
        uint64_t z = *p++ & 0x7f;
        for (int shift = 7; shift < 64; shift += 7) {
            uint8_t c = *p++;
            z |= (uint64_t)(c & 0x7f) << shift;
            if (!(c & 0x80)) {
                if (shift == 63 && c > 1)
                    break; /* overflow: let the slow path report it */
                r->p = p;
                *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
                return 0;
            }
        }
    }
    return canon_read_long_slow(r, out);
}

static inline int canon_read_int(canon_reader *r, int32_t *out)
{
    int64_t v = 0;
    if (canon_read_long(r, &v) != 0)
        return -1;
    if (v < INT32_MIN || v > INT32_MAX)
        return canon_read_error(r, "int out of 32-bit range");
    *out = (int32_t)v;
    return 0;
}

static inline int canon_read_bool(canon_reader *r, bool *out)
{
    if (r->p >= r->end)
        return canon_read_error(r, "input ends inside a boolean");
    if (*r->p > 1)
        return canon_read_error(r, "boolean byte is neither 0 nor 1");
    *out = *r->p++ == 1;
    return 0;
}

static inline int canon_read_raw(canon_reader *r, void *out, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return canon_read_error(r, "input ends inside a fixed-size value");
    if (n)
        memcpy(out, r->p, n);
    r->p += n;
    return 0;
}

static inline int canon_read_float(canon_reader *r, float *out)
{
    uint32_t u = 0;
    if (canon_read_raw(r, &u, 4) != 0)
        return -1;
#ifdef CANON_BIG_ENDIAN
    u = __builtin_bswap32(u);
#endif
    memcpy(out, &u, 4);
    return 0;
}

static inline int canon_read_double(canon_reader *r, double *out)
{
    uint64_t u = 0;
    if (canon_read_raw(r, &u, 8) != 0)
        return -1;
#ifdef CANON_BIG_ENDIAN
    u = __builtin_bswap64(u);
#endif
    memcpy(out, &u, 8);
    return 0;
}

/* A string or bytes: copied into the arena, NUL-terminated. */
static inline int canon_read_str(canon_reader *r, canon_str *out)
{
    int64_t n = 0;
    if (canon_read_long(r, &n) != 0)
        return -1;
    if (n < 0)
        return canon_read_error(r, "negative length");
    if ((uint64_t)n > (uint64_t)(r->end - r->p))
        return canon_read_error(r, "length exceeds the input");
    char *s = (char *)canon_arena_alloc(r->arena, (size_t)n + 1);
    if (!s)
        return canon_read_error(r, "out of memory");
    canon_copy(s, r->p, (size_t)n);
    s[n] = 0;
    r->p += n;
    out->data = s;
    out->len = (size_t)n;
    return 0;
}

static inline int canon_read_bytes(canon_reader *r, canon_bytes *out)
{
    canon_str s = {NULL, 0};
    if (canon_read_str(r, &s) != 0)
        return -1;
    out->data = (const uint8_t *)s.data;
    out->len = s.len;
    return 0;
}

/* An index (union branch, enum symbol) below n. */
static inline int canon_read_index(canon_reader *r, size_t n, size_t *out, const char *what)
{
    int64_t v = 0;
    *out = 0; /* defined even on failure, which also keeps compilers' flow analysis quiet */
    if (canon_read_long(r, &v) != 0)
        return -1;
    if (v < 0 || (uint64_t)v >= n)
        return canon_read_error(r, what);
    *out = (size_t)v;
    return 0;
}

/* The item count of the next array or map block (0: end of the array or map).
 * min_item_size is the fewest bytes one item encodes to, used to bound the count. */
int canon_read_block(canon_reader *r, size_t min_item_size, size_t *count);

/* Grows an array being decoded from n to n + more items of size sz, in the arena. */
void *canon_read_grow(canon_reader *r, void *items, size_t n, size_t more, size_t sz);

/* Optional primitives: null_index is the position of "null" in the union (0 or 1). */
#define CANON_OPT_BINARY(name)                                                                     \
    static inline void canon_write_opt_##name(canon_buf *b, const canon_opt_##name *v,             \
                                              int null_index)                                      \
    {                                                                                              \
        canon_write_long(b, v->has ? 1 - null_index : null_index);                                 \
        if (v->has)                                                                                \
            canon_write_##name(b, v->value);                                                       \
    }                                                                                              \
    static inline int canon_read_opt_##name(canon_reader *r, canon_opt_##name *v, int null_index)  \
    {                                                                                              \
        size_t i;                                                                                  \
        if (canon_read_index(r, 2, &i, "union branch index out of range") != 0)                    \
            return -1;                                                                             \
        v->has = (int)i != null_index;                                                             \
        if (!v->has) {                                                                             \
            memset(&v->value, 0, sizeof v->value);                                                 \
            return 0;                                                                              \
        }                                                                                          \
        return canon_read_##name(r, &v->value);                                                    \
    }
CANON_OPT_BINARY(bool)
CANON_OPT_BINARY(int)
CANON_OPT_BINARY(long)
CANON_OPT_BINARY(float)
CANON_OPT_BINARY(double)
CANON_OPT_BINARY(bytes)
CANON_OPT_BINARY(str)

/* Reads and checks the Confluent frame header. */
int canon_read_frame(canon_reader *r, int32_t *schema_id);

/* ---- Avro JSON ------------------------------------------------------------------ */

/* Conversions to JSON return a new reference, or NULL (out of memory; a string that is
 * not UTF-8). Non-finite floats become "NaN", "Infinity", "-Infinity"; a float is
 * printed with the fewest digits that read back to the same float. */
json_t *canon_json_long(int64_t v);
json_t *canon_json_float(float v);
json_t *canon_json_double(double v);
json_t *canon_json_str(canon_str s);
json_t *canon_json_bytes(const uint8_t *data, size_t len); /* code points 0-255 */
/* Adds member (stealing x). NULL x: records "cannot convert" for path. 0 or -1. */
int canon_json_add(json_t *obj, const char *key, json_t *x, canon_error *err, const char *path);
/* Adds a map entry: key may hold any UTF-8, NUL included. */
int canon_json_add_key(json_t *obj, canon_str key, json_t *x, canon_error *err, const char *path);
int canon_json_append(json_t *arr, json_t *x, canon_error *err, const char *path);
/* Union as Avro JSON: {"<branch>": value}. Steals x; NULL on failure. */
json_t *canon_json_branch(const char *branch, json_t *x);

/* Conversions from JSON: 0, or -1 when j has the wrong JSON type or range. Strings
 * and bytes are copied into the arena. Integral reals are accepted for int and long;
 * integers, and the strings above, for float and double. */
int canon_json_get_bool(const json_t *j, bool *out);
int canon_json_get_int(const json_t *j, int32_t *out);
int canon_json_get_long(const json_t *j, int64_t *out);
int canon_json_get_float(const json_t *j, float *out);
int canon_json_get_double(const json_t *j, double *out);
int canon_json_get_str(const json_t *j, canon_str *out, canon_arena *a);
int canon_json_get_bytes(const json_t *j, canon_bytes *out, canon_arena *a);
int canon_json_get_fixed(const json_t *j, uint8_t *out, size_t n);
/* The index of the symbol j names, or -1. */
int canon_json_get_enum(const json_t *j, const char *const *symbols, size_t n);
/* Member key of j, or the field's default (default_json: JSON text, NULL if none)
 * parsed into *tmp (caller decrefs). NULL when neither exists. */
const json_t *canon_json_member(const json_t *j, const char *key, const char *default_json,
                                json_t **tmp);
/* Optional primitives in Avro JSON: null, or {"<type>": value}; from JSON also a plain
 * value. */
json_t *canon_json_opt_bool(const canon_opt_bool *v);
json_t *canon_json_opt_int(const canon_opt_int *v);
json_t *canon_json_opt_long(const canon_opt_long *v);
json_t *canon_json_opt_float(const canon_opt_float *v);
json_t *canon_json_opt_double(const canon_opt_double *v);
json_t *canon_json_opt_bytes(const canon_opt_bytes *v);
json_t *canon_json_opt_str(const canon_opt_str *v);
int canon_json_get_opt_bool(const json_t *j, canon_opt_bool *v, canon_arena *a);
int canon_json_get_opt_int(const json_t *j, canon_opt_int *v, canon_arena *a);
int canon_json_get_opt_long(const json_t *j, canon_opt_long *v, canon_arena *a);
int canon_json_get_opt_float(const json_t *j, canon_opt_float *v, canon_arena *a);
int canon_json_get_opt_double(const json_t *j, canon_opt_double *v, canon_arena *a);
int canon_json_get_opt_bytes(const json_t *j, canon_opt_bytes *v, canon_arena *a);
int canon_json_get_opt_str(const json_t *j, canon_opt_str *v, canon_arena *a);
/* If j is a one-member object, its key and value (the Avro JSON union form). */
int canon_json_union_form(const json_t *j, const char **branch, const json_t **value);
/* Records a JSON conversion error naming path: "<path>: <reason>". Returns -1. */
int canon_json_fail(canon_error *err, const char *path, const char *reason);

#endif
