/* test_canon_merge.c - the merge engine (canon/merge.c) against ../shared/DESIGN.md
 * "Merge semantics" and docs/aggregator.md.
 *
 * Updates are encoded here by hand from docs/wire.md (the update schema's field order),
 * not with the engine's own code, and envelopes are decoded with Avro C's generic reader
 * against the derived envelope schema, so both directions are checked against an
 * independent implementation. The property test applies random sets of updates in many
 * random orders and requires one final state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_data.h"
#include "test_rng.h"

#include <avro.h>

#include "canon/merge.h"
#include "registry/canon_derive.h"

#define UPD_ID 101
#define ENV_ID 102

/* ---- fixture ---------------------------------------------------------------------- */

static char *read_example(const char *name)
{
    return test_data_example(name);
}

/* How a values field of the test schemas is encoded (inside its optional union). */
enum kind { STR, NUM };

typedef struct fx {
    reg_schema *canonical;
    char *upd_text, *env_text;
    canon_engine *e;
    canon_state *st;
    canon_result r;
    const char *const *vnames; /* values fields in update-schema order */
    const enum kind *vkinds;
    size_t n_v;
} fx;

static const char *const person_v[] = {"given_name", "family_name", "email",
                                       "phone",      "birth_date",  "employment_status",
                                       "address",    "tags",        "support_tier"};
static const enum kind person_k[] = {STR, STR, STR, STR, NUM, NUM, NUM, NUM, STR};

static const char thing_schema[] =
    "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"canon.key\":\"id\","
    "\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"a\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"n\",\"type\":\"long\",\"default\":0},"
    "{\"name\":\"c\",\"type\":\"int\",\"default\":7},"
    "{\"name\":\"u\",\"type\":[\"string\",\"null\"],\"default\":\"dflt\"}]}";
static const char *const thing_v[] = {"a", "n", "c", "u"};
static const enum kind thing_k[] = {STR, NUM, NUM, STR};

static fx *fx_new(const char *canonical_text, const char *const *vnames, const enum kind *vkinds,
                  size_t n_v)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    cg_err *err = reg_schema_parse(canonical_text, strlen(canonical_text), NULL, 0, &f->canonical);
    assert_null(err);
    assert_null(reg_canon_derive_update(f->canonical, &f->upd_text));
    assert_null(reg_canon_derive_envelope(f->canonical, &f->env_text));
    reg_schema *us = NULL;
    assert_null(reg_schema_parse(f->upd_text, strlen(f->upd_text), NULL, 0, &us));
    assert_null(canon_engine_new(f->canonical, ENV_ID, &f->e));
    assert_null(canon_engine_add_update_schema(f->e, UPD_ID, us));
    reg_schema_free(us);
    assert_null(canon_state_new(canon_engine_n_fields(f->e), &f->st));
    canon_result_init(&f->r);
    f->vnames = vnames;
    f->vkinds = vkinds;
    f->n_v = n_v;
    return f;
}

static fx *person_fx(void)
{
    char *text = read_example("person.avsc");
    fx *f = fx_new(text, person_v, person_k, 9);
    free(text);
    return f;
}

static void fx_free(fx *f)
{
    canon_result_clear(&f->r);
    canon_state_free(f->st);
    canon_engine_free(f->e);
    reg_schema_free(f->canonical);
    free(f->upd_text);
    free(f->env_text);
    free(f);
}

/* ---- hand-written update encoding (docs/wire.md field order) --------------------------- */

typedef struct tv {
    const char *field;
    int is_null;
    const char *s; /* STR */
    int64_t n;     /* NUM */
} tv;

static void put_long(canon_wbuf *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        canon_wbuf_byte(b, (uint8_t)(z | 0x80));
        z >>= 7;
    }
    canon_wbuf_byte(b, (uint8_t)z);
}

static void put_str(canon_wbuf *b, const char *s)
{
    put_long(b, (int64_t)strlen(s));
    canon_wbuf_put(b, s, strlen(s));
}

static void encode_update(const fx *f, canon_wbuf *b, const char *key, const char *source,
                          int64_t t, int64_t seq, int del, const tv *vals, size_t n_vals)
{
    b->len = 0;
    uint8_t hdr[5] = {0, 0, 0, 0, UPD_ID};
    canon_wbuf_put(b, hdr, 5);
    put_str(b, key);
    put_str(b, source);
    put_long(b, t);
    put_long(b, seq);
    put_long(b, del ? 1 : 0);
    if (n_vals) {
        put_long(b, (int64_t)n_vals);
        for (size_t i = 0; i < n_vals; i++)
            put_str(b, vals[i].field);
    }
    put_long(b, 0);
    for (size_t k = 0; k < f->n_v; k++) {
        const tv *v = NULL;
        for (size_t i = 0; i < n_vals; i++) {
            if (!strcmp(vals[i].field, f->vnames[k]))
                v = &vals[i];
        }
        if (!v || v->is_null) {
            put_long(b, 0);
            continue;
        }
        put_long(b, 1);
        if (f->vkinds[k] == STR)
            put_str(b, v->s);
        else
            put_long(b, v->n);
    }
    assert_true(canon_wbuf_ok(b));
}

/* apply() from update message (part, off) of canon.test.updates. */
static canon_verdict apply_at(fx *f, int32_t part, int64_t off, const char *key, const char *source,
                              int64_t t, int64_t seq, int del, const tv *vals, size_t n_vals)
{
    canon_wbuf b = {0};
    encode_update(f, &b, key, source, t, seq, del, vals, n_vals);
    canon_msg m = {.topic = "canon.test.updates",
                   .partition = part,
                   .offset = off,
                   .key = key,
                   .key_len = strlen(key),
                   .value = b.p,
                   .value_len = b.len};
    cg_err *err = canon_merge(f->e, f->st, &m, &f->r);
    assert_null(err);
    canon_wbuf_free(&b);
    return f->r.verdict;
}

static canon_verdict apply(fx *f, const char *key, const char *source, int64_t t, int64_t seq,
                           int del, const tv *vals, size_t n_vals)
{
    return apply_at(f, 3, 42, key, source, t, seq, del, vals, n_vals);
}

#define S(field, val)                                                                              \
    {                                                                                              \
        field, 0, val, 0                                                                           \
    }
#define N(field, val)                                                                              \
    {                                                                                              \
        field, 0, NULL, val                                                                        \
    }
#define CLR(field)                                                                                 \
    {                                                                                              \
        field, 1, NULL, 0                                                                          \
    }

/* ---- reading envelopes with Avro C ------------------------------------------------------ */

typedef struct env {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t v;
} env;

static void env_read(fx *f, env *out)
{
    assert_int_equal(f->r.verdict, CANON_PUBLISH);
    const uint8_t *p = f->r.envelope.p;
    size_t n = f->r.envelope.len;
    assert_true(n > 5);
    assert_int_equal(p[0], 0);
    assert_int_equal((p[1] << 24) | (p[2] << 16) | (p[3] << 8) | p[4], ENV_ID);
    assert_int_equal(avro_schema_from_json_length(f->env_text, strlen(f->env_text), &out->schema),
                     0);
    out->iface = avro_generic_class_from_schema(out->schema);
    assert_non_null(out->iface);
    assert_int_equal(avro_generic_value_new(out->iface, &out->v), 0);
    avro_reader_t rd = avro_reader_memory((const char *)p + 5, (int64_t)(n - 5));
    assert_int_equal(avro_value_read(rd, &out->v), 0);
    avro_reader_free(rd);
    size_t sz = 0;
    assert_int_equal(avro_value_sizeof(&out->v, &sz), 0);
    assert_int_equal(sz, n - 5); /* every byte was part of the datum */
}

static void env_free(env *x)
{
    avro_value_decref(&x->v);
    avro_value_iface_decref(x->iface);
    avro_schema_decref(x->schema);
}

static avro_value_t get(avro_value_t *v, const char *name)
{
    avro_value_t c;
    assert_int_equal(avro_value_get_by_name(v, name, &c, NULL), 0);
    return c;
}

/* The branch of a union value, or -1 for null (branch 0 in every union used here). */
static int branch(avro_value_t *u, avro_value_t *out)
{
    int d;
    assert_int_equal(avro_value_get_discriminant(u, &d), 0);
    assert_int_equal(avro_value_get_current_branch(u, out), 0);
    return avro_value_get_type(out) == AVRO_NULL ? -1 : d;
}

static const char *str_of(avro_value_t *v)
{
    const char *s;
    size_t n;
    assert_int_equal(avro_value_get_string(v, &s, &n), 0);
    return s;
}

/* after.<field> as a string, or NULL when the field is null or after is null. */
static const char *after_str(avro_value_t *root, const char *rec, const char *field)
{
    avro_value_t u = get(root, rec), r, fu, fb;
    if (branch(&u, &r) < 0)
        return NULL;
    fu = get(&r, field);
    if (avro_value_get_type(&fu) == AVRO_STRING)
        return str_of(&fu);
    if (branch(&fu, &fb) < 0)
        return NULL;
    return str_of(&fb);
}

static long long get_long(avro_value_t *v, const char *name)
{
    avro_value_t c = get(v, name);
    int64_t x;
    if (avro_value_get_type(&c) == AVRO_INT32) {
        int32_t i;
        assert_int_equal(avro_value_get_int(&c, &i), 0);
        return i;
    }
    assert_int_equal(avro_value_get_long(&c, &x), 0);
    return x;
}

/* ---- rules, one by one ------------------------------------------------------------------ */

static void test_first_update_creates_the_entity_with_provenance_and_cause(void **state)
{
    fx *f = person_fx();
    tv v[] = {S("given_name", "Ada"), S("email", "ada@example.org")};
    assert_int_equal(apply(f, "k1", "hr", 1000, 1, 0, v, 2), CANON_PUBLISH);
    assert_int_equal(f->r.op, CANON_CREATE);
    assert_int_equal(f->r.version, 1);
    assert_int_equal(f->r.n_changed, 2);
    assert_string_equal(canon_engine_field_name(f->e, f->r.changed[0]), "given_name");
    assert_string_equal(canon_engine_field_name(f->e, f->r.changed[1]), "email");

    env x;
    env_read(f, &x);
    avro_value_t key = get(&x.v, "key");
    assert_string_equal(str_of(&key), "k1");
    assert_int_equal(get_long(&x.v, "version"), 1);
    avro_value_t op = get(&x.v, "op");
    int opv;
    assert_int_equal(avro_value_get_enum(&op, &opv), 0);
    assert_int_equal(opv, 0); /* CREATE */
    avro_value_t before = get(&x.v, "before"), b;
    assert_int_equal(branch(&before, &b), -1);
    assert_string_equal(after_str(&x.v, "after", "given_name"), "Ada");
    assert_string_equal(after_str(&x.v, "after", "email"), "ada@example.org");
    assert_string_equal(after_str(&x.v, "after", "person_id"), "k1");
    assert_null(after_str(&x.v, "after", "phone"));
    /* tags (array, default []) takes its default */
    avro_value_t after = get(&x.v, "after"), ar;
    assert_true(branch(&after, &ar) >= 0);
    avro_value_t tags = get(&ar, "tags");
    size_t ntags = 99;
    assert_int_equal(avro_value_get_size(&tags, &ntags), 0);
    assert_int_equal(ntags, 0);

    avro_value_t prov = get(&x.v, "provenance"), pv;
    size_t np;
    assert_int_equal(avro_value_get_size(&prov, &np), 0);
    assert_int_equal(np, 2);
    assert_int_equal(avro_value_get_by_name(&prov, "given_name", &pv, NULL), 0);
    avro_value_t src = get(&pv, "source");
    assert_string_equal(str_of(&src), "hr");
    assert_int_equal(get_long(&pv, "event_time"), 1000);
    assert_int_equal(get_long(&pv, "seq"), 1);
    avro_value_t changed = get(&x.v, "changed"), c0;
    assert_int_equal(avro_value_get_by_index(&changed, 0, &c0, NULL), 0);
    assert_string_equal(str_of(&c0), "given_name");
    avro_value_t del = get(&x.v, "deleted"), d;
    assert_int_equal(branch(&del, &d), -1);
    avro_value_t cause = get(&x.v, "cause");
    avro_value_t topic = get(&cause, "topic");
    assert_string_equal(str_of(&topic), "canon.test.updates");
    assert_int_equal(get_long(&cause, "partition"), 3);
    assert_int_equal(get_long(&cause, "offset"), 42);
    env_free(&x);
    fx_free(f);
}

static void test_newer_update_overwrites_and_before_holds_the_previous_state(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "Ada")}, v2[] = {S("given_name", "Ada L.")};
    assert_int_equal(apply(f, "k", "hr", 1000, 1, 0, v1, 1), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "crm", 2000, 1, 0, v2, 1), CANON_PUBLISH);
    assert_int_equal(f->r.op, CANON_UPDATE);
    assert_int_equal(f->r.version, 2);
    env x;
    env_read(f, &x);
    assert_string_equal(after_str(&x.v, "before", "given_name"), "Ada");
    assert_string_equal(after_str(&x.v, "after", "given_name"), "Ada L.");
    env_free(&x);
    fx_free(f);
}

static void test_older_update_of_a_field_is_stale_and_publishes_nothing(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "new")}, v2[] = {S("given_name", "old")};
    assert_int_equal(apply(f, "k", "hr", 2000, 1, 0, v1, 1), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "crm", 1000, 9, 0, v2, 1), CANON_NOOP);
    assert_int_equal(f->r.n_stale, 1);
    assert_int_equal(f->r.n_applied, 0);
    /* the same update again (replay) is a no-op too */
    assert_int_equal(apply(f, "k", "hr", 2000, 1, 0, v1, 1), CANON_NOOP);
    fx_free(f);
}

static void test_stale_fields_are_skipped_while_newer_ones_in_the_same_update_apply(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("email", "e1")};
    assert_int_equal(apply(f, "k", "crm", 2000, 1, 0, v1, 1), CANON_PUBLISH);
    tv v2[] = {S("email", "e0"), S("phone", "p0")};
    assert_int_equal(apply(f, "k", "crm", 1500, 1, 0, v2, 2), CANON_PUBLISH);
    assert_int_equal(f->r.n_stale, 1);
    assert_int_equal(f->r.n_applied, 1);
    env x;
    env_read(f, &x);
    assert_string_equal(after_str(&x.v, "after", "email"), "e1");
    assert_string_equal(after_str(&x.v, "after", "phone"), "p0");
    env_free(&x);
    fx_free(f);
}

static void test_ties_on_event_time_are_broken_by_source_then_seq(void **state)
{
    fx *f = person_fx();
    tv a[] = {S("email", "from-crm")}, b[] = {S("email", "from-hr")}, c[] = {S("email", "hr-2")};
    /* same event_time: "hr" > "crm" by name, whatever the arrival order */
    assert_int_equal(apply(f, "k", "hr", 5000, 1, 0, b, 1), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "crm", 5000, 7, 0, a, 1), CANON_NOOP);
    /* same event_time and source: higher seq wins */
    assert_int_equal(apply(f, "k", "hr", 5000, 2, 0, c, 1), CANON_PUBLISH);
    env x;
    env_read(f, &x);
    assert_string_equal(after_str(&x.v, "after", "email"), "hr-2");
    env_free(&x);
    fx_free(f);
}

static void test_unprovided_fields_are_left_alone_and_provided_null_clears(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "Ada"), S("family_name", "Lovelace")};
    assert_int_equal(apply(f, "k", "hr", 1000, 1, 0, v1, 2), CANON_PUBLISH);
    tv v2[] = {CLR("family_name")};
    assert_int_equal(apply(f, "k", "hr", 2000, 1, 0, v2, 1), CANON_PUBLISH);
    assert_int_equal(f->r.n_changed, 1);
    assert_string_equal(canon_engine_field_name(f->e, f->r.changed[0]), "family_name");
    env x;
    env_read(f, &x);
    assert_string_equal(after_str(&x.v, "after", "given_name"), "Ada");
    assert_null(after_str(&x.v, "after", "family_name"));
    /* the clear keeps its version, so an older set cannot bring the value back */
    avro_value_t prov = get(&x.v, "provenance"), pv;
    assert_int_equal(avro_value_get_by_name(&prov, "family_name", &pv, NULL), 0);
    assert_int_equal(get_long(&pv, "event_time"), 2000);
    env_free(&x);
    tv v3[] = {S("family_name", "Byron")};
    assert_int_equal(apply(f, "k", "hr", 1500, 1, 0, v3, 1), CANON_NOOP);
    fx_free(f);
}

static void test_newer_version_with_the_same_value_moves_provenance_only(void **state)
{
    fx *f = person_fx();
    tv v[] = {S("email", "same")};
    assert_int_equal(apply(f, "k", "crm", 1000, 1, 0, v, 1), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "hr", 2000, 1, 0, v, 1), CANON_PUBLISH);
    assert_int_equal(f->r.op, CANON_UPDATE);
    assert_int_equal(f->r.n_changed, 0);
    env x;
    env_read(f, &x);
    avro_value_t prov = get(&x.v, "provenance"), pv;
    assert_int_equal(avro_value_get_by_name(&prov, "email", &pv, NULL), 0);
    avro_value_t src = get(&pv, "source");
    assert_string_equal(str_of(&src), "hr");
    env_free(&x);
    fx_free(f);
}

static void test_delete_clears_older_fields_and_keeps_newer_ones(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "Ada")}, v2[] = {S("email", "late@x")};
    assert_int_equal(apply(f, "k", "hr", 1000, 1, 0, v1, 1), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "crm", 3000, 1, 0, v2, 1), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "hr", 2000, 5, 1, NULL, 0), CANON_PUBLISH);
    assert_int_equal(f->r.op, CANON_UPDATE); /* email, newer than the DELETE, stays */
    env x;
    env_read(f, &x);
    assert_null(after_str(&x.v, "after", "given_name"));
    assert_string_equal(after_str(&x.v, "after", "email"), "late@x");
    avro_value_t del = get(&x.v, "deleted"), d;
    assert_true(branch(&del, &d) >= 0);
    assert_int_equal(get_long(&d, "event_time"), 2000);
    assert_int_equal(get_long(&d, "seq"), 5);
    env_free(&x);
    fx_free(f);
}

static void test_delete_then_older_update_does_not_resurrect(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "Ada")}, v2[] = {S("family_name", "Old")};
    assert_int_equal(apply(f, "k", "hr", 1000, 1, 0, v1, 1), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "hr", 2000, 1, 1, NULL, 0), CANON_PUBLISH);
    assert_int_equal(f->r.op, CANON_DELETE);
    env x;
    env_read(f, &x);
    avro_value_t after = get(&x.v, "after"), a;
    assert_int_equal(branch(&after, &a), -1);
    assert_string_equal(after_str(&x.v, "before", "given_name"), "Ada");
    env_free(&x);
    /* an update older than the DELETE: nothing */
    assert_int_equal(apply(f, "k", "hr", 1500, 1, 0, v2, 1), CANON_NOOP);
    /* an older DELETE: nothing */
    assert_int_equal(apply(f, "k", "hr", 1800, 1, 1, NULL, 0), CANON_NOOP);
    /* a newer update re-creates it; deleted is kept */
    assert_int_equal(apply(f, "k", "hr", 2500, 1, 0, v2, 1), CANON_PUBLISH);
    assert_int_equal(f->r.op, CANON_CREATE);
    assert_int_equal(f->r.version, 3);
    env_read(f, &x);
    assert_string_equal(after_str(&x.v, "after", "family_name"), "Old");
    assert_null(after_str(&x.v, "after", "given_name"));
    avro_value_t del = get(&x.v, "deleted"), d;
    assert_true(branch(&del, &d) >= 0);
    env_free(&x);
    fx_free(f);
}

static void test_delete_of_an_unknown_key_is_remembered(void **state)
{
    fx *f = person_fx();
    assert_int_equal(apply(f, "ghost", "crm", 5000, 1, 1, NULL, 0), CANON_PUBLISH);
    assert_int_equal(f->r.op, CANON_DELETE);
    tv v[] = {S("email", "x")};
    assert_int_equal(apply(f, "ghost", "crm", 4000, 1, 0, v, 1), CANON_NOOP);
    fx_free(f);
}

static void test_delete_is_remembered_after_a_restore(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "Ada")}, v2[] = {S("given_name", "Zombie")};
    assert_int_equal(apply(f, "k", "hr", 1000, 1, 0, v1, 1), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "hr", 2000, 1, 1, NULL, 0), CANON_PUBLISH);
    canon_wbuf last = {0};
    canon_wbuf_put(&last, f->r.envelope.p, f->r.envelope.len);
    /* a restart: a fresh state restored from the canon topic's last record */
    canon_state_free(f->st);
    assert_null(canon_state_new(canon_engine_n_fields(f->e), &f->st));
    assert_null(canon_restore(f->e, f->st, "k", 1, last.p, last.len, &f->r));
    assert_int_equal(apply(f, "k", "hr", 1500, 1, 0, v2, 1), CANON_NOOP);
    assert_int_equal(apply(f, "k", "hr", 2500, 1, 0, v2, 1), CANON_PUBLISH);
    assert_int_equal(f->r.version, 3); /* the counter continues without a gap */
    canon_wbuf_free(&last);
    fx_free(f);
}

/* A stale update (or DELETE) from a source never seen before changes nothing, so the
 * source table does not keep its name; names interned later still order by name. */
static void test_noop_from_a_new_source_leaves_the_source_table_alone(void **state)
{
    fx *f = person_fx();
    tv v[] = {S("email", "x")};
    assert_int_equal(apply(f, "k", "hr", 2000, 1, 0, v, 1), CANON_PUBLISH);
    assert_int_equal(canon_state_n_sources(f->st), 1);
    assert_int_equal(apply(f, "k", "aaa", 1000, 1, 0, v, 1), CANON_NOOP);
    assert_int_equal(apply(f, "k", "hr", 3000, 1, 1, NULL, 0), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "bbb", 2500, 1, 1, NULL, 0), CANON_NOOP);
    assert_int_equal(canon_state_n_sources(f->st), 1);
    /* same event_time as the DELETE: "crm" < "hr" is stale, "support" > "hr" applies */
    assert_int_equal(apply(f, "k", "crm", 3000, 9, 0, v, 1), CANON_NOOP);
    assert_int_equal(apply(f, "k", "support", 3000, 0, 0, v, 1), CANON_PUBLISH);
    assert_int_equal(canon_state_n_sources(f->st), 2);
    size_t n;
    assert_memory_equal(canon_state_source_name(f->st, 2, &n), "support", 7);
    canon_version hr = {.event_time = 1, .source = 1}, sup = {.event_time = 1, .source = 2};
    assert_int_equal(canon_version_cmp(f->st, &hr, &sup), -1); /* ranks renumbered back */
    assert_int_equal(canon_version_cmp(f->st, &sup, &hr), 1);
    fx_free(f);
}

static void test_source_that_may_not_write_a_field_is_rejected(void **state)
{
    fx *f = person_fx();
    tv ok[] = {S("given_name", "Ada")};
    assert_int_equal(apply(f, "k", "crm", 1000, 1, 0, ok, 1), CANON_PUBLISH);
    tv bad[] = {S("email", "fine"), S("given_name", "nope")};
    assert_int_equal(apply(f, "k", "support", 2000, 1, 0, bad, 2), CANON_REJECT);
    assert_int_equal(f->r.reason, CANON_R_WRITER);
    assert_non_null(strstr(f->r.message, "given_name"));
    assert_string_equal(canon_reason_name(f->r.reason), "WRITER");
    /* nothing of the rejected update applied (email was allowed) */
    tv e[] = {S("email", "fine")};
    assert_int_equal(apply(f, "k", "support", 2000, 1, 0, e, 1), CANON_PUBLISH);
    assert_int_equal(f->r.version, 2);
    /* clearing counts as writing */
    tv clr[] = {CLR("given_name")};
    assert_int_equal(apply(f, "k", "support", 3000, 1, 0, clr, 1), CANON_REJECT);
    assert_int_equal(f->r.reason, CANON_R_WRITER);
    fx_free(f);
}

static void test_body_key_different_from_message_key_is_rejected(void **state)
{
    fx *f = person_fx();
    canon_wbuf b = {0};
    tv v[] = {S("email", "x")};
    encode_update(f, &b, "body-key", "crm", 1, 1, 0, v, 1);
    canon_msg m = {.topic = "t", .key = "msg-key", .key_len = 7, .value = b.p, .value_len = b.len};
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.verdict, CANON_REJECT);
    assert_int_equal(f->r.reason, CANON_R_KEY_MISMATCH);
    assert_non_null(strstr(f->r.message, "body-key"));
    m.key = NULL;
    m.key_len = 0;
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.reason, CANON_R_KEY_MISMATCH);
    assert_int_equal(canon_state_count(f->st), 0);
    canon_wbuf_free(&b);
    fx_free(f);
}

static void test_key_longer_than_the_state_keeps_is_rejected(void **state)
{
    fx *f = person_fx();
    canon_wbuf b = {0};
    tv v[] = {S("email", "x")};
    size_t n = CANON_KEY_MAX + 1;
    char *key = malloc(n + 1);
    assert_non_null(key);
    memset(key, 'k', n);
    key[n] = 0;
    encode_update(f, &b, key, "crm", 1, 1, 0, v, 1);
    canon_msg m = {.topic = "t", .key = key, .key_len = n, .value = b.p, .value_len = b.len};
    assert_null(canon_merge(f->e, f->st, &m, &f->r)); /* a rejection, not an error */
    assert_int_equal(f->r.verdict, CANON_REJECT);
    assert_int_equal(f->r.reason, CANON_R_KEY_TOO_LONG);
    assert_string_equal(canon_reason_name(f->r.reason), "KEY_TOO_LONG");
    assert_non_null(strstr(f->r.message, "65536"));
    assert_int_equal(canon_state_count(f->st), 0);
    /* the longest key kept still applies */
    key[CANON_KEY_MAX] = 0;
    canon_wbuf_free(&b);
    b = (canon_wbuf){0};
    encode_update(f, &b, key, "crm", 1, 1, 0, v, 1);
    m.key_len = CANON_KEY_MAX;
    m.value = b.p;
    m.value_len = b.len;
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.verdict, CANON_PUBLISH);
    assert_int_equal(canon_state_count(f->st), 1);
    canon_wbuf_free(&b);
    free(key);
    fx_free(f);
}

/* A canon record the producer would refuse (librdkafka checks message.max.bytes before it
 * sends) stopped the aggregator at every start; now the update is a dead letter and the
 * state stays as it was, so the key's versions stay gapless. */
static void test_canon_record_past_max_record_is_rejected_and_the_state_kept(void **state)
{
    fx *f = person_fx();
    canon_wbuf b = {0};
    tv small[] = {S("email", "a@example.com")};
    assert_int_equal(apply(f, "k", "crm", 1, 1, 0, small, 1), CANON_PUBLISH);
    assert_int_equal(f->r.version, 1);
    char big[3001];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    tv v[] = {S("email", big)};
    encode_update(f, &b, "k", "crm", 2, 1, 0, v, 1);
    canon_msg m = {.topic = "t",
                   .key = "k",
                   .key_len = 1,
                   .value = b.p,
                   .value_len = b.len,
                   .max_record = 2000};
    assert_null(canon_merge(f->e, f->st, &m, &f->r)); /* a rejection, not an error */
    assert_int_equal(f->r.verdict, CANON_REJECT);
    assert_int_equal(f->r.reason, CANON_R_TOO_LARGE);
    assert_string_equal(canon_reason_name(f->r.reason), "TOO_LARGE");
    assert_non_null(strstr(f->r.message, "limit of 2000 (the producers' message.max.bytes"));
    /* the state still holds version 1: the same update under a larger limit is version 2 */
    m.max_record = 1000000;
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.verdict, CANON_PUBLISH);
    assert_int_equal(f->r.version, 2);
    assert_true(f->r.envelope.len + 1 + 36 <= 1000000);
    canon_wbuf_free(&b);
    fx_free(f);
}

static void test_unknown_schema_id_and_bad_framing_are_rejected(void **state)
{
    fx *f = person_fx();
    canon_wbuf b = {0};
    tv v[] = {S("email", "x")};
    encode_update(f, &b, "k", "crm", 1, 1, 0, v, 1);
    b.p[4] = 77;
    canon_msg m = {.topic = "t", .key = "k", .key_len = 1, .value = b.p, .value_len = b.len};
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.reason, CANON_R_UNKNOWN_SCHEMA);
    assert_int_equal(f->r.schema_id, 77);
    b.p[0] = 1;
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.reason, CANON_R_FRAMING);
    m.value_len = 3;
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.reason, CANON_R_FRAMING);
    /* the envelope schema's id is no update schema */
    b.p[0] = 0;
    b.p[4] = ENV_ID;
    m.value_len = b.len;
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.reason, CANON_R_UNKNOWN_SCHEMA);
    canon_wbuf_free(&b);
    fx_free(f);
}

static void test_provided_name_unknown_to_the_schema_is_rejected(void **state)
{
    fx *f = person_fx();
    tv v[] = {S("nickname", "x")};
    assert_int_equal(apply(f, "k", "crm", 1, 1, 0, v, 1), CANON_REJECT);
    assert_int_equal(f->r.reason, CANON_R_FIELD);
    assert_non_null(strstr(f->r.message, "nickname"));
    tv k[] = {S("person_id", "k")};
    assert_int_equal(apply(f, "k", "crm", 1, 1, 0, k, 1), CANON_REJECT);
    assert_non_null(strstr(f->r.message, "never provided"));
    fx_free(f);
}

/* A canonical schema with a non-key field that has neither a default nor null among its
 * types is refused by the engine as by the registry (the canon contract): an UPSERT before
 * the update that sets such a field would be rejected, after it applied, so the result
 * would depend on arrival order. The engine's REQUIRED verdict therefore cannot occur. */
static void test_engine_refuses_a_required_non_key_field(void **state)
{
    (void)state;
    /* thing_schema without n's default */
    static const char cut[] = ",\"default\":0}";
    const char *at = strstr(thing_schema, cut);
    assert_non_null(at);
    char text[sizeof(thing_schema) + 16]; /* (shorter in fact: gcc cannot tell) */
    snprintf(text, sizeof(text), "%.*s}%s", (int)(at - thing_schema), thing_schema,
             at + strlen(cut));
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &s));
    canon_engine *e = NULL;
    cg_err *err = canon_engine_new(s, ENV_ID, &e);
    assert_non_null(err);
    assert_null(e);
    assert_int_equal(cg_err_code(err), CG_EINVALID_SCHEMA);
    assert_non_null(strstr(cg_err_msg(err), "'t.Thing.n' has no default"));
    cg_err_free(err);
    reg_schema_free(s);
}

/* Defaulted fields: n (long, default 0) reads as 0 until set and after a clear; c (int,
 * default 7) cleared -> 7; u (["string","null"], default "dflt"): null is a value of the
 * union, set as such. */
static void test_defaulted_fields_read_as_their_default_until_set_and_after_a_clear(void **state)
{
    fx *f = fx_new(thing_schema, thing_v, thing_k, 4);
    tv v1[] = {S("a", "x")};
    assert_int_equal(apply(f, "k", "s", 1, 1, 0, v1, 1), CANON_PUBLISH);
    env x;
    env_read(f, &x);
    avro_value_t after = get(&x.v, "after"), a;
    assert_true(branch(&after, &a) >= 0);
    assert_int_equal(get_long(&a, "n"), 0);
    env_free(&x);
    tv v2[] = {N("n", 5)};
    assert_int_equal(apply(f, "k", "s", 2, 1, 0, v2, 1), CANON_PUBLISH);
    tv v3[] = {CLR("n")};
    assert_int_equal(apply(f, "k", "s", 3, 1, 0, v3, 1), CANON_PUBLISH);
    env_read(f, &x);
    after = get(&x.v, "after");
    assert_true(branch(&after, &a) >= 0);
    assert_int_equal(get_long(&a, "n"), 0);
    env_free(&x);
    tv v4[] = {N("c", 9), S("u", "given"), N("n", 5)};
    assert_int_equal(apply(f, "k", "s", 4, 1, 0, v4, 3), CANON_PUBLISH);
    tv v5[] = {CLR("c"), CLR("u")};
    assert_int_equal(apply(f, "k", "s", 5, 1, 0, v5, 2), CANON_PUBLISH);
    env_read(f, &x);
    after = get(&x.v, "after");
    assert_true(branch(&after, &a) >= 0);
    assert_int_equal(get_long(&a, "c"), 7);
    assert_int_equal(get_long(&a, "n"), 5);
    avro_value_t u = get(&a, "u"), ub;
    assert_int_equal(branch(&u, &ub), -1);
    env_free(&x);
    fx_free(f);
}

/* An update written with an older update schema (a field the canonical schema has since
 * dropped, no support_tier yet, email as plain optional string) still applies. */
static void test_update_from_an_older_update_schema_applies_by_field_name(void **state)
{
    fx *f = person_fx();
    const char *old =
        "{\"type\":\"record\",\"name\":\"PersonUpdate\",\"namespace\":\"org.canongate.canon\","
        "\"fields\":[{\"name\":\"person_id\",\"type\":\"string\"},"
        "{\"name\":\"source\",\"type\":\"string\"},"
        "{\"name\":\"event_time\",\"type\":\"long\"},"
        "{\"name\":\"seq\",\"type\":\"long\",\"default\":0},"
        "{\"name\":\"op\",\"type\":{\"type\":\"enum\",\"name\":\"UpdateOp\",\"namespace\":"
        "\"canongate\",\"symbols\":[\"UPSERT\",\"DELETE\"]},\"default\":\"UPSERT\"},"
        "{\"name\":\"provided\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},"
        "{\"name\":\"values\",\"type\":{\"type\":\"record\",\"name\":\"PersonValues\",\"fields\":["
        "{\"name\":\"nickname\",\"type\":[\"null\",\"string\"],\"default\":null},"
        "{\"name\":\"email\",\"type\":[\"null\",\"string\"],\"default\":null},"
        "{\"name\":\"birth_date\",\"type\":[\"null\",\"int\"],\"default\":null}]}}]}";
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(old, strlen(old), NULL, 0, &s));
    assert_null(canon_engine_add_update_schema(f->e, 55, s));
    reg_schema_free(s);
    static const char *const names[] = {"nickname", "email", "birth_date"};
    static const enum kind kinds[] = {STR, STR, NUM};
    fx g = *f;
    g.vnames = names;
    g.vkinds = kinds;
    g.n_v = 3;
    canon_wbuf b = {0};
    tv v[] = {S("nickname", "Addie"), S("email", "a@x"), N("birth_date", 12000)};
    encode_update(&g, &b, "k", "hr", 10, 1, 0, v, 3);
    b.p[4] = 55;
    canon_msg m = {.topic = "t", .key = "k", .key_len = 1, .value = b.p, .value_len = b.len};
    assert_null(canon_merge(f->e, f->st, &m, &f->r));
    assert_int_equal(f->r.verdict, CANON_PUBLISH);
    assert_int_equal(f->r.n_ignored, 1);
    assert_int_equal(f->r.n_applied, 2);
    env x;
    env_read(f, &x);
    assert_string_equal(after_str(&x.v, "after", "email"), "a@x");
    avro_value_t after = get(&x.v, "after"), a, bd, bdb;
    assert_true(branch(&after, &a) >= 0);
    bd = get(&a, "birth_date");
    assert_true(branch(&bd, &bdb) >= 0);
    int32_t days;
    assert_int_equal(avro_value_get_int(&bdb, &days), 0);
    assert_int_equal(days, 12000);
    env_free(&x);
    canon_wbuf_free(&b);
    fx_free(f);
}

static void test_restore_rebuilds_the_same_record_and_provenance(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "Ada"), S("email", "a@x"), N("employment_status", 1)};
    tv v2[] = {CLR("email"), S("phone", "+44")};
    assert_int_equal(apply(f, "k", "hr", 1000, 1, 0, v1, 3), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", "crm", 2000, 1, 0, v2, 2), CANON_PUBLISH);
    canon_wbuf env1 = {0}, rec1 = {0}, rec2 = {0};
    canon_wbuf_put(&env1, f->r.envelope.p, f->r.envelope.len);
    assert_int_equal(canon_entity_record(f->e, f->st, "k", 1, &f->r, &rec1), 1);
    canon_state *st2 = NULL;
    assert_null(canon_state_new(canon_engine_n_fields(f->e), &st2));
    assert_null(canon_restore(f->e, st2, "k", 1, env1.p, env1.len, &f->r));
    assert_int_equal(canon_entity_record(f->e, st2, "k", 1, &f->r, &rec2), 1);
    assert_int_equal(rec1.len, rec2.len);
    assert_memory_equal(rec1.p, rec2.p, rec1.len);
    /* the next update on the restored state gives the same envelope as on the original
     * (cause aside, it is the same input) */
    tv v3[] = {S("phone", "+45")};
    assert_int_equal(apply(f, "k", "crm", 3000, 1, 0, v3, 1), CANON_PUBLISH);
    canon_wbuf a = {0};
    canon_wbuf_put(&a, f->r.envelope.p, f->r.envelope.len);
    canon_state *orig = f->st;
    f->st = st2;
    assert_int_equal(apply(f, "k", "crm", 3000, 1, 0, v3, 1), CANON_PUBLISH);
    assert_int_equal(a.len, f->r.envelope.len);
    assert_memory_equal(a.p, f->r.envelope.p, a.len);
    f->st = orig;
    canon_state_free(st2);
    /* bad bytes are an error, not a crash */
    env1.p[env1.len / 2] ^= 0xff;
    canon_state *st3 = NULL;
    assert_null(canon_state_new(canon_engine_n_fields(f->e), &st3));
    for (size_t n = 0; n < env1.len; n++) {
        cg_err *err = canon_restore(f->e, st3, NULL, 0, env1.p, n, &f->r);
        assert_non_null(err);
        cg_err_free(err);
    }
    canon_state_free(st3);
    canon_wbuf_free(&a);
    canon_wbuf_free(&env1);
    canon_wbuf_free(&rec1);
    canon_wbuf_free(&rec2);
    fx_free(f);
}

/* A new canonical version (a field added in front) restores state from envelopes written
 * with the old envelope schema, mapping fields by name. */
static void test_restore_from_an_envelope_of_an_older_canonical_schema(void **state)
{
    fx *f = person_fx();
    tv v[] = {S("given_name", "Ada"), S("email", "a@x")};
    assert_int_equal(apply(f, "k", "hr", 1000, 1, 0, v, 2), CANON_PUBLISH);
    canon_wbuf old_env = {0}, rec1 = {0}, rec2 = {0};
    canon_wbuf_put(&old_env, f->r.envelope.p, f->r.envelope.len);
    assert_int_equal(canon_entity_record(f->e, f->st, "k", 1, &f->r, &rec1), 1);

    char *text = read_example("person.avsc");
    const char *at = strstr(text, "\"fields\": [");
    assert_non_null(at);
    const char *extra = "{\"name\":\"nickname\",\"type\":[\"null\",\"string\"],\"default\":null},";
    size_t head = (size_t)(at - text) + strlen("\"fields\": [");
    char *v2 = malloc(strlen(text) + strlen(extra) + 1);
    assert_non_null(v2);
    memcpy(v2, text, head);
    strcpy(v2 + head, extra);
    strcat(v2, text + head);
    reg_schema *c2 = NULL, *old = NULL;
    assert_null(reg_schema_parse(v2, strlen(v2), NULL, 0, &c2));
    canon_engine *e2 = NULL;
    assert_null(canon_engine_new(c2, 202, &e2));
    assert_null(reg_schema_parse(f->env_text, strlen(f->env_text), NULL, 0, &old));
    assert_null(canon_engine_add_envelope_schema(e2, ENV_ID, old));
    canon_state *st2 = NULL;
    assert_null(canon_state_new(canon_engine_n_fields(e2), &st2));
    assert_null(canon_restore(e2, st2, "k", 1, old_env.p, old_env.len, &f->r));
    assert_int_equal(canon_entity_record(e2, st2, "k", 1, &f->r, &rec2), 1);
    /* nickname (null: one byte 0) in front, then the old record unchanged */
    assert_int_equal(rec2.len, rec1.len + 1);
    assert_int_equal(rec2.p[0], 0);
    assert_memory_equal(rec2.p + 1, rec1.p, rec1.len);
    canon_field_state fs[16];
    canon_entity ent = {.fields = fs};
    assert_int_equal(canon_state_get(st2, "k", 1, &ent), 1);
    assert_int_equal(ent.version, 1);
    assert_true(fs[2].present); /* given_name, now field 2 */
    assert_int_equal(fs[2].ver.event_time, 1000);
    canon_state_free(st2);
    canon_engine_free(e2);
    reg_schema_free(old);
    reg_schema_free(c2);
    free(v2);
    free(text);
    canon_wbuf_free(&old_env);
    canon_wbuf_free(&rec1);
    canon_wbuf_free(&rec2);
    fx_free(f);
}

/* ---- provenance: which update message set each field ------------------------------------ */

/* provenance[field] of envelope x: source, partition and offset */
static void expect_origin(avro_value_t *fv, const char *source, long long part, long long off)
{
    avro_value_t src = get(fv, "source");
    assert_string_equal(str_of(&src), source);
    assert_int_equal(get_long(fv, "partition"), part);
    assert_int_equal(get_long(fv, "offset"), off);
}

static void expect_field_origin(env *x, const char *field, const char *source, long long part,
                                long long off)
{
    avro_value_t prov = get(&x->v, "provenance"), fv;
    assert_int_equal(avro_value_get_by_name(&prov, field, &fv, NULL), 0);
    expect_origin(&fv, source, part, off);
}

static void test_provenance_names_the_update_message_of_each_field(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "Ada"), S("email", "a@x")};
    tv v2[] = {S("email", "b@x")};
    tv v3[] = {S("phone", "+44")};
    assert_int_equal(apply_at(f, 2, 10, "k", "hr", 1000, 1, 0, v1, 2), CANON_PUBLISH);
    assert_int_equal(apply_at(f, 2, 5000000000LL, "k", "crm", 2000, 1, 0, v2, 1), CANON_PUBLISH);
    env x;
    env_read(f, &x);
    expect_field_origin(&x, "given_name", "hr", 2, 10); /* kept from the first update */
    expect_field_origin(&x, "email", "crm", 2, 5000000000LL);
    env_free(&x);
    /* a stale update leaves every origin alone */
    assert_int_equal(apply_at(f, 2, 12, "k", "hr", 500, 1, 0, v2, 1), CANON_NOOP);
    /* a DELETE's origin is the deleted version's; the fields it kept keep theirs */
    assert_int_equal(apply_at(f, 2, 13, "k", "support", 1500, 0, 1, NULL, 0), CANON_PUBLISH);
    env_read(f, &x);
    avro_value_t del = get(&x.v, "deleted"), d;
    assert_true(branch(&del, &d) >= 0);
    expect_origin(&d, "support", 2, 13);
    expect_field_origin(&x, "email", "crm", 2, 5000000000LL);
    env_free(&x);
    canon_wbuf env1 = {0};
    canon_wbuf_put(&env1, f->r.envelope.p, f->r.envelope.len);

    /* restored from that envelope, the state writes the same origins */
    canon_state *st2 = NULL;
    assert_null(canon_state_new(canon_engine_n_fields(f->e), &st2));
    assert_null(canon_restore(f->e, st2, "k", 1, env1.p, env1.len, &f->r));
    canon_wbuf a = {0};
    assert_int_equal(apply_at(f, 4, 77, "k", "crm", 3000, 1, 0, v3, 1), CANON_PUBLISH);
    canon_wbuf_put(&a, f->r.envelope.p, f->r.envelope.len);
    canon_state *orig = f->st;
    f->st = st2;
    assert_int_equal(apply_at(f, 4, 77, "k", "crm", 3000, 1, 0, v3, 1), CANON_PUBLISH);
    assert_int_equal(a.len, f->r.envelope.len);
    assert_memory_equal(a.p, f->r.envelope.p, a.len);
    env_read(f, &x);
    expect_field_origin(&x, "email", "crm", 2, 5000000000LL);
    expect_field_origin(&x, "phone", "crm", 4, 77);
    avro_value_t del2 = get(&x.v, "deleted"), d2;
    assert_true(branch(&del2, &d2) >= 0);
    expect_origin(&d2, "support", 2, 13);
    env_free(&x);
    f->st = orig;
    canon_state_free(st2);
    canon_wbuf_free(&a);
    canon_wbuf_free(&env1);
    fx_free(f);
}

/* Two updates with the same version (a source that reused one) each keep their own origin
 * for the fields they set. */
static void test_equal_versions_from_two_messages_keep_their_own_origins(void **state)
{
    fx *f = person_fx();
    tv v1[] = {S("given_name", "Ada")};
    tv v2[] = {S("email", "a@x")};
    assert_int_equal(apply_at(f, 1, 7, "k", "hr", 1000, 1, 0, v1, 1), CANON_PUBLISH);
    assert_int_equal(apply_at(f, 1, 8, "k", "hr", 1000, 1, 0, v2, 1), CANON_PUBLISH);
    env x;
    env_read(f, &x);
    expect_field_origin(&x, "given_name", "hr", 1, 7);
    expect_field_origin(&x, "email", "hr", 1, 8);
    env_free(&x);
    canon_field_state fs[16];
    canon_entity ent = {.fields = fs};
    assert_int_equal(canon_state_get(f->st, "k", 1, &ent), 1);
    assert_int_equal(fs[1].ver.offset + fs[3].ver.offset, 15); /* given_name 7, email 8 */
    fx_free(f);
}

/* The envelope text derived before FieldVersion had partition and offset. */
static char *old_envelope_text(const char *text)
{
    const char *cut = ",{\"name\":\"partition\",\"type\":\"int\",\"default\":-1},"
                      "{\"name\":\"offset\",\"type\":\"long\",\"default\":-1}";
    const char *at = strstr(text, cut);
    assert_non_null(at);
    char *old = malloc(strlen(text) + 1);
    assert_non_null(old);
    memcpy(old, text, (size_t)(at - text));
    strcpy(old + (at - text), at + strlen(cut));
    return old;
}

/* A registry whose entity was registered before partition and offset existed keeps that
 * envelope: the engine writes its shape under its id, and envelopes of that shape restore
 * (origins unknown, -1) into an engine writing the new one. */
static void test_an_envelope_without_origins_is_written_and_restored(void **state)
{
    fx *f = person_fx();
    char *old_text = old_envelope_text(f->env_text);
    reg_schema *old = NULL, *cur = NULL;
    assert_null(reg_schema_parse(old_text, strlen(old_text), NULL, 0, &old));
    assert_null(canon_engine_add_envelope_schema(f->e, ENV_ID, old));
    tv v1[] = {S("given_name", "Ada")};
    assert_int_equal(apply_at(f, 2, 10, "k", "hr", 1000, 1, 0, v1, 1), CANON_PUBLISH);
    assert_int_equal(apply_at(f, 2, 11, "k", "hr", 2000, 1, 1, NULL, 0), CANON_PUBLISH);
    /* every byte is a datum of the old schema */
    char *cur_text = f->env_text;
    f->env_text = old_text;
    env x;
    env_read(f, &x);
    avro_value_t prov = get(&x.v, "deleted"), d, pc;
    assert_true(branch(&prov, &d) >= 0);
    assert_int_equal(avro_value_get_by_name(&d, "offset", &pc, NULL) == 0, 0);
    env_free(&x);
    f->env_text = cur_text;
    canon_wbuf env1 = {0};
    canon_wbuf_put(&env1, f->r.envelope.p, f->r.envelope.len);

    /* back to the current shape; the old one stays known under another id */
    assert_null(reg_schema_parse(cur_text, strlen(cur_text), NULL, 0, &cur));
    assert_null(canon_engine_add_envelope_schema(f->e, ENV_ID, cur));
    assert_null(canon_engine_add_envelope_schema(f->e, 300, old));
    env1.p[4] = 300 & 0xff;
    env1.p[3] = 300 >> 8;
    canon_state *st2 = NULL;
    assert_null(canon_state_new(canon_engine_n_fields(f->e), &st2));
    assert_null(canon_restore(f->e, st2, "k", 1, env1.p, env1.len, &f->r));
    canon_field_state fs[16];
    canon_entity ent = {.fields = fs};
    assert_int_equal(canon_state_get(st2, "k", 1, &ent), 1);
    assert_true(ent.has_deleted);
    assert_int_equal(ent.deleted.event_time, 2000);
    assert_int_equal(ent.deleted.partition, -1);
    assert_int_equal(ent.deleted.offset, -1);
    canon_state_free(f->st);
    f->st = st2;
    tv v2[] = {S("email", "a@x")};
    assert_int_equal(apply_at(f, 5, 99, "k", "crm", 3000, 1, 0, v2, 1), CANON_PUBLISH);
    env_read(f, &x);
    expect_field_origin(&x, "email", "crm", 5, 99);
    avro_value_t del = get(&x.v, "deleted");
    assert_true(branch(&del, &d) >= 0);
    expect_origin(&d, "hr", -1, -1);
    env_free(&x);
    reg_schema_free(old);
    reg_schema_free(cur);
    free(old_text);
    canon_wbuf_free(&env1);
    fx_free(f);
}

/* An envelope whose `after` union has two record branches: no telling which one holds
 * the entity's fields, so the schema is refused (and, under ASan, nothing leaks: the
 * first branch's field table used to be dropped when the second was mapped). */
static void test_envelope_with_two_records_in_after_is_refused(void **state)
{
    static const char text[] =
        "{\"type\":\"record\",\"name\":\"Env\",\"fields\":["
        "{\"name\":\"key\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"long\"},"
        "{\"name\":\"after\",\"type\":[\"null\","
        "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"email\","
        "\"type\":[\"null\",\"string\"]}]},"
        "{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"phone\","
        "\"type\":[\"null\",\"string\"]}]}]},"
        "{\"name\":\"provenance\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"record\","
        "\"name\":\"FV\",\"fields\":[{\"name\":\"source\",\"type\":\"string\"},"
        "{\"name\":\"event_time\",\"type\":\"long\"},{\"name\":\"seq\",\"type\":\"long\"}]}}}]}";
    fx *f = person_fx();
    reg_schema *s = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &s));
    cg_err *err = canon_engine_add_envelope_schema(f->e, 400, s);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EINVALID_SCHEMA);
    assert_non_null(strstr(cg_err_msg(err), "two records"));
    cg_err_free(err);
    reg_schema_free(s);
    fx_free(f);
}

/* ---- property: order does not matter ----------------------------------------------------- */

typedef struct gen {
    char key[8], source[12];
    int64_t t, seq;
    int del;
    tv v[6];
    char sv[6][8];
    size_t nv;
} gen;

static test_rng rng;
static uint32_t rnd(uint32_t n)
{
    return test_rng_next(&rng, n);
}

/* Final state of every key, as a string: record bytes (or "-"), provenance and deleted. */
static void dump(fx *f, const char *const *keys, size_t nk, canon_wbuf *out)
{
    out->len = 0;
    canon_field_state fs[16];
    for (size_t k = 0; k < nk; k++) {
        canon_entity e = {.fields = fs};
        canon_wbuf rec = {0};
        canon_wbuf_put(out, keys[k], strlen(keys[k]));
        if (canon_entity_record(f->e, f->st, keys[k], strlen(keys[k]), &f->r, &rec))
            canon_wbuf_put(out, rec.p, rec.len);
        else
            canon_wbuf_put(out, "-", 1);
        canon_wbuf_free(&rec);
        if (!canon_state_get(f->st, keys[k], strlen(keys[k]), &e))
            continue;
        char line[128];
        for (uint32_t i = 0; i < canon_engine_n_fields(f->e); i++) {
            if (!fs[i].present)
                continue;
            size_t n;
            const char *s = canon_state_source_name(f->st, fs[i].ver.source, &n);
            int m = snprintf(line, sizeof(line), "|%u:%.*s@%lld/%lld", i, (int)n, s,
                             (long long)fs[i].ver.event_time, (long long)fs[i].ver.seq);
            canon_wbuf_put(out, line, (size_t)m);
        }
        if (e.has_deleted) {
            size_t n;
            const char *s = canon_state_source_name(f->st, e.deleted.source, &n);
            int m = snprintf(line, sizeof(line), "|D:%.*s@%lld/%lld", (int)n, s,
                             (long long)e.deleted.event_time, (long long)e.deleted.seq);
            canon_wbuf_put(out, line, (size_t)m);
        }
        canon_wbuf_put(out, "\n", 1);
    }
}

/* Two updates that carry one version (the source reused it), applied to a fresh state in
 * both orders: the final states (dump()) must be equal. Returns that state's fx, after
 * the order first-then-second, for the caller to look at and free. */
typedef struct upd {
    const char *source;
    int64_t t, seq;
    int del;
    const tv *v;
    size_t nv;
} upd;

static fx *both_orders_agree(const upd *a, const upd *b, canon_verdict second_ab,
                             canon_verdict second_ba)
{
    static const char *const keys[] = {"k"};
    canon_wbuf ab = {0}, ba = {0};
    fx *f = person_fx();
    assert_int_equal(apply(f, "k", b->source, b->t, b->seq, b->del, b->v, b->nv), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", a->source, a->t, a->seq, a->del, a->v, a->nv), second_ba);
    dump(f, keys, 1, &ba);
    fx_free(f);
    f = person_fx();
    assert_int_equal(apply(f, "k", a->source, a->t, a->seq, a->del, a->v, a->nv), CANON_PUBLISH);
    assert_int_equal(apply(f, "k", b->source, b->t, b->seq, b->del, b->v, b->nv), second_ab);
    dump(f, keys, 1, &ab);
    if (ab.len != ba.len || memcmp(ab.p, ba.p, ab.len))
        fail_msg("the order changes the final state:\n%.*s\nvs\n%.*s", (int)ab.len,
                 (const char *)ab.p, (int)ba.len, (const char *)ba.p);
    canon_wbuf_free(&ab);
    canon_wbuf_free(&ba);
    return f;
}

/* An UPSERT and a DELETE of one version: the DELETE clears the field whichever came
 * first (the UPSERT after the DELETE is stale; the DELETE after the UPSERT takes the
 * field of its own version). */
static void test_delete_clears_a_field_of_its_own_version_in_either_order(void **state)
{
    tv v[] = {S("given_name", "Ada")};
    upd set = {"hr", 2000, 1, 0, v, 1}, del = {"hr", 2000, 1, 1, NULL, 0};
    fx *f = both_orders_agree(&set, &del, CANON_PUBLISH, CANON_NOOP);
    assert_int_equal(f->r.op, CANON_DELETE);
    canon_wbuf rec = {0};
    assert_int_equal(canon_entity_record(f->e, f->st, "k", 1, &f->r, &rec), 0);
    canon_wbuf_free(&rec);
    fx_free(f);
}

/* Two UPSERTs of one version that give a field different values: the larger canonical
 * encoding wins whichever came first; a value beats a clear (null, branch 0, encodes
 * smallest); the same value again is a no-op. */
static void test_updates_of_one_version_with_different_values_agree_in_either_order(void **state)
{
    tv va[] = {S("email", "a")}, vb[] = {S("email", "b")}, vab[] = {S("email", "ab")};
    tv vc[] = {CLR("email")};
    upd a = {"hr", 2000, 1, 0, va, 1}, b = {"hr", 2000, 1, 0, vb, 1};
    upd ab = {"hr", 2000, 1, 0, vab, 1}, clr = {"hr", 2000, 1, 0, vc, 1};
    fx *f = both_orders_agree(&a, &b, CANON_PUBLISH, CANON_NOOP);
    env x;
    env_read(f, &x);
    assert_string_equal(after_str(&x.v, "after", "email"), "b");
    env_free(&x);
    assert_int_equal(apply(f, "k", "hr", 2000, 1, 0, vb, 1), CANON_NOOP);
    fx_free(f);
    f = both_orders_agree(&a, &ab, CANON_PUBLISH, CANON_NOOP); /* "ab": its length is larger */
    fx_free(f);
    f = both_orders_agree(&clr, &a, CANON_PUBLISH, CANON_NOOP);
    env_read(f, &x);
    assert_string_equal(after_str(&x.v, "after", "email"), "a");
    env_free(&x);
    fx_free(f);
}

static void test_any_order_of_a_set_of_updates_gives_the_same_final_state(void **state)
{
    static const char *const keys[] = {"k0", "k1", "k2"};
    static const char *const sources[] = {"hr", "crm", "support"};
    /* fields each source may write (person.avsc canon.writers) */
    static const char *const may[3][5] = {{"given_name", "family_name", "email", NULL},
                                          {"given_name", "family_name", "email", "phone", NULL},
                                          {"email", "phone", "support_tier", NULL}};
    static const char *const words[] = {"a", "b", "c", "dd"};
    rng.s = 0x243f6a8885a308d3ull;
    for (int round = 0; round < 40; round++) {
        enum { NU = 30 };
        gen u[NU];
        int seqs[NU];
        for (int i = 0; i < NU; i++)
            seqs[i] = i;
        for (int i = NU - 1; i > 0; i--) {
            int j = (int)rnd((uint32_t)i + 1), t = seqs[i];
            seqs[i] = seqs[j];
            seqs[j] = t;
        }
        int src_of[NU];
        for (int i = 0; i < NU; i++) {
            gen *g = &u[i];
            memset(g, 0, sizeof(*g));
            int s = (int)rnd(3);
            snprintf(g->key, sizeof(g->key), "%s", keys[rnd(3)]);
            g->t = 1000 + rnd(4); /* many ties on event_time */
            g->seq = seqs[i];
            /* a quarter reuse an earlier update's key and whole version (a source that
             * reused one): DELETE and UPSERT, or two UPSERTs with other values */
            if (i > 0 && rnd(4) == 0) {
                const gen *o = &u[rnd((uint32_t)i)];
                s = src_of[o - u];
                memcpy(g->key, o->key, sizeof(g->key));
                g->t = o->t;
                g->seq = o->seq;
            }
            src_of[i] = s;
            snprintf(g->source, sizeof(g->source), "%s", sources[s]);
            g->del = rnd(8) == 0;
            if (g->del)
                continue;
            for (int k = 0; may[s][k]; k++) {
                if (rnd(2))
                    continue;
                tv *v = &g->v[g->nv];
                v->field = may[s][k];
                if (rnd(5) == 0) {
                    v->is_null = 1;
                } else {
                    snprintf(g->sv[g->nv], sizeof(g->sv[0]), "%s", words[rnd(4)]);
                    v->s = g->sv[g->nv];
                }
                g->nv++;
            }
        }
        canon_wbuf first = {0}, now = {0};
        int order[NU];
        for (int perm = 0; perm < 25; perm++) {
            fx *f = person_fx();
            for (int i = 0; i < NU; i++)
                order[i] = i;
            for (int i = NU - 1; perm > 0 && i > 0; i--) {
                int j = (int)rnd((uint32_t)i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            for (int i = 0; i < NU; i++) {
                gen *g = &u[order[i]];
                canon_verdict vd = apply(f, g->key, g->source, g->t, g->seq, g->del, g->v, g->nv);
                assert_int_not_equal(vd, CANON_REJECT);
            }
            dump(f, keys, 3, perm == 0 ? &first : &now);
            if (perm > 0) {
                if (now.len != first.len || memcmp(now.p, first.p, now.len))
                    fail_msg("round %d, order %d: final state differs\n%.*s\nvs\n%.*s", round, perm,
                             (int)first.len, (const char *)first.p, (int)now.len,
                             (const char *)now.p);
            }
            fx_free(f);
        }
        canon_wbuf_free(&first);
        canon_wbuf_free(&now);
    }
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void test_corrupt_and_truncated_updates_are_rejected_never_crash(void **state)
{
    fx *f = person_fx();
    canon_wbuf b = {0}, m = {0};
    tv v[] = {S("given_name", "Ada"), S("email", "ada@example.org"), N("employment_status", 2),
              N("birth_date", -5)};
    encode_update(f, &b, "key-1", "hr", 123456789, 77, 0, v, 4);
    canon_msg msg = {.topic = "t", .key = "key-1", .key_len = 5};
    /* every truncation */
    for (size_t n = 0; n < b.len; n++) {
        msg.value = b.p;
        msg.value_len = n;
        assert_null(canon_merge(f->e, f->st, &msg, &f->r));
        assert_int_equal(f->r.verdict, CANON_REJECT);
        assert_true(f->r.message[0] != '\0');
    }
    /* random mutations: any verdict is fine, a crash or sanitizer report is not */
    rng.s = 0x9e3779b97f4a7c15ull;
    int rejected = 0;
    for (int i = 0; i < 20000; i++) {
        m.len = 0;
        canon_wbuf_put(&m, b.p, b.len);
        int nm = 1 + (int)rnd(4);
        for (int k = 0; k < nm; k++) {
            size_t at = 5 + rnd((uint32_t)(m.len - 5));
            switch (rnd(3)) {
            case 0:
                m.p[at] = (uint8_t)rnd(256);
                break;
            case 1:
                m.p[at] ^= (uint8_t)(1u << rnd(8));
                break;
            default:
                m.len = at + 1;
                break;
            }
        }
        msg.value = m.p;
        msg.value_len = m.len;
        assert_null(canon_merge(f->e, f->st, &msg, &f->r));
        if (f->r.verdict == CANON_REJECT) {
            rejected++;
            assert_true(f->r.reason != CANON_OK);
            assert_true(f->r.message[0] != '\0');
        }
    }
    assert_true(rejected > 1000);
    canon_wbuf_free(&m);
    canon_wbuf_free(&b);
    fx_free(f);
}

static void test_decode_error_names_the_field_path(void **state)
{
    fx *f = person_fx();
    canon_wbuf b = {0};
    tv v[] = {S("email", "x")};
    encode_update(f, &b, "k", "crm", 1, 1, 0, v, 1);
    /* values: given_name, family_name are null (0x00 each), then email's union index */
    size_t at = b.len - 1 /* support_tier */ - 1 /* tags */ - 1 /* address */ - 1 /* status */
                - 1 /* birth */ - 1 /* phone */ - 3 /* email: 02 02 'x' */;
    assert_int_equal(b.p[at], 2);
    b.p[at] = 8; /* branch 4 of a 2-branch union */
    canon_msg msg = {.topic = "t", .key = "k", .key_len = 1, .value = b.p, .value_len = b.len};
    assert_null(canon_merge(f->e, f->st, &msg, &f->r));
    assert_int_equal(f->r.reason, CANON_R_DECODE);
    assert_non_null(strstr(f->r.message, "values.email"));
    assert_non_null(strstr(f->r.message, "union branch 4"));
    canon_wbuf_free(&b);
    fx_free(f);
}

static void test_decode_gives_canonical_encodings_of_provided_fields(void **state)
{
    fx *f = person_fx();
    canon_wbuf b = {0};
    tv v[] = {S("given_name", "Ada"), CLR("phone"), N("employment_status", 2)};
    encode_update(f, &b, "k", "hr", 77, 5, 0, v, 3);
    canon_update u;
    assert_int_equal(canon_update_decode(f->e, b.p, b.len, &u, &f->r), 0);
    assert_int_equal(u.schema_id, UPD_ID);
    assert_int_equal(u.key_len, 1);
    assert_memory_equal(u.key, "k", 1);
    assert_int_equal(u.source_len, 2);
    assert_memory_equal(u.source, "hr", 2);
    assert_int_equal(u.event_time, 77);
    assert_int_equal(u.seq, 5);
    assert_false(u.is_delete);
    /* canonical order: person_id, given_name, family_name, email, phone, birth_date,
     * employment_status, ... */
    assert_int_equal(u.n_fields, 10);
    assert_int_equal(u.provided[1], 1);
    assert_int_equal(u.val_len[1], 5);
    assert_memory_equal(u.vals + u.val_off[1],
                        "\x02\x06"
                        "Ada",
                        5);
    assert_int_equal(u.provided[2], 0);
    /* phone is ["null","string"] in the canonical schema: null is its branch 0, a value */
    assert_int_equal(u.provided[4], 1);
    assert_int_equal(u.val_len[4], 1);
    assert_int_equal(u.vals[u.val_off[4]], 0);
    assert_int_equal(u.provided[6], 1);
    assert_memory_equal(u.vals + u.val_off[6], "\x02\x04", 2);
    canon_wbuf_free(&b);
    fx_free(f);

    /* a non-union canonical field: null means clear */
    f = fx_new(thing_schema, thing_v, thing_k, 4);
    tv w[] = {CLR("c"), S("u", "x")};
    encode_update(f, &b, "k", "s", 1, 1, 0, w, 2);
    assert_int_equal(canon_update_decode(f->e, b.p, b.len, &u, &f->r), 0);
    assert_int_equal(u.provided[3], 2);
    /* u is ["string","null"]: the update's branch 1 (string) is canonical branch 0 */
    assert_int_equal(u.provided[4], 1);
    assert_memory_equal(u.vals + u.val_off[4], "\x00\x02x", 3);
    b.len -= 1;
    assert_int_equal(canon_update_decode(f->e, b.p, b.len, &u, &f->r), -1);
    assert_int_equal(f->r.reason, CANON_R_DECODE);
    canon_wbuf_free(&b);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_update_creates_the_entity_with_provenance_and_cause),
        cmocka_unit_test(test_key_longer_than_the_state_keeps_is_rejected),
        cmocka_unit_test(test_canon_record_past_max_record_is_rejected_and_the_state_kept),
        cmocka_unit_test(test_newer_update_overwrites_and_before_holds_the_previous_state),
        cmocka_unit_test(test_older_update_of_a_field_is_stale_and_publishes_nothing),
        cmocka_unit_test(test_stale_fields_are_skipped_while_newer_ones_in_the_same_update_apply),
        cmocka_unit_test(test_ties_on_event_time_are_broken_by_source_then_seq),
        cmocka_unit_test(test_unprovided_fields_are_left_alone_and_provided_null_clears),
        cmocka_unit_test(test_newer_version_with_the_same_value_moves_provenance_only),
        cmocka_unit_test(test_delete_clears_older_fields_and_keeps_newer_ones),
        cmocka_unit_test(test_delete_then_older_update_does_not_resurrect),
        cmocka_unit_test(test_delete_of_an_unknown_key_is_remembered),
        cmocka_unit_test(test_delete_is_remembered_after_a_restore),
        cmocka_unit_test(test_noop_from_a_new_source_leaves_the_source_table_alone),
        cmocka_unit_test(test_source_that_may_not_write_a_field_is_rejected),
        cmocka_unit_test(test_body_key_different_from_message_key_is_rejected),
        cmocka_unit_test(test_unknown_schema_id_and_bad_framing_are_rejected),
        cmocka_unit_test(test_provided_name_unknown_to_the_schema_is_rejected),
        cmocka_unit_test(test_engine_refuses_a_required_non_key_field),
        cmocka_unit_test(test_defaulted_fields_read_as_their_default_until_set_and_after_a_clear),
        cmocka_unit_test(test_update_from_an_older_update_schema_applies_by_field_name),
        cmocka_unit_test(test_restore_rebuilds_the_same_record_and_provenance),
        cmocka_unit_test(test_restore_from_an_envelope_of_an_older_canonical_schema),
        cmocka_unit_test(test_provenance_names_the_update_message_of_each_field),
        cmocka_unit_test(test_equal_versions_from_two_messages_keep_their_own_origins),
        cmocka_unit_test(test_an_envelope_without_origins_is_written_and_restored),
        cmocka_unit_test(test_envelope_with_two_records_in_after_is_refused),
        cmocka_unit_test(test_delete_clears_a_field_of_its_own_version_in_either_order),
        cmocka_unit_test(test_updates_of_one_version_with_different_values_agree_in_either_order),
        cmocka_unit_test(test_any_order_of_a_set_of_updates_gives_the_same_final_state),
        cmocka_unit_test(test_corrupt_and_truncated_updates_are_rejected_never_crash),
        cmocka_unit_test(test_decode_error_names_the_field_path),
        cmocka_unit_test(test_decode_gives_canonical_encodings_of_provided_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
