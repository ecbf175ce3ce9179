/* nested_check.c - arrays of arrays of null, decoded by a generated C binding and
 * converted by its resolver.
 *
 * Built by tests/unit/test_gen_c.c against the binding of nested.avsc. An item that
 * encodes to no bytes has no input to bound its count, so each array of them is limited
 * to CANON_MAX_EMPTY_ITEMS; but an array of such arrays takes four bytes per inner array
 * (its count and its end), so the limit per array alone let 70 bytes of input ask for
 * more than a million items, and a message of a megabyte for about 17 billion. Checks
 * that
 * - CANON_MAX_EMPTY_TOTAL items over 16 inner arrays at their limit decode (and convert),
 *   and the arena holds a bounded multiple of them;
 * - one inner array more is refused by the decoder and by the resolver, naming the field
 *   and the limit, before its items are allocated.
 * Exits non-zero naming the first failed check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon_resolve.h"
#include "check.h"
#include "nested.h"

/* inner arrays of CANON_MAX_EMPTY_ITEMS nulls each, in one block each */
static void write_nested(canon_buf *b, size_t inner)
{
    canon_write_long(b, (int64_t)inner);
    for (size_t i = 0; i < inner; i++) {
        canon_write_long(b, CANON_MAX_EMPTY_ITEMS);
        canon_write_long(b, 0);
    }
    canon_write_long(b, 0);
}

static int has(const canon_error *e, const char *what)
{
    return strstr(e->msg, what) != NULL;
}

int main(void)
{
    canon_error err = {0};
    canon_arena *a = canon_arena_new(0);
    nested_t v;
    canon_buf in;
    canon_buf_init(&in);
    const size_t full = CANON_MAX_EMPTY_TOTAL / CANON_MAX_EMPTY_ITEMS;
    CHECK(full == 16);

    /* The writer's version: one more field, k (an int), so that the resolver converts. */
    const char *writer = "{\"type\": \"record\", \"name\": \"Nested\", \"fields\": ["
                         "{\"name\": \"nn\", \"type\": {\"type\": \"array\", \"items\": "
                         "{\"type\": \"array\", \"items\": \"null\"}}},"
                         "{\"name\": \"k\", \"type\": \"int\"}]}";
    canon_resolver *res = canon_resolver_new(nested_schema, NULL, NULL, &err);
    CHECK(res != NULL);
    CHECK(canon_resolver_add(res, 1, writer, &err) == 0);
    const void *out;
    size_t out_len;

    /* 16 inner arrays at their limit: 1,048,576 items, all allowed */
    write_nested(&in, full);
    CHECK(nested_decode(&v, in.data, in.len, a, &err) == 0);
    CHECK(v.nn.len == full);
    for (size_t i = 0; i < full; i++)
        CHECK(v.nn.items[i].len == CANON_MAX_EMPTY_ITEMS);
    CHECK(canon_arena_used(a) <=
          4 * CANON_MAX_EMPTY_TOTAL * sizeof v.nn.items[0].items[0] + (1u << 20));
    canon_write_long(&in, 7); /* k */
    CHECK(canon_resolver_convert(res, 1, in.data, in.len, &out, &out_len, &err) == 0);
    canon_arena_reset(a);
    CHECK(nested_decode(&v, out, out_len, a, &err) == 0);
    CHECK(v.nn.len == full && v.nn.items[full - 1].len == CANON_MAX_EMPTY_ITEMS);

    /* one more inner array, and a thousand more: refused, naming the field and the limit,
     * with no more than the allowed items allocated */
    static const size_t hostile[] = {17, 1000};
    for (size_t h = 0; h < sizeof hostile / sizeof hostile[0]; h++) {
        canon_buf_clear(&in);
        write_nested(&in, hostile[h]);
        canon_arena_reset(a);
        memset(&err, 0, sizeof err);
        CHECK(nested_decode(&v, in.data, in.len, a, &err) != 0);
        CHECK(err.code == CANON_EDECODE && has(&err, "Nested.nn") && has(&err, "1048576"));
        CHECK(canon_arena_used(a) <=
              4 * CANON_MAX_EMPTY_TOTAL * sizeof v.nn.items[0].items[0] + (1u << 20));
        canon_write_long(&in, 7); /* k */
        memset(&err, 0, sizeof err);
        CHECK(canon_resolver_convert(res, 1, in.data, in.len, &out, &out_len, &err) != 0);
        CHECK(err.code == CANON_EDECODE && has(&err, "nn") && has(&err, "1048576"));
    }

    canon_resolver_free(res);
    canon_arena_free(a);
    canon_buf_free(&in);
    printf("ok\n");
    return 0;
}
