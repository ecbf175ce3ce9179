/* test_canon_merge_model.c - the merge engine's output, byte for byte, against a model.
 *
 * The engine (canon/merge.c, canon/state.c) is written for speed: compact blobs, cached
 * encodings, reused buffers. This test keeps it honest with a second implementation
 * written for clarity only, straight from ../shared/DESIGN.md "Merge semantics" and
 * docs/wire.md: per key, a plain array of fields (version with the source NAME, value
 * bytes), the rules applied one by one, and the envelope assembled field by field with
 * this file's own varint writer. A long seeded random sequence of updates (ties on
 * event_time and seq, sources whose names are prefixes of others, clears, DELETEs, stale
 * and late updates, writer violations, defaults) goes through both, and every
 * verdict, reason, op, version, changed list and envelope byte must agree. At the end,
 * each key's last envelope is restored into a fresh state (canon_restore()) and the
 * restored record must be the model's.
 *
 * Two schemas: person.avsc (unions with null defaults, canon.writers) and a small one
 * with non-null defaults (one on a field with canon.writers) and a union whose default is
 * a string. The model still knows required fields (neither nullable nor defaulted), but
 * the canon contract refuses them, and so does the engine: neither schema has one. */
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

#include "canon/merge.h"
#include "registry/canon_derive.h"

#define UPD_ID 201
#define ENV_ID 202
#define MAXF   12
#define MAXB   64

/* ---- this file's own Avro writer ------------------------------------------------------ */

typedef struct mbuf {
    uint8_t p[4096];
    size_t n;
} mbuf;

static void m_bytes(mbuf *b, const void *s, size_t n)
{
    assert_true(b->n + n <= sizeof(b->p));
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void m_long(mbuf *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    do {
        uint8_t c = (uint8_t)(z & 0x7f);
        z >>= 7;
        if (z)
            c |= 0x80;
        m_bytes(b, &c, 1);
    } while (z);
}

static void m_str(mbuf *b, const char *s)
{
    m_long(b, (int64_t)strlen(s));
    m_bytes(b, s, strlen(s));
}

/* ---- the schemas, as the model sees them ------------------------------------------------ */

enum kind { KEY, STR, NUM, NEVER }; /* NEVER: a field the workload does not provide */

typedef struct mfield {
    const char *name;
    enum kind kind;
    int branch;        /* canonical union branch of a value, -1 when no union */
    int null_branch;   /* canonical union branch null, -1 when none: a provided null
                          is then a value (that branch), not a clear */
    int required;      /* no default, not nullable */
    uint8_t def[MAXB]; /* canonical encoding of the default */
    size_t def_len;
    const char *writers[4]; /* NULL-terminated; empty: anyone */
} mfield;

typedef struct mschema {
    const char *text; /* canonical schema (NULL: person.avsc) */
    const mfield *f;
    int nf;
    uint32_t nvalues; /* enum NUM fields: values below this */
} mschema;

static const mfield person_f[] = {
    {"person_id", KEY, -1, -1, 0, {0}, 0, {NULL}},
    {"given_name", STR, 1, 0, 0, {0}, 1, {"hr", "crm", NULL}},
    {"family_name", STR, 1, 0, 0, {0}, 1, {"hr", "crm", NULL}},
    {"email", STR, 1, 0, 0, {0}, 1, {NULL}},
    {"phone", STR, 1, 0, 0, {0}, 1, {"crm", "support", NULL}},
    {"birth_date", NUM, 1, 0, 0, {0}, 1, {"hr", NULL}},
    {"employment_status", NUM, 1, 0, 0, {0}, 1, {"hr", NULL}},
    {"address", NEVER, -1, 0, 0, {0}, 1, {NULL}},
    {"tags", NEVER, -1, -1, 0, {0}, 1, {NULL}}, /* [] : block count 0 */
    {"support_tier", STR, 1, 0, 0, {0}, 1, {"support", NULL}},
};

static const char thing_text[] =
    "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"canon.key\":\"id\","
    "\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"a\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"n\",\"type\":\"long\",\"default\":0,\"canon.writers\":[\"hr\",\"h\"]},"
    "{\"name\":\"c\",\"type\":\"int\",\"default\":7},"
    "{\"name\":\"u\",\"type\":[\"string\",\"null\"],\"default\":\"dflt\"}]}";

static const mfield thing_f[] = {
    {"id", KEY, -1, -1, 0, {0}, 0, {NULL}},
    {"a", STR, 1, 0, 0, {0}, 1, {NULL}},
    {"n", NUM, -1, -1, 0, {0}, 1, {"hr", "h", NULL}},
    {"c", NUM, -1, -1, 0, {14}, 1, {NULL}},
    {"u", STR, 0, 1, 0, {0, 8, 'd', 'f', 'l', 't'}, 6, {NULL}},
};

/* ---- the model ---------------------------------------------------------------------------- */

typedef struct mver {
    int64_t t, seq;
    char src[16]; /* "" : no version */
    int32_t part; /* where the update came from: provenance only, never compared */
    int64_t off;
} mver;

typedef struct mval {
    int present, cleared;
    mver v;
    uint8_t val[MAXB];
    size_t len;
} mval;

typedef struct mkey {
    char key[16];
    uint64_t version;
    int has_deleted;
    mver deleted;
    mval f[MAXF];
    mbuf last_env; /* the last envelope published for the key */
} mkey;

/* event_time, then source name bytewise (a prefix first), then seq */
static int ver_cmp(const mver *a, const mver *b)
{
    if (!a->src[0] || !b->src[0])
        return (a->src[0] != 0) - (b->src[0] != 0);
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    int c = strcmp(a->src, b->src);
    if (c)
        return c < 0 ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

static int has_value(const mval *v)
{
    return v->present && !v->cleared;
}

static int m_alive(const mschema *s, const mval *f)
{
    int any = 0;
    for (int i = 0; i < s->nf; i++) {
        if (s->f[i].kind == KEY)
            continue;
        any |= f[i].present;
        if (s->f[i].required && !has_value(&f[i]))
            return 0;
    }
    return any;
}

/* The record encoding of v as field i: its value, or the default. */
static void m_value(const mschema *s, int i, const mval *v, const uint8_t **p, size_t *n)
{
    if (has_value(v)) {
        *p = v->val;
        *n = v->len;
    } else {
        *p = s->f[i].def;
        *n = s->f[i].def_len;
    }
}

static void m_field(const mschema *s, const mval *f, int i, const uint8_t **p, size_t *n)
{
    m_value(s, i, &f[i], p, n);
}

static void m_record(const mschema *s, const mkey *k, const mval *f, mbuf *b)
{
    for (int i = 0; i < s->nf; i++) {
        if (s->f[i].kind == KEY) {
            m_str(b, k->key);
            continue;
        }
        const uint8_t *p;
        size_t n;
        m_field(s, f, i, &p, &n);
        m_bytes(b, p, n);
    }
}

static void m_version(mbuf *b, const mver *v)
{
    m_str(b, v->src);
    m_long(b, v->t);
    m_long(b, v->seq);
    m_long(b, v->part);
    m_long(b, v->off);
}

/* One update, as the model sees it. */
typedef struct mupd {
    const char *key, *src;
    int64_t t, seq;
    int del;
    int n;
    int field[MAXF];
    int is_null[MAXF];
    const char *s[MAXF];
    int64_t num[MAXF];
} mupd;

typedef struct mout {
    canon_verdict verdict;
    canon_reason reason;
    canon_change_op op;
    uint64_t version;
    int changed[MAXF], n_changed;
    mbuf env;
} mout;

static int may_write(const mfield *f, const char *src)
{
    if (!f->writers[0])
        return 1;
    for (int k = 0; f->writers[k]; k++) {
        if (!strcmp(f->writers[k], src))
            return 1;
    }
    return 0;
}

static void m_apply(const mschema *s, mkey *k, const mupd *u, const char *topic, int32_t part,
                    int64_t offset, mout *o)
{
    memset(o, 0, sizeof(*o));
    o->verdict = CANON_REJECT;
    /* writers and non-clearable fields, in canonical field order */
    for (int i = 0; i < s->nf && !u->del; i++) {
        int j;
        for (j = 0; j < u->n && u->field[j] != i; j++)
            ;
        if (j == u->n)
            continue;
        if (!may_write(&s->f[i], u->src)) {
            o->reason = CANON_R_WRITER;
            return;
        }
        if (u->is_null[j] && s->f[i].null_branch < 0 && s->f[i].required) {
            o->reason = CANON_R_REQUIRED;
            return;
        }
    }
    mver uv = {.t = u->t, .seq = u->seq, .part = part, .off = offset};
    snprintf(uv.src, sizeof(uv.src), "%s", u->src);
    mval nf[MAXF];
    memcpy(nf, k->f, sizeof(nf));
    int has_deleted = k->has_deleted;
    mver deleted = k->deleted;
    if (u->del) {
        if (k->has_deleted && ver_cmp(&uv, &k->deleted) <= 0) {
            o->verdict = CANON_NOOP;
            return;
        }
        for (int i = 0; i < s->nf; i++) { /* its own version included */
            if (nf[i].present && ver_cmp(&nf[i].v, &uv) <= 0)
                memset(&nf[i], 0, sizeof(nf[i]));
        }
        has_deleted = 1;
        deleted = uv;
    } else {
        int applied = 0;
        for (int j = 0; j < u->n; j++) {
            int i = u->field[j];
            mval cand, *f = &cand;
            memset(f, 0, sizeof(*f));
            f->present = 1;
            f->v = uv;
            f->cleared = u->is_null[j] && s->f[i].null_branch < 0;
            if (u->is_null[j] && !f->cleared) {
                mbuf b = {.n = 0};
                m_long(&b, s->f[i].null_branch);
                memcpy(f->val, b.p, b.n);
                f->len = b.n;
            } else if (!f->cleared) {
                mbuf b = {.n = 0};
                if (s->f[i].branch >= 0)
                    m_long(&b, s->f[i].branch);
                if (s->f[i].kind == STR)
                    m_str(&b, u->s[j]);
                else
                    m_long(&b, u->num[j]);
                memcpy(f->val, b.p, b.n);
                f->len = b.n;
            }
            if (k->has_deleted && ver_cmp(&uv, &k->deleted) <= 0)
                continue;
            int c = nf[i].present ? ver_cmp(&uv, &nf[i].v) : 1;
            if (c == 0) { /* one version, two values: the larger record encoding wins */
                const uint8_t *a, *b;
                size_t na, nb;
                m_value(s, i, &cand, &a, &na);
                m_value(s, i, &nf[i], &b, &nb);
                c = memcmp(a, b, na < nb ? na : nb);
                if (!c)
                    c = (na > nb) - (na < nb);
            }
            if (c <= 0)
                continue;
            nf[i] = cand;
            applied++;
        }
        if (!applied) {
            o->verdict = CANON_NOOP;
            return;
        }
        for (int i = 0; i < s->nf; i++) {
            if (s->f[i].required && !has_value(&nf[i])) {
                o->reason = CANON_R_REQUIRED;
                return;
            }
        }
    }
    int was = m_alive(s, k->f), is = m_alive(s, nf);
    for (int i = 0; i < s->nf; i++) {
        if (s->f[i].kind == KEY)
            continue;
        const uint8_t *a, *b;
        size_t na, nb;
        m_field(s, k->f, i, &a, &na);
        m_field(s, nf, i, &b, &nb);
        if (na != nb || memcmp(a, b, na))
            o->changed[o->n_changed++] = i;
    }
    o->verdict = CANON_PUBLISH;
    o->reason = CANON_OK;
    o->op = !was && is ? CANON_CREATE : !is ? CANON_DELETE : CANON_UPDATE;
    o->version = k->version + 1;

    mbuf *b = &o->env;
    uint8_t hdr[5] = {0, 0, 0, 0, ENV_ID};
    m_bytes(b, hdr, 5);
    m_str(b, k->key);
    m_long(b, (int64_t)o->version);
    m_long(b, o->op);
    m_long(b, was ? 1 : 0);
    if (was)
        m_record(s, k, k->f, b);
    m_long(b, is ? 1 : 0);
    if (is)
        m_record(s, k, nf, b);
    if (o->n_changed) {
        m_long(b, o->n_changed);
        for (int c = 0; c < o->n_changed; c++)
            m_str(b, s->f[o->changed[c]].name);
    }
    m_long(b, 0);
    int np = 0;
    for (int i = 0; i < s->nf; i++)
        np += nf[i].present;
    if (np) {
        m_long(b, np);
        for (int i = 0; i < s->nf; i++) {
            if (!nf[i].present)
                continue;
            m_str(b, s->f[i].name);
            m_version(b, &nf[i].v);
        }
    }
    m_long(b, 0);
    m_long(b, has_deleted ? 1 : 0);
    if (has_deleted)
        m_version(b, &deleted);
    m_str(b, topic);
    m_long(b, part);
    m_long(b, offset);

    memcpy(k->f, nf, sizeof(nf));
    k->has_deleted = has_deleted;
    k->deleted = deleted;
    k->version = o->version;
    k->last_env = *b;
}

/* ---- the engine ------------------------------------------------------------------------------ */

static char *read_example(const char *name)
{
    return test_data_example(name);
}

/* The update as a domain writes it: docs/wire.md field order; each values field is
 * ["null", T] in the update schema. */
static void encode_update(const mschema *s, const mupd *u, mbuf *b)
{
    b->n = 0;
    uint8_t hdr[5] = {0, 0, 0, 0, UPD_ID};
    m_bytes(b, hdr, 5);
    m_str(b, u->key);
    m_str(b, u->src);
    m_long(b, u->t);
    m_long(b, u->seq);
    m_long(b, u->del ? 1 : 0);
    if (u->n) {
        m_long(b, u->n);
        for (int j = 0; j < u->n; j++)
            m_str(b, s->f[u->field[j]].name);
    }
    m_long(b, 0);
    for (int i = 0; i < s->nf; i++) {
        if (s->f[i].kind == KEY)
            continue;
        int j;
        for (j = 0; j < u->n && u->field[j] != i; j++)
            ;
        if (j == u->n || u->is_null[j]) {
            m_long(b, 0);
            continue;
        }
        m_long(b, 1);
        if (s->f[i].kind == STR)
            m_str(b, u->s[j]);
        else
            m_long(b, u->num[j]);
    }
}

static test_rng rng;
static uint32_t rnd(uint32_t n)
{
    return test_rng_next(&rng, n);
}

static void describe_difference(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, char *out,
                                size_t outsz)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    snprintf(out, outsz, "lengths %zu (engine) vs %zu (model), first difference at byte %zu", na,
             nb, i);
}

static void run(const mschema *s, int n_updates, int n_keys, uint64_t seed)
{
    static const char *const sources[] = {"hr", "crm", "support", "h", "hrx", "crm"};
    static const char *const words[] = {"a", "b", "Ada", "Lovelace", "", "z"};
    char *text = s->text ? NULL : read_example("person.avsc");
    const char *canon_text = s->text ? s->text : text;
    reg_schema *canonical = NULL, *us = NULL;
    char *upd_text = NULL;
    canon_engine *e = NULL;
    canon_state *st = NULL;
    canon_result r;
    canon_result_init(&r);
    assert_null(reg_schema_parse(canon_text, strlen(canon_text), NULL, 0, &canonical));
    assert_null(reg_canon_derive_update(canonical, &upd_text));
    assert_null(reg_schema_parse(upd_text, strlen(upd_text), NULL, 0, &us));
    assert_null(canon_engine_new(canonical, ENV_ID, &e));
    assert_null(canon_engine_add_update_schema(e, UPD_ID, us));
    assert_int_equal(canon_engine_n_fields(e), (uint32_t)s->nf);
    assert_null(canon_state_new(canon_engine_n_fields(e), &st));

    mkey *keys = calloc((size_t)n_keys, sizeof(mkey));
    assert_non_null(keys);
    for (int k = 0; k < n_keys; k++)
        snprintf(keys[k].key, sizeof(keys[k].key), "key-%d", k);
    int provided_fields[MAXF], n_pf = 0;
    for (int i = 0; i < s->nf; i++) {
        if (s->f[i].kind == STR || s->f[i].kind == NUM)
            provided_fields[n_pf++] = i;
    }
    rng.s = seed;
    long counts[3] = {0, 0, 0};
    mbuf in;
    for (int n = 0; n < n_updates; n++) {
        mupd u;
        memset(&u, 0, sizeof(u));
        mkey *k = &keys[rnd((uint32_t)n_keys)];
        u.key = k->key;
        u.src = sources[rnd(6)];
        u.t = 1000 + rnd(6) + n / 64; /* ties on event_time; late updates */
        u.seq = rnd(4);               /* and whole-version ties */
        u.del = rnd(25) == 0;
        for (int j = 0; !u.del && j < n_pf; j++) {
            if (rnd(3))
                continue;
            int i = provided_fields[j];
            /* mostly fields the source may write; sometimes not (WRITER) */
            if (!may_write(&s->f[i], u.src) && rnd(8))
                continue;
            u.field[u.n] = i;
            u.is_null[u.n] = rnd(6) == 0;
            u.s[u.n] = words[rnd(6)];
            u.num[u.n] = (int64_t)rnd(s->nvalues);
            u.n++;
        }
        /* provided in a random order: the envelope must not depend on it */
        for (int j = u.n - 1; j > 0; j--) {
            int x = (int)rnd((uint32_t)j + 1);
            int tf = u.field[j], tn = u.is_null[j];
            const char *ts = u.s[j];
            int64_t tnum = u.num[j];
            u.field[j] = u.field[x], u.is_null[j] = u.is_null[x], u.s[j] = u.s[x];
            u.num[j] = u.num[x];
            u.field[x] = tf, u.is_null[x] = tn, u.s[x] = ts, u.num[x] = tnum;
        }
        encode_update(s, &u, &in);
        const char *topic = n % 2 ? "canon.t.updates" : "canon.thing.updates.longer-topic";
        canon_msg m = {.topic = topic,
                       .partition = n % 7,
                       .offset = 1000000000LL + n * 977,
                       .key = u.key,
                       .key_len = strlen(u.key),
                       .value = in.p,
                       .value_len = in.n};
        mout o;
        m_apply(s, k, &u, topic, m.partition, m.offset, &o);
        assert_null(canon_merge(e, st, &m, &r));
        if (r.verdict != o.verdict || (o.verdict == CANON_REJECT && r.reason != o.reason))
            fail_msg("update %d (%s): engine says %d/%s (%s), model %d/%s", n, u.key, r.verdict,
                     canon_reason_name(r.reason), r.message, o.verdict,
                     canon_reason_name(o.reason));
        counts[o.verdict]++;
        if (o.verdict != CANON_PUBLISH)
            continue;
        assert_int_equal(r.op, o.op);
        assert_int_equal(r.version, o.version);
        int same = r.n_changed == (uint32_t)o.n_changed;
        for (int c = 0; same && c < o.n_changed; c++)
            same = r.changed[c] == (uint32_t)o.changed[c];
        if (!same) {
            /* what differs, and the update, before failing */
            for (uint32_t c = 0; c < r.n_changed; c++)
                print_message("engine changed %u\n", r.changed[c]);
            for (int c = 0; c < o.n_changed; c++)
                print_message("model changed %d\n", o.changed[c]);
            for (int j = 0; j < u.n; j++)
                print_message("provided %d null %d s '%s' n %lld\n", u.field[j], u.is_null[j],
                              u.s[j], (long long)u.num[j]);
            fail_msg("update %d (%s): engine changed %u fields, model %d", n, u.key, r.n_changed,
                     o.n_changed);
        }
        if (r.envelope.len != o.env.n || memcmp(r.envelope.p, o.env.p, o.env.n)) {
            char why[200];
            describe_difference(r.envelope.p, r.envelope.len, o.env.p, o.env.n, why, sizeof(why));
            fail_msg("update %d (%s): envelope differs: %s", n, u.key, why);
        }
    }
    /* the sequence exercised every verdict */
    assert_true(counts[CANON_PUBLISH] > n_updates / 4);
    assert_true(counts[CANON_NOOP] > 10);
    assert_true(counts[CANON_REJECT] > 10);

    /* restore each key from its last envelope: the record is the model's */
    canon_state *st2 = NULL;
    assert_null(canon_state_new(canon_engine_n_fields(e), &st2));
    canon_wbuf rec = {0};
    for (int i = 0; i < n_keys; i++) {
        mkey *k = &keys[i];
        if (!k->version)
            continue;
        assert_null(
            canon_restore(e, st2, k->key, strlen(k->key), k->last_env.p, k->last_env.n, &r));
        rec.len = 0;
        int alive = canon_entity_record(e, st2, k->key, strlen(k->key), &r, &rec);
        assert_int_equal(alive, m_alive(s, k->f));
        if (alive) {
            mbuf want = {.n = 0};
            m_record(s, k, k->f, &want);
            assert_int_equal(rec.len, want.n);
            assert_memory_equal(rec.p, want.p, want.n);
        }
    }
    canon_wbuf_free(&rec);
    canon_state_free(st2);

    free(keys);
    canon_state_free(st);
    canon_result_clear(&r);
    canon_engine_free(e);
    reg_schema_free(us);
    reg_schema_free(canonical);
    free(upd_text);
    free(text);
}

static void test_person_envelopes_are_byte_identical_to_the_model(void **state)
{
    (void)state;
    mschema s = {NULL, person_f, (int)(sizeof(person_f) / sizeof(person_f[0])), 4};
    run(&s, 40000, 300, 0x9e3779b97f4a7c15ull);
    run(&s, 5000, 7, 0x243f6a8885a308d3ull); /* few keys: long histories */
}

static void test_defaulted_fields_match_the_model(void **state)
{
    (void)state;
    mschema s = {thing_text, thing_f, (int)(sizeof(thing_f) / sizeof(thing_f[0])), 1000};
    run(&s, 20000, 100, 0x853c49e6748fea9bull);
}

/* ---- the walk without messages refuses exactly what the walk with messages refuses ---- */

/* A valid person update with every kind of value: optional strings, int, enum, the
 * nested address record and the tags array (possibly in several blocks). */
static void encode_full_update(mbuf *b)
{
    static const char *const words[] = {"", "a", "Edinburgh", "EH8 8DD", "x"};
    b->n = 0;
    uint8_t hdr[5] = {0, 0, 0, 0, UPD_ID};
    m_bytes(b, hdr, 5);
    m_str(b, "key-1");
    m_str(b, "hr");
    m_long(b, 1700000000000LL + rnd(1000));
    m_long(b, rnd(100000));
    m_long(b, rnd(2));
    m_long(b, 2);
    m_str(b, "email");
    m_str(b, "tags");
    m_long(b, 0);
    for (int i = 1; i < 10; i++) { /* values fields, canonical order without the key */
        if (rnd(3) == 0) {
            m_long(b, 0);
            continue;
        }
        m_long(b, 1);
        switch (i) {
        case 5: /* birth_date */
            m_long(b, (int64_t)rnd(40000) - 20000);
            break;
        case 6: /* employment_status */
            m_long(b, rnd(4));
            break;
        case 7: /* address: four optional strings */
            for (int k = 0; k < 4; k++) {
                if (rnd(2)) {
                    m_long(b, 0);
                } else {
                    m_long(b, 1);
                    m_str(b, words[rnd(5)]);
                }
            }
            break;
        case 8: { /* tags: one or two blocks, the second with a byte size */
            int n = (int)rnd(3);
            if (n) {
                m_long(b, n);
                for (int k = 0; k < n; k++)
                    m_str(b, words[rnd(5)]);
            }
            if (rnd(2)) {
                m_long(b, -1);
                m_long(b, 2);
                m_str(b, "v");
            }
            m_long(b, 0);
            break;
        }
        default:
            m_str(b, words[rnd(5)]);
        }
    }
}

static void test_fast_walk_refuses_exactly_what_the_explaining_walk_refuses(void **state)
{
    (void)state;
    char *text = read_example("person.avsc");
    reg_schema *canonical = NULL, *us = NULL;
    char *upd_text = NULL;
    canon_walk *w = NULL;
    assert_null(reg_schema_parse(text, strlen(text), NULL, 0, &canonical));
    assert_null(reg_canon_derive_update(canonical, &upd_text));
    assert_null(reg_schema_parse(upd_text, strlen(upd_text), NULL, 0, &us));
    assert_null(canon_walk_compile(reg_schema_root(us), &w));
    uint32_t root = canon_walk_root(w);
    /* the values record: the one record field of the update */
    uint32_t vop = UINT32_MAX;
    for (uint32_t i = 0; i < canon_walk_count(w, root); i++) {
        if (!strcmp(canon_walk_field_name(w, root, i), "values"))
            vop = canon_walk_child(w, root, i);
    }
    assert_int_not_equal(vop, UINT32_MAX);
    uint32_t nv = canon_walk_count(w, vop);
    const uint8_t *s1[16], *e1[16], *s2[16], *e2[16];
    assert_true(nv <= 16);
    rng.s = 0x1234567887654321ull;
    long agree_ok = 0, agree_bad = 0;
    for (int round = 0; round < 30000; round++) {
        mbuf b;
        encode_full_update(&b);
        /* mutate: flip bytes, cut, or leave valid */
        int how = (int)rnd(4);
        if (how == 1 || how == 3) {
            for (int k = 0, n = 1 + (int)rnd(3); k < n; k++)
                b.p[5 + rnd((uint32_t)(b.n - 5))] = (uint8_t)rnd(256);
        }
        if (how >= 2)
            b.n = 5 + rnd((uint32_t)(b.n - 5) + 1);
        const uint8_t *end = b.p + b.n;
        const uint8_t *p1 = b.p + 5, *p2 = b.p + 5;
        char msg[200];
        int r1 = canon_walk_check(w, root, &p1, end);
        int r2 = canon_walk_skip(w, root, &p2, end, NULL, msg, sizeof(msg));
        if (r1 != r2)
            fail_msg("round %d: fast walk says %d, explaining walk %d (%s)", round, r1, r2,
                     r2 ? msg : "");
        if (!r1)
            assert_ptr_equal(p1, p2);
        agree_ok += !r1;
        agree_bad += r1 != 0;
        /* the values record alone, with its field spans */
        const uint8_t *q = b.p + 5;
        for (uint32_t i = 0; i < canon_walk_count(w, root); i++) {
            uint32_t op = canon_walk_child(w, root, i);
            if (op == vop)
                break;
            if (canon_walk_check(w, op, &q, end)) {
                q = NULL;
                break;
            }
        }
        if (!q)
            continue;
        const uint8_t *q1 = q, *q2 = q;
        r1 = canon_walk_record_check(w, vop, &q1, end, s1, e1);
        r2 = canon_walk_record(w, vop, &q2, end, s2, e2, "values", msg, sizeof(msg));
        if (r1 != r2)
            fail_msg("round %d: values: fast walk says %d, explaining walk %d (%s)", round, r1, r2,
                     r2 ? msg : "");
        if (!r1) {
            assert_ptr_equal(q1, q2);
            for (uint32_t i = 0; i < nv; i++) {
                assert_ptr_equal(s1[i], s2[i]);
                assert_ptr_equal(e1[i], e2[i]);
            }
        }
    }
    assert_true(agree_ok > 1000);
    assert_true(agree_bad > 1000);
    canon_walk_free(w);
    reg_schema_free(us);
    reg_schema_free(canonical);
    free(upd_text);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_walk_refuses_exactly_what_the_explaining_walk_refuses),
        cmocka_unit_test(test_person_envelopes_are_byte_identical_to_the_model),
        cmocka_unit_test(test_defaulted_fields_match_the_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
