/* test_canon_walk.c - the compiled Avro walker (canon/walk.c).
 *
 * Data is written with Avro C's generic writer (an independent implementation), then
 * walked: spans must cover exactly what Avro C wrote, every truncation and random
 * corruption must be refused with a message naming a path (and never crash: this test
 * runs under ASan in the sanitizer build), and defaults must encode as Avro C encodes
 * the same value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <avro.h>

#include "canon/walk.h"

static const char schema_text[] =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}},"
    "{\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"X\",\"size\":3}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"n\",\"type\":[\"null\",\"R\"]}]}";

typedef struct wfx {
    reg_schema *s;
    canon_walk *w;
    char buf[4096];
    size_t len;
} wfx;

/* Writes one R with Avro C: nested one level through n. */
static void write_datum(wfx *f)
{
    avro_schema_t sch;
    assert_int_equal(avro_schema_from_json_length(schema_text, strlen(schema_text), &sch), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(sch);
    avro_value_t v, c, br, item;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    for (int level = 0; level < 2; level++) {
        avro_value_t *r = &v;
        avro_value_t inner;
        if (level == 1) {
            assert_int_equal(avro_value_get_by_name(&v, "n", &c, NULL), 0);
            assert_int_equal(avro_value_set_branch(&c, 1, &inner), 0);
            r = &inner;
        }
        avro_value_get_by_name(r, "s", &c, NULL);
        avro_value_set_string(&c, level ? "inner" : "hello");
        avro_value_get_by_name(r, "i", &c, NULL);
        avro_value_set_int(&c, -123456);
        avro_value_get_by_name(r, "l", &c, NULL);
        avro_value_set_long(&c, 1LL << 40);
        avro_value_get_by_name(r, "d", &c, NULL);
        avro_value_set_double(&c, 2.5);
        avro_value_get_by_name(r, "f", &c, NULL);
        avro_value_set_float(&c, 1.25f);
        avro_value_get_by_name(r, "b", &c, NULL);
        avro_value_set_boolean(&c, 1);
        avro_value_get_by_name(r, "e", &c, NULL);
        avro_value_set_enum(&c, 2);
        avro_value_get_by_name(r, "x", &c, NULL);
        avro_value_set_fixed(&c, (void *)"abc", 3);
        avro_value_get_by_name(r, "u", &c, NULL);
        avro_value_set_branch(&c, 2, &br);
        avro_value_set_long(&br, 99);
        avro_value_get_by_name(r, "a", &c, NULL);
        avro_value_append(&c, &item, NULL);
        avro_value_set_string(&item, "one");
        avro_value_append(&c, &item, NULL);
        avro_value_set_string(&item, "two");
        avro_value_get_by_name(r, "m", &c, NULL);
        avro_value_add(&c, "k", &item, NULL, NULL);
        avro_value_set_long(&item, 7);
        if (level == 1) {
            avro_value_get_by_name(r, "n", &c, NULL);
            avro_value_set_branch(&c, 0, &br);
            avro_value_set_null(&br);
        }
    }
    avro_writer_t wr = avro_writer_memory(f->buf, sizeof(f->buf));
    assert_int_equal(avro_value_write(wr, &v), 0);
    f->len = (size_t)avro_writer_tell(wr);
    avro_writer_free(wr);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(sch);
}

static wfx *wfx_new(void)
{
    wfx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_null(reg_schema_parse(schema_text, strlen(schema_text), NULL, 0, &f->s));
    assert_null(canon_walk_compile(reg_schema_root(f->s), &f->w));
    write_datum(f);
    return f;
}

static void wfx_free(wfx *f)
{
    canon_walk_free(f->w);
    reg_schema_free(f->s);
    free(f);
}

static void test_skip_consumes_exactly_what_avro_c_wrote(void **state)
{
    wfx *f = wfx_new();
    const uint8_t *p = (const uint8_t *)f->buf, *end = p + f->len;
    char err[256];
    assert_int_equal(canon_walk_skip(f->w, canon_walk_root(f->w), &p, end, NULL, err, sizeof(err)),
                     0);
    assert_ptr_equal(p, end);
    wfx_free(f);
}

static void test_record_spans_delimit_each_field(void **state)
{
    wfx *f = wfx_new();
    uint32_t root = canon_walk_root(f->w);
    assert_int_equal(canon_walk_kind(f->w, root), REG_RECORD);
    assert_int_equal(canon_walk_count(f->w, root), 12);
    assert_string_equal(canon_walk_field_name(f->w, root, 11), "n");
    const uint8_t *st[12], *en[12];
    const uint8_t *p = (const uint8_t *)f->buf, *end = p + f->len;
    char err[256];
    assert_int_equal(canon_walk_record(f->w, root, &p, end, st, en, NULL, err, sizeof(err)), 0);
    /* s = "hello" */
    const uint8_t *q = st[0], *s;
    size_t n;
    assert_int_equal(canon_read_str(&q, en[0], &s, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(s, "hello", 5);
    q = st[1];
    int32_t i;
    assert_int_equal(canon_read_int(&q, en[1], &i), 0);
    assert_int_equal(i, -123456);
    q = st[2];
    int64_t l;
    assert_int_equal(canon_read_long(&q, en[2], &l), 0);
    assert_int_equal(l, 1LL << 40);
    q = st[3];
    double d;
    assert_int_equal(canon_read_double(&q, en[3], &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(en[7] - st[7], 3); /* fixed */
    /* the recursive field n holds a whole record: its span ends the datum */
    assert_ptr_equal(en[11], end);
    for (int k = 1; k < 12; k++)
        assert_ptr_equal(st[k], en[k - 1]);
    wfx_free(f);
}

static void test_every_truncation_is_refused_with_a_path(void **state)
{
    wfx *f = wfx_new();
    char err[256];
    for (size_t n = 0; n < f->len; n++) {
        const uint8_t *p = (const uint8_t *)f->buf;
        assert_int_equal(
            canon_walk_skip(f->w, canon_walk_root(f->w), &p, p + n, "R", err, sizeof(err)), -1);
        assert_true(strncmp(err, "R", 1) == 0);
        assert_non_null(strchr(err, ':'));
    }
    /* one example in full: cut inside the nested record's string */
    const uint8_t *p = (const uint8_t *)f->buf;
    size_t cut = f->len - 20;
    canon_walk_skip(f->w, canon_walk_root(f->w), &p, p + cut, "R", err, sizeof(err));
    assert_non_null(strstr(err, "R.n."));
    wfx_free(f);
}

static void test_random_corruption_never_crashes(void **state)
{
    wfx *f = wfx_new();
    uint64_t x = 88172645463325252ull;
    uint8_t m[4096];
    char err[256];
    int refused = 0;
    for (int i = 0; i < 50000; i++) {
        memcpy(m, f->buf, f->len);
        size_t len = f->len;
        for (int k = 0; k < 3; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m[x % len] = (uint8_t)(x >> 24);
        }
        if (i % 3 == 0)
            len = (size_t)(x >> 40) % len;
        const uint8_t *p = m, *end = m + len;
        int rc = canon_walk_skip(f->w, canon_walk_root(f->w), &p, end, NULL, err, sizeof(err));
        if (rc) {
            refused++;
            assert_true(err[0] != '\0');
        } else {
            assert_true(p <= end);
        }
    }
    assert_true(refused > 10000);
    wfx_free(f);
}

static void test_specific_bad_inputs_say_what_is_wrong(void **state)
{
    reg_schema *s;
    canon_walk *w;
    char err[256];
    const char *t = "{\"type\":\"record\",\"name\":\"Q\",\"fields\":["
                    "{\"name\":\"u\",\"type\":[\"null\",\"string\"]},"
                    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
                    "{\"name\":\"b\",\"type\":\"boolean\"}]}";
    assert_null(reg_schema_parse(t, strlen(t), NULL, 0, &s));
    assert_null(canon_walk_compile(reg_schema_root(s), &w));
    struct {
        const char *bytes;
        size_t n;
        const char *want;
    } cases[] = {
        {"\x06", 1, "u: union branch 3 out of range"},
        {"\x02\x01", 2, "u: negative length"},
        {"\x02\x7e", 2, "u: length 63 exceeds"},
        {"\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11,
         "a[]: truncated or malformed block count"},
        /* 2^31 null items: refused by the item cap, not looped over */
        {"\x00\x80\x80\x80\x80\x10\x00\x00", 8, "more than"},
        {"\x00\x00\x05", 3, "b: boolean byte 5"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const uint8_t *p = (const uint8_t *)cases[i].bytes;
        assert_int_equal(canon_walk_skip(w, 0, &p, p + cases[i].n, NULL, err, sizeof(err)), -1);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].want);
    }
    canon_walk_free(w);
    reg_schema_free(s);
}

/* A block with a negative count carries its byte size; the walk refuses one whose items
 * take another number of bytes (the envelope republishes the bytes, and Avro Java skips
 * blocks by that size), in both walks, and accepts the same bytes with the right size. */
static void test_block_size_must_equal_the_bytes_of_its_items(void **state)
{
    reg_schema *s;
    canon_walk *w;
    char err[256];
    const char *t = "{\"type\":\"record\",\"name\":\"B\",\"fields\":["
                    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
                    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
                    "{\"name\":\"b\",\"type\":\"boolean\"}]}";
    assert_null(reg_schema_parse(t, strlen(t), NULL, 0, &s));
    assert_null(canon_walk_compile(reg_schema_root(s), &w));
    /* a: count -1, size 2, "v", end; m: count -1, size 3, "k" -> 7, end; b: true */
    static const uint8_t good[] = {0x01, 0x04, 0x02, 'v',  0x00, 0x01,
                                   0x06, 0x02, 'k',  0x0e, 0x00, 0x01};
    const uint8_t *p = good;
    assert_int_equal(canon_walk_skip(w, 0, &p, good + sizeof(good), "B", err, sizeof(err)), 0);
    assert_ptr_equal(p, good + sizeof(good));
    p = good;
    assert_int_equal(canon_walk_check(w, 0, &p, good + sizeof(good)), 0);
    assert_ptr_equal(p, good + sizeof(good));
    struct {
        size_t at;  /* the size byte to change */
        uint8_t to; /* zigzag of the wrong size */
        const char *want;
    } cases[] = {
        {1, 0x06, "B.a[]: block size 3 differs from the 2 bytes its 1 items take"},
        {1, 0x00, "B.a[]: block size 0 differs from the 2 bytes its 1 items take"},
        {6, 0x04, "B.m.{}: block size 2 differs from the 3 bytes its 1 items take"},
        {6, 0x08, "B.m.{}: block size 4 differs from the 3 bytes its 1 items take"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t bad[sizeof(good)];
        memcpy(bad, good, sizeof(good));
        bad[cases[i].at] = cases[i].to;
        p = bad;
        assert_int_equal(canon_walk_skip(w, 0, &p, bad + sizeof(bad), "B", err, sizeof(err)), -1);
        if (strcmp(err, cases[i].want))
            fail_msg("case %zu: '%s', not '%s'", i, err, cases[i].want);
        p = bad;
        assert_int_equal(canon_walk_check(w, 0, &p, bad + sizeof(bad)), -1);
    }
    canon_walk_free(w);
    reg_schema_free(s);
}

static void test_deep_recursion_is_bounded(void **state)
{
    reg_schema *s;
    canon_walk *w;
    const char *t = "{\"type\":\"record\",\"name\":\"L\",\"fields\":["
                    "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}";
    assert_null(reg_schema_parse(t, strlen(t), NULL, 0, &s));
    assert_null(canon_walk_compile(reg_schema_root(s), &w));
    uint8_t deep[1000];
    memset(deep, 2, sizeof(deep)); /* branch 1 forever */
    deep[999] = 0;
    const uint8_t *p = deep;
    char err[256];
    assert_int_equal(canon_walk_skip(w, 0, &p, deep + sizeof(deep), NULL, err, sizeof(err)), -1);
    if (!strstr(err, "nested deeper"))
        fail_msg("%s", err);
    uint8_t shallow[] = {2, 2, 2, 0};
    p = shallow;
    assert_int_equal(canon_walk_skip(w, 0, &p, shallow + 4, NULL, err, sizeof(err)), 0);
    assert_ptr_equal(p, shallow + 4);
    canon_walk_free(w);
    reg_schema_free(s);
}

static void test_varint_readers_check_ranges(void **state)
{
    const uint8_t big[] = {0xfe, 0xff, 0xff, 0xff, 0x1f}; /* 2^32-1 zigzag: > INT32_MAX */
    const uint8_t *p = big;
    int32_t i;
    assert_int_equal(canon_read_int(&p, big + 5, &i), -1);
    const uint8_t min[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    p = min;
    int64_t l;
    assert_int_equal(canon_read_long(&p, min + 10, &l), 0);
    assert_true(l == INT64_MIN);
    const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    p = over;
    assert_int_equal(canon_read_long(&p, over + 10, &l), -1);
    canon_wbuf b = {0};
    canon_wbuf_long(&b, INT64_MIN);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.p, min, 10);
    canon_wbuf_free(&b);
}

static void test_defaults_encode_like_avro_c(void **state)
{
    wfx *f = wfx_new();
    const char *dflt = "{\"s\":\"hello\",\"i\":-123456,\"l\":1099511627776,\"d\":2.5,\"f\":1.25,"
                       "\"b\":true,\"e\":\"C\",\"x\":\"abc\",\"u\":null,\"a\":[\"one\",\"two\"],"
                       "\"m\":{\"k\":7},\"n\":null}";
    json_t *j = json_loads(dflt, 0, NULL);
    assert_non_null(j);
    canon_wbuf b = {0};
    assert_null(canon_encode_default(reg_schema_root(f->s), j, &b));
    /* Avro C wrote the same values except u (long 99) and n (a nested record): compare
     * the common prefix up to u, then the array and map. */
    const uint8_t *st[12], *en[12];
    const uint8_t *p = (const uint8_t *)f->buf;
    char err[256];
    assert_int_equal(canon_walk_record(f->w, 0, &p, p + f->len, st, en, NULL, err, sizeof(err)), 0);
    size_t pre = (size_t)(st[8] - st[0]);
    assert_memory_equal(b.p, f->buf, pre);
    assert_int_equal(b.p[pre], 0); /* u: null branch */
    assert_memory_equal(b.p + pre + 1, st[9], (size_t)(en[10] - st[9]));
    json_t *bad = json_string("D");
    canon_wbuf b2 = {0};
    const reg_node *e = reg_schema_root(f->s)->fields[6].type;
    cg_err *er = canon_encode_default(e, bad, &b2);
    assert_non_null(er);
    cg_err_free(er);
    json_decref(bad);
    json_decref(j);
    canon_wbuf_free(&b);
    canon_wbuf_free(&b2);
    wfx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_consumes_exactly_what_avro_c_wrote),
        cmocka_unit_test(test_record_spans_delimit_each_field),
        cmocka_unit_test(test_every_truncation_is_refused_with_a_path),
        cmocka_unit_test(test_random_corruption_never_crashes),
        cmocka_unit_test(test_specific_bad_inputs_say_what_is_wrong),
        cmocka_unit_test(test_block_size_must_equal_the_bytes_of_its_items),
        cmocka_unit_test(test_deep_recursion_is_bounded),
        cmocka_unit_test(test_varint_readers_check_ranges),
        cmocka_unit_test(test_defaults_encode_like_avro_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
