/* blocks_check.c - arrays and maps written in many blocks, decoded by a generated C
 * binding and converted by its resolver.
 *
 * Built by tests/unit/test_gen_c.c against the binding of blocks.avsc (arrays of long,
 * null, an empty record and a record of nulls; a map of string); the input is written
 * with the binding's own canon_write_long. Avro lets a writer split an array into any
 * number of blocks, so the number of blocks is the attacker's: decoding must stay
 * linear in it. Checks that
 * - items split over thousands of blocks (some with a byte size) decode to the right
 *   values, and the arena holds a bounded multiple of the decoded array: growing the
 *   array by each block kept a copy per block in the arena (quadratic: 64 MB for the
 *   4,000 eight-byte items here);
 * - items that encode to no bytes are limited to CANON_MAX_EMPTY_ITEMS over all the
 *   blocks of one array, naming the field, in the decoder and the resolver alike (a
 *   limit per block let 3-byte headers add 65,536 items each without end);
 * - the resolver counts a record of nulls as such an item (it bounded their count by
 *   the bytes left, refusing valid input).
 * Exits non-zero naming the first failed check. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "check.h"
#include "canon_resolve.h"

/* The writer's version of Blocks: one more field, k (an int), so that the resolver
 * converts rather than passing the bytes through. malloc'd. */
static char *writer_schema(void)
{
    const char *end = strrchr(blocks_schema, ']');
    const char *k = ", {\"name\": \"k\", \"type\": \"int\"}";
    size_t head = (size_t)(end - blocks_schema);
    char *w = malloc(strlen(blocks_schema) + strlen(k) + 1);
    if (!w)
        abort();
    memcpy(w, blocks_schema, head);
    strcpy(w + head, k);
    strcat(w, end);
    return w;
}

/* count blocks of per items that encode to no bytes, then the end of the array */
static void empty_blocks(canon_buf *b, size_t count, int64_t per)
{
    for (size_t i = 0; i < count; i++)
        canon_write_long(b, per);
    canon_write_long(b, 0);
}

static int64_t xs_value(size_t i)
{
    return (int64_t)(i * 1000003u) - 7;
}

/* The arena may hold the decoded array a few times over (doubling), the strings, and the
 * text area the reader reserves (at most 16 KiB or the input). */
static int arena_bounded(const canon_arena *a, size_t array_bytes, size_t input)
{
    size_t used = canon_arena_used(a), bound = 4 * array_bytes + 2 * input + 32768;
    if (used <= bound)
        return 1;
    fprintf(stderr, "arena holds %zu bytes, more than %zu for an array of %zu bytes\n", used, bound,
            array_bytes);
    return 0;
}

static int has(const canon_error *e, const char *what)
{
    return strstr(e->msg, what) != NULL;
}

int main(void)
{
    canon_error err = {0};
    canon_arena *a = canon_arena_new(0);
    blocks_t v;
    canon_buf in;
    canon_buf_init(&in);
    char *writer = writer_schema();

    /* xs: 4,000 blocks of one item each */
    const size_t nx = 4000;
    for (size_t i = 0; i < nx; i++) {
        canon_write_long(&in, 1);
        canon_write_long(&in, xs_value(i));
    }
    canon_write_long(&in, 0);
    canon_write_raw(&in, "\0\0\0\0", 4); /* ns, es, rs, m: empty */
    for (int view = 0; view < 2; view++) {
        canon_arena_reset(a);
        CHECK((view ? blocks_decode_view : blocks_decode)(&v, in.data, in.len, a, &err) == 0);
        CHECK(v.xs.len == nx);
        for (size_t i = 0; i < nx; i++)
            CHECK(v.xs.items[i] == xs_value(i));
        CHECK(v.ns.len == 0 && v.es.len == 0 && v.rs.len == 0 && v.m.len == 0);
        CHECK(arena_bounded(a, nx * sizeof *v.xs.items, in.len));
    }

    /* xs: blocks of 1, 2, ... 90 items, every other one with its byte size */
    canon_buf_clear(&in);
    size_t total = 0;
    for (size_t n = 1; n <= 90; n++) {
        canon_buf blk;
        canon_buf_init(&blk);
        for (size_t i = 0; i < n; i++)
            canon_write_long(&blk, xs_value(total + i));
        if (n % 2) {
            canon_write_long(&in, (int64_t)n);
        } else {
            canon_write_long(&in, -(int64_t)n);
            canon_write_long(&in, (int64_t)blk.len);
        }
        canon_write_raw(&in, blk.data, blk.len);
        canon_buf_free(&blk);
        total += n;
    }
    canon_write_long(&in, 0);
    canon_write_raw(&in, "\0\0\0\0", 4);
    canon_arena_reset(a);
    CHECK(blocks_decode(&v, in.data, in.len, a, &err) == 0);
    CHECK(v.xs.len == total);
    for (size_t i = 0; i < total; i++)
        CHECK(v.xs.items[i] == xs_value(i));
    CHECK(arena_bounded(a, total * sizeof *v.xs.items, in.len));

    /* m: 3,000 blocks of one entry each */
    canon_buf_clear(&in);
    canon_write_raw(&in, "\0\0\0\0", 4); /* xs, ns, es, rs */
    const size_t nm = 3000;
    for (size_t i = 0; i < nm; i++) {
        char k[32], val[32];
        int kl = snprintf(k, sizeof k, "k%zu", i), vl = snprintf(val, sizeof val, "value %zu", i);
        canon_write_long(&in, 1);
        canon_write_long(&in, kl);
        canon_write_raw(&in, k, (size_t)kl);
        canon_write_long(&in, vl);
        canon_write_raw(&in, val, (size_t)vl);
    }
    canon_write_long(&in, 0);
    canon_arena_reset(a);
    CHECK(blocks_decode(&v, in.data, in.len, a, &err) == 0);
    CHECK(v.m.len == nm);
    for (size_t i = 0; i < nm; i++) {
        char k[32], val[32];
        snprintf(k, sizeof k, "k%zu", i);
        snprintf(val, sizeof val, "value %zu", i);
        CHECK(v.m.entries[i].key.len == strlen(k) &&
              !memcmp(v.m.entries[i].key.data, k, strlen(k)));
        CHECK(v.m.entries[i].value.len == strlen(val) &&
              !memcmp(v.m.entries[i].value.data, val, strlen(val)));
    }
    CHECK(arena_bounded(a, nm * sizeof *v.m.entries, in.len));

    /* Items of no bytes: CANON_MAX_EMPTY_ITEMS in all, over several blocks, decode... */
    canon_buf_clear(&in);
    canon_write_long(&in, 0); /* xs */
    canon_write_long(&in, CANON_MAX_EMPTY_ITEMS - 1);
    empty_blocks(&in, 1, 1);       /* ns: 65,535 + 1 */
    empty_blocks(&in, 16, 4096);   /* es: 16 x 4,096 */
    canon_write_long(&in, -40000); /* rs: 40,000 (with a byte size of 0) + 25,536 */
    canon_write_long(&in, 0);
    empty_blocks(&in, 1, CANON_MAX_EMPTY_ITEMS - 40000);
    canon_write_long(&in, 0); /* m */
    canon_arena_reset(a);
    CHECK(blocks_decode(&v, in.data, in.len, a, &err) == 0);
    CHECK(v.ns.len == CANON_MAX_EMPTY_ITEMS && v.es.len == CANON_MAX_EMPTY_ITEMS &&
          v.rs.len == CANON_MAX_EMPTY_ITEMS);

    /* ... and the resolver converts them, to what the decoder reads back */
    canon_resolver *res = canon_resolver_new(blocks_schema, NULL, NULL, &err);
    CHECK(res != NULL);
    CHECK(canon_resolver_add(res, 1, writer, &err) == 0);
    const void *out;
    size_t out_len;
    canon_write_long(&in, 7); /* k */
    CHECK(canon_resolver_convert(res, 1, in.data, in.len, &out, &out_len, &err) == 0);
    canon_arena_reset(a);
    CHECK(blocks_decode(&v, out, out_len, a, &err) == 0);
    CHECK(v.ns.len == CANON_MAX_EMPTY_ITEMS && v.es.len == CANON_MAX_EMPTY_ITEMS &&
          v.rs.len == CANON_MAX_EMPTY_ITEMS);

    /* A record of nulls is an item of no bytes to the resolver too: 5 of them where 2
     * bytes are left (m, k) are valid. */
    canon_buf_clear(&in);
    canon_write_raw(&in, "\0\0\0", 3); /* xs, ns, es */
    empty_blocks(&in, 1, 5);
    canon_write_raw(&in, "\0\2", 2); /* m, k */
    CHECK(canon_resolver_convert(res, 1, in.data, in.len, &out, &out_len, &err) == 0);
    canon_arena_reset(a);
    CHECK(blocks_decode(&v, out, out_len, a, &err) == 0);
    CHECK(v.rs.len == 5);

    /* One item more, in a later block, or 200 blocks of 65,536: an error naming the
     * field, from the decoder and the resolver (whose message names the writer's field) */
    static const char *const fields[] = {"ns", "es", "rs"};
    for (int f = 0; f < 3; f++) {
        for (int hostile = 0; hostile < 2; hostile++) {
            canon_buf_clear(&in);
            canon_write_long(&in, 0); /* xs */
            for (int g = 0; g < 3; g++) {
                if (g != f)
                    canon_write_long(&in, 0);
                else if (hostile)
                    empty_blocks(&in, 200, CANON_MAX_EMPTY_ITEMS);
                else
                    empty_blocks(&in, 2, CANON_MAX_EMPTY_ITEMS / 2 + 1);
            }
            canon_write_long(&in, 0); /* m */
            char want[16];
            snprintf(want, sizeof want, "Blocks.%s", fields[f]);
            canon_arena_reset(a);
            memset(&err, 0, sizeof err);
            CHECK(blocks_decode(&v, in.data, in.len, a, &err) != 0);
            CHECK(err.code == CANON_EDECODE && has(&err, want) && has(&err, "65536"));
            CHECK(arena_bounded(a, CANON_MAX_EMPTY_ITEMS * sizeof(blocks_nulls_t), in.len));
            canon_write_long(&in, 7); /* k */
            memset(&err, 0, sizeof err);
            CHECK(canon_resolver_convert(res, 1, in.data, in.len, &out, &out_len, &err) != 0);
            CHECK(err.code == CANON_EDECODE && has(&err, fields[f]) && has(&err, "65536"));
        }
    }

    canon_resolver_free(res);
    canon_arena_free(a);
    canon_buf_free(&in);
    free(writer);
    printf("ok\n");
    return 0;
}
