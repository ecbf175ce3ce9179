/* test_canon_registry_client.c - the CLI tools' registry client against a real registry.
 *
 * The registry (registry/http.h) runs in this process on a free port with a temporary
 * database; the client talks to it over a socket as the tools do. Proves: latest version,
 * schema by id (cached: the same parse comes back), lookup, Confluent schema references,
 * the registry's own error codes and messages, and a clear error for a registry that is
 * not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "canon/registry_client.h"
#include "reg_test_server.h"

typedef struct fixture {
    reg_test_server srv;
    char url[64];
    canon_registry *client;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (reg_test_server_start(&f->srv, "/tmp/canon-rc-XXXXXX", NULL, NULL))
        return -1;
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/", f->srv.port);
    cg_err *err = canon_registry_new(f->url, 5000, &f->client);
    if (err) {
        cg_err_free(err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    canon_registry_free(f->client);
    reg_test_server_stop(&f->srv);
    free(f);
    return 0;
}

/* Registers schema (and optional references JSON) at subject; returns the id. */
static int32_t post_schema(canon_registry *c, const char *subject, const char *schema,
                           const char *refs)
{
    json_t *body = json_pack("{s:s}", "schema", schema);
    if (refs)
        json_object_set_new(body, "references", json_loads(refs, 0, NULL));
    char *esc = canon_registry_escape(subject);
    char path[512];
    snprintf(path, sizeof(path), "/subjects/%s/versions", esc);
    free(esc);
    int status = 0;
    json_t *ans = NULL;
    cg_err *err = canon_registry_request(c, "POST", path, body, &status, &ans);
    assert_null(err);
    if (status != 200) {
        char *s = json_dumps(ans, 0);
        fprintf(stderr, "POST %s: %d %s\n", path, status, s);
        free(s);
    }
    assert_int_equal(status, 200);
    int32_t id = (int32_t)json_integer_value(json_object_get(ans, "id"));
    json_decref(ans);
    json_decref(body);
    return id;
}

static const char *ADDRESS = "{\"type\":\"record\",\"name\":\"Address\",\"namespace\":\"ex\","
                             "\"fields\":[{\"name\":\"city\",\"type\":\"string\"}]}";

static void test_latest_schema_and_lookup_agree(void **state)
{
    fixture *f = *state;
    int32_t id1 = post_schema(f->client, "things-value", "\"string\"", NULL);
    int32_t id2 = post_schema(f->client, "things-value", "[\"null\",\"string\"]", NULL);
    assert_true(id1 != id2);

    int32_t id = 0, version = 0;
    const reg_schema *s = NULL;
    assert_null(canon_registry_latest(f->client, "things-value", &id, &version, &s));
    assert_int_equal(id, id2);
    assert_int_equal(version, 2);
    assert_int_equal(reg_schema_root(s)->type, REG_UNION);

    /* by id: the cached parse, the same pointer */
    const reg_schema *again = NULL;
    assert_null(canon_registry_schema(f->client, id2, &again));
    assert_ptr_equal(again, s);
    const reg_schema *first = NULL;
    assert_null(canon_registry_schema(f->client, id1, &first));
    assert_int_equal(reg_schema_root(first)->type, REG_STRING);

    assert_null(canon_registry_lookup(f->client, "things-value", "\"string\"", &id, &version));
    assert_int_equal(id, id1);
    assert_int_equal(version, 1);
}

static void test_schema_references_are_resolved(void **state)
{
    fixture *f = *state;
    post_schema(f->client, "address", ADDRESS, NULL);
    int32_t id =
        post_schema(f->client, "order-value",
                    "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"ex\",\"fields\":["
                    "{\"name\":\"ship_to\",\"type\":\"ex.Address\"}]}",
                    "[{\"name\":\"ex.Address\",\"subject\":\"address\",\"version\":1}]");
    const reg_schema *s = NULL;
    cg_err *err = canon_registry_schema(f->client, id, &s);
    if (err)
        fprintf(stderr, "%s\n", cg_err_msg(err));
    assert_null(err);
    const reg_node *root = reg_schema_root(s);
    assert_int_equal(root->type, REG_RECORD);
    assert_int_equal(root->fields[0].type->type, REG_RECORD);
    assert_string_equal(root->fields[0].type->fullname, "ex.Address");
}

static void test_errors_carry_the_registry_code_and_message(void **state)
{
    fixture *f = *state;
    const reg_schema *s = NULL;
    cg_err *err = canon_registry_schema(f->client, 987654, &s);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_ESCHEMA_NOT_FOUND);
    assert_non_null(strstr(cg_err_msg(err), "GET /schemas/ids/987654"));
    assert_non_null(strstr(cg_err_msg(err), "HTTP 404, 40403"));
    cg_err_free(err);

    err = canon_registry_latest(f->client, "no/such subject", NULL, NULL, &s);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_ESUBJECT_NOT_FOUND);
    /* the subject is escaped in the path */
    assert_non_null(strstr(cg_err_msg(err), "/subjects/no%2Fsuch%20subject/versions/latest"));
    cg_err_free(err);

    int32_t id;
    err = canon_registry_lookup(f->client, "nothing-value", "\"int\"", &id, NULL);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_ESUBJECT_NOT_FOUND);
    cg_err_free(err);
}

static void test_an_absent_registry_is_a_clear_error(void **state)
{
    (void)state;
    canon_registry *c = NULL;
    /* port 1: nothing listens there (tcpmux is never run) */
    assert_null(canon_registry_new("http://127.0.0.1:1", 2000, &c));
    const reg_schema *s = NULL;
    cg_err *err = canon_registry_schema(c, 1, &s);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EIO);
    assert_non_null(strstr(cg_err_msg(err), "cannot connect to 127.0.0.1:1"));
    cg_err_free(err);
    canon_registry_free(c);

    err = canon_registry_new("ftp://x", 0, &c);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "must start with http:// or https://"));
    cg_err_free(err);
    err = canon_registry_new("localhost:8081", 0, &c);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "must start with http://"));
    cg_err_free(err);
    err = canon_registry_new("http://h:80x", 0, &c);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "bad port"));
    cg_err_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latest_schema_and_lookup_agree),
        cmocka_unit_test(test_schema_references_are_resolved),
        cmocka_unit_test(test_errors_carry_the_registry_code_and_message),
        cmocka_unit_test(test_an_absent_registry_is_a_clear_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
