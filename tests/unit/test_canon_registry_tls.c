/* test_canon_registry_tls.c - HTTPS between the registry server and the tools' client.
 *
 * The registry (registry/http.h) runs in this process with the test PKI of
 * tests/unit/data/tls (a CA and a server certificate for 127.0.0.1 and localhost); the
 * client (canon/registry_client.h) talks to it as the tools do. Proves: the client
 * verifies the chain (CANON_REGISTRY_CA) and says why it refuses (a name mismatch is
 * proved in tests/python/test_tls.py, which can make certificates); the URL it
 * prints has no credentials; the server refuses bad TLS files naming them; options given
 * to canon_registry_new_opts stand in for the environment. The environment variables are
 * the client's documented interface, so the tests set them (one thread). */
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
    char ca[512], cert[512], key[512];
} fixture;

static void data_path(char *out, size_t cap, const char *name)
{
    const char *dir = getenv("CANON_TESTDATA_DIR");
    snprintf(out, cap, "%s/tls/%s", dir && *dir ? dir : "../tests/unit/data", name);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    data_path(f->ca, sizeof(f->ca), "ca.pem");
    data_path(f->cert, sizeof(f->cert), "server.pem");
    data_path(f->key, sizeof(f->key), "server.key");
    if (reg_test_server_start(&f->srv, "/tmp/canon-tls-XXXXXX", f->cert, f->key))
        return -1;
    unsetenv("CANON_REGISTRY_CA");
    unsetenv("CANON_REGISTRY_TOKEN");
    unsetenv("CANON_REGISTRY_CERT");
    unsetenv("CANON_REGISTRY_KEY");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    reg_test_server_stop(&f->srv);
    free(f);
    return 0;
}

/* GET /subjects over a client made with o (NULL: from the environment): NULL and *status
 * on a transport success. */
static cg_err *get_subjects(const char *url, const canon_registry_opts *o, int *status)
{
    canon_registry *c = NULL;
    cg_err *err = canon_registry_new_opts(url, 5000, o, &c);
    if (err)
        return err;
    json_t *body = NULL;
    err = canon_registry_request(c, "GET", "/subjects", NULL, status, &body);
    json_decref(body);
    canon_registry_free(c);
    return err;
}

static void test_the_client_trusts_the_registry_signed_by_CANON_REGISTRY_CA(void **state)
{
    fixture *f = *state;
    char url[128];
    int status = 0;
    setenv("CANON_REGISTRY_CA", f->ca, 1);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", f->srv.port);
    cg_err *err = get_subjects(url, NULL, &status);
    assert_null(err);
    assert_int_equal(status, 200);
    /* by DNS name too (with SNI): the certificate names localhost */
    snprintf(url, sizeof(url), "https://localhost:%u/", f->srv.port);
    err = get_subjects(url, NULL, &status);
    assert_null(err);
    assert_int_equal(status, 200);
    unsetenv("CANON_REGISTRY_CA");
}

static void test_without_the_ca_the_client_refuses_saying_why(void **state)
{
    fixture *f = *state;
    char url[128];
    int status = 0;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", f->srv.port);
    cg_err *err = get_subjects(url, NULL, &status);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EIO);
    assert_non_null(strstr(cg_err_msg(err), "TLS certificate verification failed"));
    assert_non_null(strstr(cg_err_msg(err), "CANON_REGISTRY_CA"));
    cg_err_free(err);
}

static void test_plain_http_to_the_tls_port_gets_no_answer(void **state)
{
    fixture *f = *state;
    char url[128];
    int status = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", f->srv.port);
    cg_err *err = get_subjects(url, NULL, &status);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EIO);
    cg_err_free(err);
}

static void test_printed_urls_never_hold_credentials(void **state)
{
    (void)state;
    canon_registry *c = NULL;
    cg_err *err = canon_registry_new("https://us%40er:pa%3As@s@127.0.0.1:8443/sr/", 0, &c);
    assert_null(err);
    assert_string_equal(canon_registry_url(c), "https://127.0.0.1:8443/sr");
    canon_registry_free(c);
    /* no port: 443 for https; and errors at parse time are redacted too */
    err = canon_registry_new("http://bob:hunter2@h:80x", 0, &c);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "'http://h:80x'"));
    assert_null(strstr(cg_err_msg(err), "hunter2"));
    assert_null(strstr(cg_err_msg(err), "bob"));
    cg_err_free(err);
    err = canon_registry_new("https://a:b@[::1", 0, &c);
    assert_non_null(err);
    assert_null(strstr(cg_err_msg(err), "a:b"));
    cg_err_free(err);
    err = canon_registry_new("ftp://a:b@h", 0, &c);
    assert_non_null(err);
    cg_err_free(err);
}

static void test_a_missing_ca_file_is_reported_by_name(void **state)
{
    (void)state;
    canon_registry *c = NULL;
    setenv("CANON_REGISTRY_CA", "/nonexistent/ca.pem", 1);
    cg_err *err = canon_registry_new("https://127.0.0.1:1", 0, &c);
    unsetenv("CANON_REGISTRY_CA");
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "CANON_REGISTRY_CA '/nonexistent/ca.pem'"));
    cg_err_free(err);
    /* an http URL does not read it */
    setenv("CANON_REGISTRY_CA", "/nonexistent/ca.pem", 1);
    err = canon_registry_new("http://127.0.0.1:1", 0, &c);
    unsetenv("CANON_REGISTRY_CA");
    assert_null(err);
    canon_registry_free(c);
}

/* `canon serve` hands its aggregator the server's certificate and an API key this way,
 * without touching the environment: the options are all that is read. */
static void test_options_stand_in_for_the_environment(void **state)
{
    fixture *f = *state;
    char url[128];
    int status = 0;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", f->srv.port);
    canon_registry_opts o = {0};
    o.ca_file = f->ca;
    cg_err *err = get_subjects(url, &o, &status);
    assert_null(err);
    assert_int_equal(status, 200);
    /* the environment's CA does not count when options are given */
    setenv("CANON_REGISTRY_CA", f->ca, 1);
    o.ca_file = NULL;
    err = get_subjects(url, &o, &status);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "TLS certificate verification failed"));
    cg_err_free(err);
    /* nor an unreadable one there */
    setenv("CANON_REGISTRY_CA", "/nonexistent/ca.pem", 1);
    o.ca_file = f->ca;
    err = get_subjects(url, &o, &status);
    assert_null(err);
    unsetenv("CANON_REGISTRY_CA");

    /* the token, the client certificate and its key come from the options too */
    canon_registry *c = NULL;
    setenv("CANON_REGISTRY_TOKEN", "from\nthe environment", 1);
    canon_registry_opts t = {0};
    t.token = "good-token";
    err = canon_registry_new_opts(url, 0, &t, &c);
    assert_null(err);
    canon_registry_free(c);
    c = NULL;
    unsetenv("CANON_REGISTRY_TOKEN");
    t.token = "two\nlines";
    err = canon_registry_new_opts(url, 0, &t, &c);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "line break"));
    cg_err_free(err);
    canon_registry_opts k = {0};
    k.cert_file = f->cert; /* no key */
    err = canon_registry_new_opts(url, 0, &k, &c);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "go together"));
    cg_err_free(err);
    assert_null(c);
}

static void test_options_from_the_environment_are_what_canon_registry_new_reads(void **state)
{
    (void)state;
    canon_registry_opts o = {0};
    setenv("CANON_REGISTRY_TOKEN", "t", 1);
    setenv("CANON_REGISTRY_CA", "ca.pem", 1);
    setenv("CANON_REGISTRY_CERT", "cert.pem", 1);
    setenv("CANON_REGISTRY_KEY", "", 1);
    canon_registry_opts_from_env(&o);
    assert_string_equal(o.token, "t");
    assert_string_equal(o.ca_file, "ca.pem");
    assert_string_equal(o.cert_file, "cert.pem");
    assert_string_equal(o.key_file, ""); /* set but empty: given as it is, means none */
    /* canon_registry_new reads the same: the CA file first, then the certificate that
     * lacks its key */
    canon_registry *c = NULL;
    cg_err *err = canon_registry_new("https://127.0.0.1:1", 0, &c);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "CANON_REGISTRY_CA 'ca.pem'"));
    cg_err_free(err);
    unsetenv("CANON_REGISTRY_CA");
    err = canon_registry_new("https://127.0.0.1:1", 0, &c);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "go together"));
    cg_err_free(err);
    unsetenv("CANON_REGISTRY_TOKEN");
    unsetenv("CANON_REGISTRY_CERT");
    unsetenv("CANON_REGISTRY_KEY");
    canon_registry_opts_from_env(&o);
    assert_null(o.token);
    assert_null(o.ca_file);
    assert_null(o.cert_file);
    assert_null(o.key_file);
}

static void test_the_server_refuses_bad_tls_files_naming_them(void **state)
{
    fixture *f = *state;
    reg_server *s = NULL;
    reg_server_config cfg = {0};
    char db[160];
    snprintf(db, sizeof(db), "%s/other.db", f->srv.dir);
    cfg.db_path = db;
    cfg.quiet = 1;

    cfg.tls_cert_file = f->cert; /* no key */
    cg_err *err = reg_server_new(&cfg, &s);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "both a certificate file and a key file"));
    cg_err_free(err);

    cfg.tls_key_file = "/nonexistent/server.key";
    err = reg_server_new(&cfg, &s);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "TLS key"));
    assert_non_null(strstr(cg_err_msg(err), "/nonexistent/server.key"));
    cg_err_free(err);

    cfg.tls_cert_file = f->key; /* a key is not a certificate */
    cfg.tls_key_file = f->key;
    err = reg_server_new(&cfg, &s);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "not a PEM certificate"));
    cg_err_free(err);

    cfg.tls_cert_file = f->ca; /* the CA's certificate with the server's key */
    err = reg_server_new(&cfg, &s);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "do not match"));
    cg_err_free(err);
    assert_null(s);
    snprintf(db, sizeof(db), "%s/other.db", f->srv.dir);
    unlink(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_client_trusts_the_registry_signed_by_CANON_REGISTRY_CA),
        cmocka_unit_test(test_without_the_ca_the_client_refuses_saying_why),
        cmocka_unit_test(test_plain_http_to_the_tls_port_gets_no_answer),
        cmocka_unit_test(test_printed_urls_never_hold_credentials),
        cmocka_unit_test(test_a_missing_ca_file_is_reported_by_name),
        cmocka_unit_test(test_options_stand_in_for_the_environment),
        cmocka_unit_test(test_options_from_the_environment_are_what_canon_registry_new_reads),
        cmocka_unit_test(test_the_server_refuses_bad_tls_files_naming_them),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
