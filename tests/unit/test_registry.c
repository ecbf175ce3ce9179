/* test_registry.c - the registry core (registry.h), as tests.
 *
 * Each test runs against a registry on a fresh database file and speaks to it through
 * the same calls the HTTP layer makes, so the rules proven here are the API's: one id
 * per schema identity across subjects, no check on re-registration, version numbers
 * never reused, the soft-then-hard delete discipline with its codes, modes, and
 * everything surviving a reopen. Schemas come from the real parser and compatibility
 * engine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "registry/registry.h"

#define REC_A                                                                                      \
    "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\",\"type\":\"string\"}]}"
/* REC_A with other whitespace and key order: the same identity. */
#define REC_A2                                                                                     \
    "{ \"name\" : \"A\", \"type\" : \"record\",\r\n \"fields\" : [ { \"type\" : \"string\", "      \
    "\"name\" : \"x\" } ] }"
/* Adds a field with a default: backward compatible with REC_A. */
#define REC_B                                                                                      \
    "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\",\"type\":\"string\"},{"       \
    "\"name\":\"y\",\"type\":\"int\",\"default\":0}]}"
/* Adds a field without a default: not backward compatible with REC_A. */
#define REC_BAD                                                                                    \
    "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\",\"type\":\"string\"},{"       \
    "\"name\":\"z\",\"type\":\"int\"}]}"

typedef struct fixture {
    char dir[64];
    char path[96];
    reg_registry *r;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_registry_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/reg.db", f->dir);
    cg_err *err = reg_registry_open(f->path, &f->r);
    if (err)
        fail_msg("open: %s", cg_err_msg(err));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    reg_registry_free(f->r);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void reopen(fixture *f)
{
    reg_registry_free(f->r);
    f->r = NULL;
    cg_err *err = reg_registry_open(f->path, &f->r);
    if (err)
        fail_msg("reopen: %s", cg_err_msg(err));
}

/* Builds {"schema": text, ...extra} as a request body. */
static char *req(const char *text, const char *extra)
{
    json_t *o = json_object();
    json_object_set_new(o, "schema", json_string(text));
    if (extra) {
        json_t *e = json_loads(extra, 0, NULL);
        assert_non_null(e);
        json_object_update(o, e);
        json_decref(e);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static const reg_opts no_opts;

/* Registers and returns the id, failing the test on an error. */
static int reg_ok(reg_registry *r, const char *subject, const char *text)
{
    char *b = req(text, NULL);
    reg_body out = {0};
    cg_err *err = reg_register(r, subject, b, strlen(b), &no_opts, &out);
    free(b);
    if (err)
        fail_msg("register %s: %s", subject, cg_err_msg(err));
    json_t *j = json_loads(out.data, 0, NULL);
    free(out.data);
    assert_non_null(j);
    int id = (int)json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    assert_true(id > 0);
    return id;
}

/* Runs a call expected to fail and returns its code. */
static int code_of(cg_err *err, reg_body *out)
{
    assert_non_null(err);
    assert_null(out->data);
    int c = cg_err_code(err);
    cg_err_free(err);
    return c;
}

static int reg_code(reg_registry *r, const char *subject, const char *text, const char *extra)
{
    char *b = req(text, extra);
    reg_body out = {0};
    int c = code_of(reg_register(r, subject, b, strlen(b), &no_opts, &out), &out);
    free(b);
    return c;
}

/* Calls a read that returns JSON and compares it to want (compact). */
static void expect_body(cg_err *err, reg_body *out, const char *want)
{
    if (err)
        fail_msg("unexpected error %d: %s", cg_err_code(err), cg_err_msg(err));
    json_t *got = json_loads(out->data, JSON_DECODE_ANY, NULL);
    json_t *exp = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(got);
    assert_non_null(exp);
    if (!json_equal(got, exp))
        fail_msg("got %s, want %s", out->data, want);
    json_decref(got);
    json_decref(exp);
    free(out->data);
    out->data = NULL;
}

static void versions_are(reg_registry *r, const char *subject, int deleted, const char *want)
{
    reg_opts o = {0};
    o.deleted = deleted;
    reg_body out = {0};
    expect_body(reg_versions(r, subject, &o, &out), &out, want);
}

static void test_same_schema_gets_same_id_in_any_subject_and_any_spelling(void **state)
{
    fixture *f = *state;
    int a = reg_ok(f->r, "s1", REC_A);
    assert_int_equal(a, 1);
    assert_int_equal(reg_ok(f->r, "s1", REC_A2), a); /* re-registration: no new version */
    versions_are(f->r, "s1", 0, "[1]");
    assert_int_equal(reg_ok(f->r, "other/subject", REC_A2), a);
    versions_are(f->r, "other/subject", 0, "[1]");
    int b = reg_ok(f->r, "s1", REC_B);
    assert_int_equal(b, 2);
    versions_are(f->r, "s1", 0, "[1,2]");
    /* The text kept is the text first registered. */
    reg_body out = {0};
    reg_opts o = {0};
    assert_null(reg_schema_get(f->r, a, &o, 1, &out));
    assert_string_equal(out.data, REC_A);
    free(out.data);
}

static void test_reregistering_an_existing_version_skips_the_check(void **state)
{
    fixture *f = *state;
    reg_body out = {0};
    const char *none = "{\"compatibility\":\"NONE\"}";
    assert_null(reg_config_put(f->r, "s", none, strlen(none), &out));
    free(out.data);
    reg_ok(f->r, "s", REC_A);
    reg_ok(f->r, "s", REC_BAD);
    /* Under FULL_TRANSITIVE, REC_A could not be registered after REC_BAD (REC_BAD cannot
     * read REC_A's data: 'z' has no default). But it is version 1 already, so registering
     * it again returns its id without a check (CSR#2430). */
    const char *ft = "{\"compatibility\":\"FULL_TRANSITIVE\"}";
    assert_null(reg_config_put(f->r, "s", ft, strlen(ft), &out));
    free(out.data);
    assert_int_equal(reg_ok(f->r, "s", REC_A), 1);
    assert_int_equal(reg_ok(f->r, "s", REC_A2), 1);
    versions_are(f->r, "s", 0, "[1,2]");
    /* A schema the subject does not have is checked: REC_BAD cannot read REC_B's data
     * ('z' again), so under FULL_TRANSITIVE REC_B is refused. */
    assert_int_equal(reg_code(f->r, "s", REC_B, NULL), CG_EINCOMPATIBLE);
}

static void test_incompatible_schema_is_refused_with_409_unless_level_none(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "s", REC_A);
    assert_int_equal(reg_code(f->r, "s", REC_BAD, NULL), CG_EINCOMPATIBLE);
    versions_are(f->r, "s", 0, "[1]");
    reg_body out = {0};
    const char *none = "{\"compatibility\":\"NONE\"}";
    assert_null(reg_config_put(f->r, "s", none, strlen(none), &out));
    free(out.data);
    reg_ok(f->r, "s", REC_BAD);
    versions_are(f->r, "s", 0, "[1,2]");
}

static void test_invalid_schema_and_unsupported_type_are_42201(void **state)
{
    fixture *f = *state;
    assert_int_equal(reg_code(f->r, "s", "{\"type\":\"nope\"}", NULL), CG_EINVALID_SCHEMA);
    assert_int_equal(reg_code(f->r, "s", "{}", "{\"schemaType\":\"PROTOBUF\"}"),
                     CG_EINVALID_SCHEMA);
    reg_body out = {0};
    assert_int_equal(code_of(reg_versions(f->r, "s", &no_opts, &out), &out), CG_ESUBJECT_NOT_FOUND);
}

static void test_version_reads_latest_and_errors(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "s", REC_A);
    reg_ok(f->r, "s", REC_B);
    reg_body out = {0};
    cg_err *err = reg_version_get(f->r, "s", "latest", &no_opts, 0, &out);
    json_t *want =
        json_pack("{s:s,s:i,s:i,s:s}", "subject", "s", "version", 2, "id", 2, "schema", REC_B);
    char *w = json_dumps(want, JSON_COMPACT);
    expect_body(err, &out, w);
    free(w);
    json_decref(want);
    assert_null(reg_version_get(f->r, "s", "-1", &no_opts, 1, &out));
    assert_string_equal(out.data, REC_B);
    free(out.data);
    out.data = NULL;
    assert_int_equal(code_of(reg_version_get(f->r, "s", "3", &no_opts, 0, &out), &out),
                     CG_EVERSION_NOT_FOUND);
    assert_int_equal(code_of(reg_version_get(f->r, "s", "0", &no_opts, 0, &out), &out),
                     CG_EINVALID_VERSION);
    assert_int_equal(code_of(reg_version_get(f->r, "s", "abc", &no_opts, 0, &out), &out),
                     CG_EINVALID_VERSION);
    assert_int_equal(code_of(reg_version_get(f->r, "nope", "1", &no_opts, 0, &out), &out),
                     CG_ESUBJECT_NOT_FOUND);
}

static void test_lookup_finds_any_spelling_and_says_why_not(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "s", REC_A);
    char *b = req(REC_A2, NULL);
    reg_body out = {0};
    cg_err *err = reg_lookup(f->r, "s", b, strlen(b), &no_opts, &out);
    free(b);
    json_t *want =
        json_pack("{s:s,s:i,s:i,s:s}", "subject", "s", "version", 1, "id", 1, "schema", REC_A);
    char *w = json_dumps(want, JSON_COMPACT);
    expect_body(err, &out, w);
    free(w);
    json_decref(want);
    b = req(REC_B, NULL);
    assert_int_equal(code_of(reg_lookup(f->r, "s", b, strlen(b), &no_opts, &out), &out),
                     CG_ESCHEMA_NOT_FOUND);
    assert_int_equal(code_of(reg_lookup(f->r, "t", b, strlen(b), &no_opts, &out), &out),
                     CG_ESUBJECT_NOT_FOUND);
    free(b);
}

static void test_soft_then_hard_delete_rules(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "s", REC_A);
    reg_ok(f->r, "s", REC_B);
    reg_opts soft = {0}, hard = {0};
    hard.permanent = 1;
    reg_body out = {0};
    /* hard before soft: 40407 */
    assert_int_equal(code_of(reg_delete_version(f->r, "s", "1", &hard, &out), &out),
                     CG_EVERSION_NOT_SOFT_DELETED);
    expect_body(reg_delete_version(f->r, "s", "1", &soft, &out), &out, "1");
    assert_int_equal(code_of(reg_delete_version(f->r, "s", "1", &soft, &out), &out),
                     CG_EVERSION_SOFT_DELETED);
    versions_are(f->r, "s", 0, "[2]");
    versions_are(f->r, "s", 1, "[1,2]");
    /* the id stays readable after a soft delete */
    assert_null(reg_schema_get(f->r, 1, &no_opts, 0, &out));
    free(out.data);
    out.data = NULL;
    expect_body(reg_delete_version(f->r, "s", "1", &hard, &out), &out, "1");
    versions_are(f->r, "s", 1, "[2]");
    /* the id had no other use: gone */
    assert_int_equal(code_of(reg_schema_get(f->r, 1, &no_opts, 0, &out), &out),
                     CG_ESCHEMA_NOT_FOUND);
    /* subject: hard before soft 40405, soft twice 40404 */
    assert_int_equal(code_of(reg_delete_subject(f->r, "s", &hard, &out), &out),
                     CG_ESUBJECT_NOT_SOFT_DELETED);
    expect_body(reg_delete_subject(f->r, "s", &soft, &out), &out, "[2]");
    assert_int_equal(code_of(reg_delete_subject(f->r, "s", &soft, &out), &out),
                     CG_ESUBJECT_SOFT_DELETED);
    expect_body(reg_subjects(f->r, &no_opts, &out), &out, "[]");
    expect_body(reg_delete_subject(f->r, "s", &hard, &out), &out, "[2]");
    assert_int_equal(code_of(reg_delete_subject(f->r, "s", &soft, &out), &out),
                     CG_ESUBJECT_NOT_FOUND);
}

static void test_version_numbers_and_ids_are_never_reused(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "s", REC_A);
    reg_ok(f->r, "s", REC_B);
    reg_opts soft = {0};
    reg_body out = {0};
    expect_body(reg_delete_version(f->r, "s", "2", &soft, &out), &out, "2");
    int c = reg_ok(f->r, "s",
                   "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\","
                   "\"type\":\"string\"},{\"name\":\"w\",\"type\":\"long\","
                   "\"default\":1}]}");
    assert_int_equal(c, 3);
    versions_are(f->r, "s", 1, "[1,2,3]");
    /* Hard-delete version 3 and reopen: a new schema gets id 4, not 3. */
    reg_opts hard = {0};
    hard.permanent = 1;
    expect_body(reg_delete_version(f->r, "s", "3", &soft, &out), &out, "3");
    expect_body(reg_delete_version(f->r, "s", "3", &hard, &out), &out, "3");
    reopen(f);
    int d = reg_ok(f->r, "t", "\"string\"");
    assert_int_equal(d, 4);
}

static void test_reopen_keeps_versions_ids_configs_and_modes(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "s", REC_A);
    reg_ok(f->r, "s", REC_B);
    reg_ok(f->r, "u", REC_A2);
    reg_body out = {0};
    const char *full = "{\"compatibility\":\"FULL\"}";
    assert_null(reg_config_put(f->r, "u", full, strlen(full), &out));
    free(out.data);
    const char *ro = "{\"mode\":\"READONLY\"}";
    assert_null(reg_mode_put(f->r, "u", ro, strlen(ro), &no_opts, &out));
    free(out.data);
    out.data = NULL;
    reopen(f);
    versions_are(f->r, "s", 0, "[1,2]");
    versions_are(f->r, "u", 0, "[1]");
    expect_body(reg_subjects(f->r, &no_opts, &out), &out, "[\"s\",\"u\"]");
    expect_body(reg_config_get(f->r, "u", &no_opts, &out), &out,
                "{\"compatibilityLevel\":\"FULL\"}");
    expect_body(reg_mode_get(f->r, "u", &no_opts, &out), &out, "{\"mode\":\"READONLY\"}");
    assert_null(reg_schema_get(f->r, 2, &no_opts, 1, &out));
    assert_string_equal(out.data, REC_B);
    free(out.data);
    /* The identity survives the reopen too: the same schema keeps its id. */
    assert_int_equal(reg_ok(f->r, "v", REC_A2), 1);
}

static void test_readonly_mode_blocks_writes_with_42205(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "s", REC_A);
    reg_body out = {0};
    const char *ro = "{\"mode\":\"READONLY\"}";
    assert_null(reg_mode_put(f->r, NULL, ro, strlen(ro), &no_opts, &out));
    free(out.data);
    out.data = NULL;
    assert_int_equal(reg_code(f->r, "s", REC_B, NULL), CG_EOPERATION_NOT_PERMITTED);
    assert_int_equal(code_of(reg_delete_subject(f->r, "s", &no_opts, &out), &out),
                     CG_EOPERATION_NOT_PERMITTED);
    const char *bad = "{\"mode\":\"WRITEONLY\"}";
    assert_int_equal(code_of(reg_mode_put(f->r, NULL, bad, strlen(bad), &no_opts, &out), &out),
                     CG_EINVALID_MODE);
}

static void test_import_mode_takes_explicit_ids_and_versions(void **state)
{
    fixture *f = *state;
    reg_body out = {0};
    const char *imp = "{\"mode\":\"IMPORT\"}";
    assert_null(reg_mode_put(f->r, NULL, imp, strlen(imp), &no_opts, &out));
    free(out.data);
    out.data = NULL;
    char *b = req(REC_A, "{\"id\":100,\"version\":3}");
    expect_body(reg_register(f->r, "imp", b, strlen(b), &no_opts, &out), &out, "{\"id\":100}");
    /* re-posting the same import is tolerated */
    expect_body(reg_register(f->r, "imp", b, strlen(b), &no_opts, &out), &out, "{\"id\":100}");
    free(b);
    versions_are(f->r, "imp", 0, "[3]");
    /* the id of another schema: refused */
    assert_int_equal(reg_code(f->r, "imp2", REC_B, "{\"id\":100,\"version\":1}"),
                     CG_EOPERATION_NOT_PERMITTED);
    const char *rw = "{\"mode\":\"READWRITE\"}";
    assert_null(reg_mode_put(f->r, NULL, rw, strlen(rw), &no_opts, &out));
    free(out.data);
    assert_int_equal(reg_ok(f->r, "n", REC_B), 101);
}

static void test_config_defaults_and_canon_subjects_default_to_full_transitive(void **state)
{
    fixture *f = *state;
    reg_body out = {0};
    expect_body(reg_config_get(f->r, NULL, &no_opts, &out), &out,
                "{\"compatibilityLevel\":\"BACKWARD\"}");
    assert_int_equal(code_of(reg_config_get(f->r, "s", &no_opts, &out), &out),
                     CG_ESUBJECT_COMPAT_NOT_CONFIGURED);
    reg_opts g = {0};
    g.default_to_global = 1;
    expect_body(reg_config_get(f->r, "s", &g, &out), &out, "{\"compatibilityLevel\":\"BACKWARD\"}");
    expect_body(reg_config_get(f->r, "canon.person-value", &no_opts, &out), &out,
                "{\"compatibilityLevel\":\"FULL_TRANSITIVE\"}");
    const char *bad = "{\"compatibility\":\"SIDEWAYS\"}";
    assert_int_equal(code_of(reg_config_put(f->r, NULL, bad, strlen(bad), &out), &out),
                     CG_EINVALID_COMPAT);
}

static void test_references_resolve_and_block_deletes(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "addr",
           "{\"type\":\"record\",\"name\":\"Addr\",\"namespace\":\"x\","
           "\"fields\":[{\"name\":\"street\",\"type\":\"string\"}]}");
    char *b = req("{\"type\":\"record\",\"name\":\"P\",\"namespace\":\"x\",\"fields\":[{\"name\":"
                  "\"home\",\"type\":\"x.Addr\"}]}",
                  "{\"references\":[{\"name\":\"x.Addr\",\"subject\":\"addr\",\"version\":1}]}");
    reg_body out = {0};
    expect_body(reg_register(f->r, "person", b, strlen(b), &no_opts, &out), &out, "{\"id\":2}");
    free(b);
    expect_body(reg_referenced_by(f->r, "addr", "1", &out), &out, "[2]");
    assert_int_equal(code_of(reg_delete_version(f->r, "addr", "1", &no_opts, &out), &out),
                     CG_EREFERENCE_EXISTS);
    /* A reference to nothing is an invalid schema. */
    assert_int_equal(
        reg_code(f->r, "p2", "{\"type\":\"record\",\"name\":\"Q\",\"fields\":[]}",
                 "{\"references\":[{\"name\":\"y.Z\",\"subject\":\"none\",\"version\":1}]}"),
        CG_EINVALID_SCHEMA);
}

struct race {
    reg_registry *r;
    int id;
    char subject[32];
};

static void *race_register(void *arg)
{
    struct race *x = arg;
    char *b = req(REC_B, NULL);
    reg_body out = {0};
    cg_err *err = reg_register(x->r, x->subject, b, strlen(b), &no_opts, &out);
    free(b);
    if (!err) {
        json_t *j = json_loads(out.data, 0, NULL);
        x->id = (int)json_integer_value(json_object_get(j, "id"));
        json_decref(j);
        free(out.data);
    } else {
        cg_err_free(err);
        x->id = -1;
    }
    return NULL;
}

static void test_concurrent_registrations_of_one_schema_yield_one_id(void **state)
{
    fixture *f = *state;
    enum { N = 8 };
    pthread_t t[N];
    struct race x[N];
    for (int i = 0; i < N; i++) {
        x[i].r = f->r;
        x[i].id = 0;
        snprintf(x[i].subject, sizeof(x[i].subject), "sub%d", i % 3);
        assert_int_equal(pthread_create(&t[i], NULL, race_register, &x[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(x[i].id, 1);
    for (int i = 0; i < 3; i++) {
        char s[8];
        snprintf(s, sizeof(s), "sub%d", i);
        versions_are(f->r, s, 0, "[1]");
    }
}

struct mixed {
    reg_registry *r;
    int index;
    int failures;
};

/* Looks REC_A up by another spelling (the slow path, then the remembered one) while other
 * threads register new versions. */
static void *mixed_worker(void *arg)
{
    struct mixed *x = arg;
    for (int i = 0; i < 40; i++) {
        reg_body out = {0};
        cg_err *err;
        if (x->index % 2) {
            char *b = req(REC_A2, NULL);
            err = reg_lookup(x->r, "s", b, strlen(b), &no_opts, &out);
            free(b);
        } else {
            char text[160];
            snprintf(text, sizeof(text), "{\"type\":\"record\",\"name\":\"N%d_%d\",\"fields\":[]}",
                     x->index, i);
            char *b = req(text, NULL);
            char subject[16];
            snprintf(subject, sizeof(subject), "w%d", x->index);
            err = reg_register(x->r, subject, b, strlen(b), &no_opts, &out);
            free(b);
        }
        if (err) {
            x->failures++;
            cg_err_free(err);
        }
        free(out.data);
    }
    return NULL;
}

static void test_lookups_and_registrations_run_concurrently(void **state)
{
    fixture *f = *state;
    reg_ok(f->r, "s", REC_A);
    const char *none = "{\"compatibility\":\"NONE\"}";
    reg_body out = {0};
    assert_null(reg_config_put(f->r, NULL, none, strlen(none), &out));
    free(out.data);
    enum { N = 6 };
    pthread_t t[N];
    struct mixed x[N];
    for (int i = 0; i < N; i++) {
        x[i].r = f->r;
        x[i].index = i;
        x[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, mixed_worker, &x[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(x[i].failures, 0);
    /* 3 writers x 40 new schemas, plus REC_A: ids 1..121, all distinct. */
    size_t ns, nsub;
    reg_registry_stats(f->r, &ns, &nsub);
    assert_int_equal(ns, 121);
    assert_int_equal(nsub, 4);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_same_schema_gets_same_id_in_any_subject_and_any_spelling),
        T(test_reregistering_an_existing_version_skips_the_check),
        T(test_incompatible_schema_is_refused_with_409_unless_level_none),
        T(test_invalid_schema_and_unsupported_type_are_42201),
        T(test_version_reads_latest_and_errors),
        T(test_lookup_finds_any_spelling_and_says_why_not),
        T(test_soft_then_hard_delete_rules),
        T(test_version_numbers_and_ids_are_never_reused),
        T(test_reopen_keeps_versions_ids_configs_and_modes),
        T(test_readonly_mode_blocks_writes_with_42205),
        T(test_import_mode_takes_explicit_ids_and_versions),
        T(test_config_defaults_and_canon_subjects_default_to_full_transitive),
        T(test_references_resolve_and_block_deletes),
        T(test_concurrent_registrations_of_one_schema_yield_one_id),
        T(test_lookups_and_registrations_run_concurrently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
