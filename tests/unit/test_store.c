/* test_store.c - the registry's SQLite store, as tests.
 *
 * What the store promises: everything committed is there after a reopen (schema text
 * byte for byte, versions with their deleted flag, global and subject settings); what is
 * rolled back is not; the id counter only grows, so an id is never handed out twice,
 * even after the versions using it are hard-deleted and the file reopened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/store.h"

/* What a load saw, flattened into text lines so tests compare one string. */
typedef struct seen {
    char buf[8192];
    size_t len;
} seen;

static void add(seen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(seen *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->len, sizeof(s->buf) - s->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(s->buf) - s->len);
    s->len += (size_t)n;
}

static cg_err *on_schema(void *ctx, const reg_store_schema *r)
{
    add(ctx, "schema %d %s %s %s %s\n", (int)r->id, r->type, r->text, r->identity,
        r->refs ? r->refs : "-");
    return NULL;
}

static cg_err *on_version(void *ctx, const char *subject, int32_t version, int32_t id, int deleted)
{
    add(ctx, "version %s %d %d %d\n", subject, (int)version, (int)id, deleted);
    return NULL;
}

static cg_err *on_config(void *ctx, const char *subject, const char *level)
{
    add(ctx, "config %s %s\n", subject ? subject : "(global)", level);
    return NULL;
}

static cg_err *on_mode(void *ctx, const char *subject, const char *mode)
{
    add(ctx, "mode %s %s\n", subject ? subject : "(global)", mode);
    return NULL;
}

static char *temp_db(void)
{
    char dir[] = "/tmp/test_store_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = malloc(strlen(dir) + 16);
    assert_non_null(path);
    sprintf(path, "%s/reg.db", dir);
    return path;
}

static void remove_db(char *path)
{
    char buf[600];
    snprintf(buf, sizeof(buf), "rm -rf \"$(dirname '%s')\"", path);
    assert_int_equal(system(buf), 0);
    free(path);
}

static reg_store *open_ok(const char *path)
{
    reg_store *s = NULL;
    cg_err *err = reg_store_open(path, &s);
    if (err)
        fail_msg("open: %s", cg_err_msg(err));
    return s;
}

static void load(reg_store *st, seen *s, int64_t *next_id)
{
    memset(s, 0, sizeof(*s));
    reg_store_loader l = {s, on_schema, on_version, on_config, on_mode};
    cg_err *err = reg_store_load(st, &l, next_id);
    if (err)
        fail_msg("load: %s", cg_err_msg(err));
}

static void ok(cg_err *err)
{
    if (err)
        fail_msg("%s", cg_err_msg(err));
}

static void test_reopen_keeps_schemas_versions_and_settings(void **state)
{
    (void)state;
    char *path = temp_db();
    reg_store *st = open_ok(path);
    /* Text with whitespace, unicode and quotes must come back byte for byte. */
    const char *text = "{ \"type\" : \"string\",\n \"doc\": \"caf\xc3\xa9 \\\"q\\\"\" }";
    reg_store_schema a = {1, "AVRO", text, "ident-1", NULL, NULL, NULL};
    reg_store_schema b = {2,
                          "AVRO",
                          "\"int\"",
                          "ident-2",
                          "[{\"name\":\"x\",\"subject\":\"s\",\"version\":1}]",
                          "{\"m\":1}",
                          NULL};
    ok(reg_store_begin(st));
    ok(reg_store_put_schema(st, &a));
    ok(reg_store_put_schema(st, &b));
    ok(reg_store_put_version(st, "s/with/slashes", 1, 1, 0));
    ok(reg_store_put_version(st, "s/with/slashes", 2, 2, 1));
    ok(reg_store_set_config(st, NULL, "FULL"));
    ok(reg_store_set_config(st, "s/with/slashes", "NONE"));
    ok(reg_store_set_mode(st, "s/with/slashes", "READONLY"));
    ok(reg_store_commit(st));
    reg_store_close(st);

    st = open_ok(path);
    seen s;
    int64_t next = 0;
    load(st, &s, &next);
    char want[1024];
    snprintf(want, sizeof(want),
             "schema 1 AVRO %s ident-1 -\n"
             "schema 2 AVRO \"int\" ident-2 [{\"name\":\"x\",\"subject\":\"s\",\"version\":1}]\n"
             "version s/with/slashes 1 1 0\n"
             "version s/with/slashes 2 2 1\n",
             text);
    assert_memory_equal(s.buf, want, strlen(want));
    assert_non_null(strstr(s.buf, "config (global) FULL\n"));
    assert_non_null(strstr(s.buf, "config s/with/slashes NONE\n"));
    assert_non_null(strstr(s.buf, "mode s/with/slashes READONLY\n"));
    assert_int_equal(next, 3);
    reg_store_close(st);
    remove_db(path);
}

static void test_rollback_leaves_nothing_behind(void **state)
{
    (void)state;
    char *path = temp_db();
    reg_store *st = open_ok(path);
    reg_store_schema a = {1, "AVRO", "\"string\"", "i", NULL, NULL, NULL};
    ok(reg_store_begin(st));
    ok(reg_store_put_schema(st, &a));
    ok(reg_store_put_version(st, "s", 1, 1, 0));
    reg_store_rollback(st);
    seen s;
    int64_t next = 0;
    load(st, &s, &next);
    assert_int_equal(s.len, 0);
    assert_int_equal(next, 1);
    reg_store_close(st);
    remove_db(path);
}

static void test_ids_never_reused_after_hard_delete_and_reopen(void **state)
{
    (void)state;
    char *path = temp_db();
    reg_store *st = open_ok(path);
    for (int id = 1; id <= 3; id++) {
        char ident[16];
        snprintf(ident, sizeof(ident), "i%d", id);
        reg_store_schema a = {id, "AVRO", "\"string\"", ident, NULL, NULL, NULL};
        ok(reg_store_begin(st));
        ok(reg_store_put_schema(st, &a));
        ok(reg_store_put_version(st, "s", id, id, 0));
        ok(reg_store_commit(st));
    }
    /* Hard-delete every version. */
    ok(reg_store_begin(st));
    for (int v = 1; v <= 3; v++)
        ok(reg_store_delete_version(st, "s", v));
    ok(reg_store_commit(st));
    reg_store_close(st);

    st = open_ok(path);
    seen s;
    int64_t next = 0;
    load(st, &s, &next);
    assert_null(strstr(s.buf, "version "));
    assert_int_equal(next, 4);
    /* The counter never goes down. */
    ok(reg_store_begin(st));
    ok(reg_store_bump_next_id(st, 2));
    ok(reg_store_commit(st));
    load(st, &s, &next);
    assert_int_equal(next, 4);
    reg_store_close(st);
    remove_db(path);
}

static void test_deleting_a_setting_removes_it(void **state)
{
    (void)state;
    char *path = temp_db();
    reg_store *st = open_ok(path);
    ok(reg_store_begin(st));
    ok(reg_store_set_config(st, "s", "FULL"));
    ok(reg_store_set_mode(st, NULL, "IMPORT"));
    ok(reg_store_commit(st));
    ok(reg_store_begin(st));
    ok(reg_store_set_config(st, "s", NULL));
    ok(reg_store_set_mode(st, NULL, NULL));
    ok(reg_store_commit(st));
    seen s;
    int64_t next = 0;
    load(st, &s, &next);
    assert_int_equal(s.len, 0);
    reg_store_close(st);
    remove_db(path);
}

static void test_open_fails_cleanly_on_unwritable_path(void **state)
{
    (void)state;
    reg_store *st = NULL;
    cg_err *err = reg_store_open("/nonexistent-dir/x/y.db", &st);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_ESTORE);
    assert_null(st);
    cg_err_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reopen_keeps_schemas_versions_and_settings),
        cmocka_unit_test(test_rollback_leaves_nothing_behind),
        cmocka_unit_test(test_ids_never_reused_after_hard_delete_and_reopen),
        cmocka_unit_test(test_deleting_a_setting_removes_it),
        cmocka_unit_test(test_open_fails_cleanly_on_unwritable_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
