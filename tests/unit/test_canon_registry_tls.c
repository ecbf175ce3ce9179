/* test_canon_registry_tls.c - HTTPS between the registry server and the tools' client.
 *
 * The registry (registry/http.h) runs in this process with the test PKI of
 * tests/unit/data/tls (a CA and a server certificate for 127.0.0.1 and localhost); the
 * client (canon/registry_client.h) talks to it as the tools do. Proves: the client
 * verifies the chain (CANON_REGISTRY_CA) and says why it refuses (a name mismatch is
 * proved in tests/python/test_tls.py, which can make certificates); the URL it
 * prints has no credentials; the server refuses bad TLS files naming them. The environment
 * variables are the client's documented interface, so the tests set them (one thread). */
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
#include "registry/http.h"

typedef struct fixture {
    char dir[64];
    char db[128];
    char ca[512], cert[512], key[512];
    reg_server *server;
    uint16_t port;
} fixture;

static void data_path(char *out, size_t cap, const char *name)
{
    const char *dir = getenv("CANON_TESTDATA_DIR");
    snprintf(out, cap, "%s/tls/%s", dir && *dir ? dir : "../tests/unit/data", name);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/canon-tls-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/reg.db", f->dir);
    data_path(f->ca, sizeof(f->ca), "ca.pem");
    data_path(f->cert, sizeof(f->cert), "server.pem");
    data_path(f->key, sizeof(f->key), "server.key");
    reg_server_config cfg = {0};
    cfg.db_path = f->db;
    cfg.threads = 2;
    cfg.quiet = 1;
    cfg.tls_cert_file = f->cert;
    cfg.tls_key_file = f->key;
    cg_err *err = reg_server_new(&cfg, &f->server);
    if (!err)
        err = reg_server_start(f->server);
    if (err) {
        fprintf(stderr, "registry: %s\n", cg_err_msg(err));
        cg_err_free(err);
        return -1;
    }
    f->port = reg_server_port(f->server);
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
    reg_server_free(f->server);
    char path[256];
    snprintf(path, sizeof(path), "%s/reg.db", f->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/reg.db-wal", f->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/reg.db-shm", f->dir);
    unlink(path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* GET /subjects over the client: NULL and *status on a transport success. */
static cg_err *get_subjects(const char *url, int *status)
{
    canon_registry *c = NULL;
    cg_err *err = canon_registry_new(url, 5000, &c);
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
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", f->port);
    cg_err *err = get_subjects(url, &status);
    assert_null(err);
    assert_int_equal(status, 200);
    /* by DNS name too (with SNI): the certificate names localhost */
    snprintf(url, sizeof(url), "https://localhost:%u/", f->port);
    err = get_subjects(url, &status);
    assert_null(err);
    assert_int_equal(status, 200);
    unsetenv("CANON_REGISTRY_CA");
}

static void test_without_the_ca_the_client_refuses_saying_why(void **state)
{
    fixture *f = *state;
    char url[128];
    int status = 0;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", f->port);
    cg_err *err = get_subjects(url, &status);
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
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", f->port);
    cg_err *err = get_subjects(url, &status);
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

static void test_the_server_refuses_bad_tls_files_naming_them(void **state)
{
    fixture *f = *state;
    reg_server *s = NULL;
    reg_server_config cfg = {0};
    char db[160];
    snprintf(db, sizeof(db), "%s/other.db", f->dir);
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
    snprintf(db, sizeof(db), "%s/other.db", f->dir);
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
        cmocka_unit_test(test_the_server_refuses_bad_tls_files_naming_them),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
