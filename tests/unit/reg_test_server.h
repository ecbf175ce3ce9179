/* reg_test_server.h - a schema registry in the test's own process, on a free port with a
 * database in a fresh temporary directory: the set-up the registry client's tests
 * (test_canon_registry_client.c, test_canon_registry_tls.c) share.
 *
 * Header-only: each test program compiles its own copy (static inline, so a program that
 * uses only part of it gets no warning), and CMake, which makes a test of every
 * tests/unit/test_*.c, does not take it for one. */
#ifndef REG_TEST_SERVER_H
#define REG_TEST_SERVER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "registry/http.h"

typedef struct reg_test_server {
    char dir[64]; /* the temporary directory; tests may put files of their own in it */
    char db[128]; /* dir/reg.db */
    reg_server *server;
    uint16_t port; /* where it listens on 127.0.0.1 */
} reg_test_server;

/* Starts a registry (two threads, quiet) on a free port, its database in a new directory
 * made from tmpl ("/tmp/canon-x-XXXXXX"), with TLS when cert_file and key_file are given
 * (NULL: plain HTTP). Returns 0, or -1 with the reason on stderr; reg_test_server_stop()
 * cleans up after either. */
static inline int reg_test_server_start(reg_test_server *s, const char *tmpl, const char *cert_file,
                                        const char *key_file)
{
    snprintf(s->dir, sizeof(s->dir), "%s", tmpl);
    if (!mkdtemp(s->dir)) {
        s->dir[0] = '\0';
        perror("mkdtemp");
        return -1;
    }
    snprintf(s->db, sizeof(s->db), "%s/reg.db", s->dir);
    reg_server_config cfg = {0};
    cfg.db_path = s->db;
    cfg.threads = 2;
    cfg.quiet = 1;
    cfg.tls_cert_file = cert_file;
    cfg.tls_key_file = key_file;
    cg_err *err = reg_server_new(&cfg, &s->server);
    if (!err)
        err = reg_server_start(s->server);
    if (err) {
        fprintf(stderr, "registry: %s\n", cg_err_msg(err));
        cg_err_free(err);
        return -1;
    }
    s->port = reg_server_port(s->server);
    return 0;
}

/* Stops the registry and removes its database (with SQLite's -wal and -shm files) and
 * the directory; files a test left in it must be gone by then. */
static inline void reg_test_server_stop(reg_test_server *s)
{
    reg_server_free(s->server);
    s->server = NULL;
    if (!s->dir[0])
        return;
    char path[160];
    snprintf(path, sizeof(path), "%s-wal", s->db);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", s->db);
    unlink(path);
    unlink(s->db);
    rmdir(s->dir);
}

#endif
