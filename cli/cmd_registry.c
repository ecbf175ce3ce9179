/* cmd_registry.c - `canon registry`: the schema registry alone.
 *
 * Flags --listen HOST:PORT and --db FILE are an external interface (scripts and outside
 * checks start the registry with them): keep their names and defaults. Port 0 binds a
 * free port; the ready line printed on stdout carries the real one, so a test can start
 * the binary and read where it listens. SIGTERM and SIGINT stop it gracefully. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../codegen/gen_bindings.h"
#include "../registry/http.h"
#include "cli/cli_kafka.h"
#include "cmds.h"

void registry_options_help(FILE *out)
{
    fprintf(out,
            "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8081; port 0 picks\n"
            "                      a free port, printed on the ready line)\n"
            "  --db FILE           SQLite database file (default canon.db); locked while the\n"
            "                      registry runs: one process per file\n"
            "  --threads N         HTTP worker threads (default: number of CPUs)\n"
            "  --max-body BYTES    largest request body accepted, with k/m suffix\n"
            "                      (default 16m); larger bodies get 413\n"
            "  --quiet             no access log on stderr\n"
            "  --auth-file FILE    access control: users (HTTP basic auth) and API keys (bearer)\n"
            "                      with roles and subject patterns (docs/security.md); re-read\n"
            "                      on SIGHUP (a bad file keeps the old one, the error is logged)\n"
            "  --insecure          allow listening on an address other than 127.0.0.1, ::1 or\n"
            "                      localhost without --auth-file (refused otherwise)\n"
            "  --tls-cert FILE     serve HTTPS: PEM certificate (chain, leaf first); needs\n"
            "  --tls-key FILE      the PEM private key (unencrypted) of that certificate\n"
            "  --tls-client-ca FILE  with TLS: require client certificates signed by these\n"
            "                      PEM CAs (mutual TLS)\n"
            "  -h, --help          this help\n"
            "\n"
            "When ready it prints: canon registry: listening on http://HOST:PORT (db FILE)\n"
            "(https:// with --tls-cert).\n"
            "It stops on SIGTERM or SIGINT after finishing the requests in flight.\n");
}

void registry_reload_auth(const char *prog, reg_server *srv)
{
    cg_err *err = reg_server_reload_auth(srv);
    /* CG_ESTATE: started without --auth-file, so there is no access control to keep. */
    if (err && cg_err_code(err) == CG_ESTATE)
        fprintf(stderr,
                "%s: SIGHUP: no auth file to reload (started without --auth-file); serving "
                "without authentication as before\n",
                prog);
    else if (err)
        fprintf(stderr, "%s: SIGHUP: %s; the previous access control stays in force\n", prog,
                cg_err_msg(err));
    else
        fprintf(stderr, "%s: SIGHUP: auth file reloaded\n", prog);
    cg_err_free(err);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: canon registry [options]\n"
                 "\n"
                 "Run the schema registry alone: the Confluent Schema Registry REST API for Avro,\n"
                 "stored in SQLite.\n"
                 "\n"
                 "options:\n");
    registry_options_help(out);
}

/* Splits HOST:PORT (or [v6]:PORT). host is written into hbuf. */
static int parse_listen(const char *s, char *hbuf, size_t cap, unsigned *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= cap)
        return -1;
    memcpy(hbuf, h, hl);
    hbuf[hl] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || p > 65535)
        return -1;
    *port = (unsigned)p;
    return 0;
}

static int parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return -1;
    if (*end == 'k' || *end == 'K')
        v *= 1024, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1024 * 1024, end++;
    if (*end || v == 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

int cmd_registry(int argc, char **argv)
{
    char host[256] = "127.0.0.1";
    unsigned port = 8081;
    reg_server_config cfg = {0};
    int insecure = 0;
    cfg.db_path = "canon.db";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            cfg.quiet = 1;
        } else if (!strcmp(a, "--listen") && val) {
            if (parse_listen(val, host, sizeof(host), &port)) {
                fprintf(stderr, "canon registry: --listen wants HOST:PORT, got '%s'\n", val);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--db") && val) {
            cfg.db_path = val;
            i++;
        } else if (!strcmp(a, "--auth-file") && val) {
            cfg.auth_file = argv[++i];
        } else if (!strcmp(a, "--insecure")) {
            insecure = 1;
        } else if (!strcmp(a, "--tls-cert") && val) {
            cfg.tls_cert_file = argv[++i];
        } else if (!strcmp(a, "--tls-key") && val) {
            cfg.tls_key_file = argv[++i];
        } else if (!strcmp(a, "--tls-client-ca") && val) {
            cfg.tls_client_ca_file = argv[++i];
        } else if (!strcmp(a, "--threads") && val) {
            long long n = 0;
            if (cli_parse_number("registry", a, val, 1, 1024, &n))
                return 2;
            cfg.threads = (unsigned)n;
            i++;
        } else if (!strcmp(a, "--max-body") && val) {
            if (parse_size(val, &cfg.max_body)) {
                fprintf(stderr, "canon registry: --max-body wants a size such as 16m, got '%s'\n",
                        val);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "canon registry: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!cli_listen_allowed("canon registry", host, cfg.auth_file, insecure))
        return 2;
    cfg.host = host;
    cfg.port = (uint16_t)port;
    cfg.bindings = gen_bindings_hook(); /* GET /canon/bindings/{lang} */

    /* Block the stop signals before any thread starts, so every thread inherits the mask
     * and sigwait() below is the only place they are taken. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP); /* reloads the auth file, below */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    reg_server *srv = NULL;
    cg_err *err = reg_server_new(&cfg, &srv);
    if (!err)
        err = reg_server_start(srv);
    if (err) {
        fprintf(stderr, "canon registry: %s\n", cg_err_msg(err));
        cg_err_free(err);
        reg_server_free(srv);
        return 1;
    }
    const char *scheme = cfg.tls_cert_file ? "https" : "http";
    if (strchr(host, ':'))
        printf("canon registry: listening on %s://[%s]:%u (db %s)\n", scheme, host,
               (unsigned)reg_server_port(srv), cfg.db_path);
    else
        printf("canon registry: listening on %s://%s:%u (db %s)\n", scheme, host,
               (unsigned)reg_server_port(srv), cfg.db_path);
    fflush(stdout);

    int sig = 0;
    while (!sigwait(&set, &sig) && sig == SIGHUP)
        registry_reload_auth("canon registry", srv);
    fprintf(stderr, "canon registry: %s received, stopping\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    reg_server_free(srv);
    return 0;
}
