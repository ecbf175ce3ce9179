/* walk.h - schema-driven Avro binary reading and writing for the aggregator.
 *
 * The aggregator handles bytes from domains it does not control, at hundreds of thousands
 * of messages a second. Avro C's generic values allocate per datum and crash on some bad
 * input, so the hot path uses this instead: a schema (a reg_node graph) is compiled once
 * into a compact program (an array of small ops, named types shared, recursion allowed),
 * and that program validates untrusted bytes with bounds checks on every read, finds the
 * byte span of each value and skips values, without allocating anything per datum. A
 * failed check never crashes: it returns -1 and a message naming the field path and what
 * is wrong ("values.email: union branch 7 out of range (2 branches)").
 *
 * Also here: a growable byte buffer and the Avro primitive encoders used to assemble
 * envelopes, and an encoder of JSON defaults (field defaults) into Avro binary.
 *
 * Ownership and threads: a canon_walk owns copies of every name it needs, so the reg_schema
 * it was compiled from may be freed after canon_walk_compile(). A compiled program is
 * immutable and may be used by several threads at once. A canon_wbuf belongs to its user.
 */
#ifndef CANON_WALK_H
#define CANON_WALK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "registry/schema.h"

/* ---- byte buffer -------------------------------------------------------------------- */

/* A growable byte buffer (the aggregator's own; "wbuf" keeps it apart from the C binding
 * runtime's canon_buf, which the translators link into the same binary). Allocation failure sets
 * oom and turns later writes into no-ops, so a writer checks once at the end (canon_wbuf_ok()).
 * Zero-initialised is a valid empty buffer. */
typedef struct canon_wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} canon_wbuf;

void canon_wbuf_free(canon_wbuf *b);                 /* frees the memory; b stays usable (empty) */
int canon_wbuf_reserve(canon_wbuf *b, size_t extra); /* 0, or -1 (oom set) */
static inline int canon_wbuf_ok(const canon_wbuf *b)
{
    return !b->oom;
}
void canon_wbuf_put_slow(canon_wbuf *b, const void *data, size_t n);
void canon_wbuf_long_slow(canon_wbuf *b, int64_t v);

/* The writers below are inline: assembling an envelope calls them dozens of times. */

/* Copies n bytes; the short copies an envelope is made of (names, small values) as a
 * few fixed-size moves instead of a call to memcpy. */
static inline void canon_copy(uint8_t *d, const uint8_t *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        __builtin_memcpy(d, s, 8);
        __builtin_memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        __builtin_memcpy(d, s, 4);
        __builtin_memcpy(d + n - 4, s + n - 4, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        __builtin_memcpy(d, s, n);
    }
}

static inline void canon_wbuf_put(canon_wbuf *b, const void *data, size_t n)
{
    if (b->cap - b->len >= n && n) {
        canon_copy(b->p + b->len, (const uint8_t *)data, n);
        b->len += n;
    } else {
        canon_wbuf_put_slow(b, data, n);
    }
}
static inline void canon_wbuf_byte(canon_wbuf *b, uint8_t c)
{
    if (b->cap > b->len)
        b->p[b->len++] = c;
    else
        canon_wbuf_put_slow(b, &c, 1);
}
/* zigzag varint (int or long) */
static inline void canon_wbuf_long(canon_wbuf *b, int64_t v)
{
    if (b->cap - b->len < 10) {
        canon_wbuf_long_slow(b, v);
        return;
    }
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        b->p[b->len++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    b->p[b->len++] = (uint8_t)z;
}
/* length + bytes (string, bytes) */
static inline void canon_wbuf_str(canon_wbuf *b, const void *s, size_t n)
{
    canon_wbuf_long(b, (int64_t)n);
    canon_wbuf_put(b, s, n);
}
void canon_wbuf_float(canon_wbuf *b, float v);   /* 4 bytes little-endian */
void canon_wbuf_double(canon_wbuf *b, double v); /* 8 bytes little-endian */

/* ---- primitive readers (bounds-checked) --------------------------------------------- */

/* Each reads one value at *p (never past end), advances *p and returns 0; or returns -1
 * and leaves *p unspecified when the bytes are truncated or malformed. */
int canon_read_long(const uint8_t **p, const uint8_t *end, int64_t *out);
/* Same as canon_read_long(), inline for the common one-byte case (union indexes, short
 * lengths): decoding an update reads dozens of these. */
static inline int canon_read_long_fast(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    const uint8_t *q = *p;
    if (q < end && *q < 0x80) {
        uint64_t z = *q;
        *p = q + 1;
        *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
        return 0;
    }
    return canon_read_long(p, end, out);
}
int canon_read_int(const uint8_t **p, const uint8_t *end, int32_t *out);
/* A string or bytes value: *s points into the input, *n is its length. */
int canon_read_str(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *n);
/* Same as canon_read_str(), inline. */
static inline int canon_read_str_fast(const uint8_t **p, const uint8_t *end, const uint8_t **s,
                                      size_t *n)
{
    int64_t len;
    if (canon_read_long_fast(p, end, &len) || len < 0 || (uint64_t)len > (uint64_t)(end - *p))
        return -1;
    *s = *p;
    *n = (size_t)len;
    *p += len;
    return 0;
}
int canon_read_float(const uint8_t **p, const uint8_t *end, float *out);
int canon_read_double(const uint8_t **p, const uint8_t *end, double *out);

/* ---- compiled programs --------------------------------------------------------------- */

/* Maximum nesting depth of a value (records in records, arrays, ...); deeper data is
 * refused rather than risking the stack. */
#define CANON_WALK_MAX_DEPTH 64

typedef struct canon_walk canon_walk;

/* Compiles the type graph rooted at root. On success *out is a new program the caller
 * frees with canon_walk_free(); its root op is canon_walk_root(). CG_ENOMEM when memory
 * is short. */
cg_err *canon_walk_compile(const reg_node *root, canon_walk **out);
void canon_walk_free(canon_walk *w); /* NULL is fine */

/* Op handles: small integers naming one compiled type inside a program. */
uint32_t canon_walk_root(const canon_walk *w);
/* The op compiled for node n (which must be part of the compiled graph), or UINT32_MAX.
 * Only meaningful while the reg_schema that n belongs to is alive (it compares
 * pointers); used when building programs that refer to parts of a schema. */
uint32_t canon_walk_op(const canon_walk *w, const reg_node *n);
reg_type canon_walk_kind(const canon_walk *w, uint32_t op);
/* Record: number of fields, field i's op and name. Union: number of branches, branch i's
 * op. Enum: number of symbols. Fixed: size. Array/map: canon_walk_child(w, op, 0) is
 * the items/values op. */
uint32_t canon_walk_count(const canon_walk *w, uint32_t op);
uint32_t canon_walk_child(const canon_walk *w, uint32_t op, uint32_t i);
const char *canon_walk_field_name(const canon_walk *w, uint32_t op, uint32_t i);

/* Validates one value of type op starting at *p and advances *p past it. Returns 0, or
 * -1 with a NUL-terminated message in err (at most errsz bytes, truncated if longer)
 * that starts with the path of the value in error, relative to prefix (may be NULL or
 * ""): "values.address.city: string length 900 exceeds the 12 bytes left". */
int canon_walk_skip(const canon_walk *w, uint32_t op, const uint8_t **p, const uint8_t *end,
                    const char *prefix, char *err, size_t errsz);

/* For a record op: validates the record at *p, stores the span of field i in
 * starts[i]/ends[i] (pointers into the input; starts and ends hold canon_walk_count()
 * entries), advances *p. Same errors as canon_walk_skip(). */
int canon_walk_record(const canon_walk *w, uint32_t op, const uint8_t **p, const uint8_t *end,
                      const uint8_t **starts, const uint8_t **ends, const char *prefix, char *err,
                      size_t errsz);

/* The two above without the message: they accept and refuse exactly the same bytes, but
 * keep no field path, so they are faster. On -1, call the function with the message on
 * the same input to learn why. */
int canon_walk_check(const canon_walk *w, uint32_t op, const uint8_t **p, const uint8_t *end);
int canon_walk_record_check(const canon_walk *w, uint32_t op, const uint8_t **p, const uint8_t *end,
                            const uint8_t **starts, const uint8_t **ends);

/* ---- defaults -------------------------------------------------------------------------- */

/* Appends the Avro binary encoding of JSON value v (a field default) of type n to b.
 * Follows the specification's rules for defaults: a union's default is of its first
 * branch; bytes and fixed are strings of code points 0-255; a record default may leave
 * out fields that have defaults of their own. CG_EINVALID_SCHEMA when v does not match
 * n; CG_ENOMEM when memory is short. */
cg_err *canon_encode_default(const reg_node *n, const json_t *v, canon_wbuf *b);

#endif
