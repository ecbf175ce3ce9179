/* http.h - the registry's HTTP server: the Confluent Schema Registry REST API.
 *
 * A reg_server owns a libmicrohttpd daemon (epoll, an internal pool of threads, keep-
 * alive) and a reg_registry. It can run alone (`canon registry`) or be embedded
 * (`canon serve`): new, start, then stop and free from the thread that started it.
 *
 * Threads: requests are served on libmicrohttpd's pool threads; the access log is
 * written to stderr by one flusher thread, at most every 100 ms, never per request.
 */
#ifndef REG_HTTP_H
#define REG_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "canon_bindings.h"
#include "registry.h"

typedef struct reg_server_config {
    const char *host;    /* listen address; NULL: "127.0.0.1" */
    uint16_t port;       /* 0 picks a free port (see reg_server_port()) */
    const char *db_path; /* SQLite file; NULL: "canon.db" */
    unsigned threads;    /* 0: number of online CPUs */
    size_t max_body;     /* request body limit in bytes; 0: REG_DEFAULT_MAX_BODY */
    int quiet;           /* no access log */
    /* GET /canon/bindings/{lang}: the generators, installed by the program (the
     * registry does not link codegen/); zeroed: the route answers 404. */
    reg_bindings_hook bindings;
    /* GET /metrics: text appended after the registry's own metrics (the aggregator's, in
     * `canon serve`). Called on a pool thread; returns a malloc'd string (length in *len)
     * the server frees, or NULL for nothing. NULL: none. */
    char *(*metrics_extra)(void *opaque, size_t *len);
    void *metrics_opaque;
    /* TLS (HTTPS only, via GnuTLS): PEM files read by reg_server_new(), which fails
     * naming the file when one is missing or not a valid certificate/key. Both NULL: plain
     * HTTP; one without the other is an error. tls_cert_file may hold the chain (leaf
     * first). tls_client_ca_file (needs the other two): clients must present a
     * certificate signed by one of these CAs (mutual TLS); others are refused before any
     * request is served. */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_client_ca_file;
    /* Access control (auth.h, docs/security.md): the auth file loaded by reg_server_new()
     * (which fails naming the file, principal and field when it is bad) and again by
     * reg_server_reload_auth(). NULL: no authentication, every request is allowed. */
    const char *auth_file;
} reg_server_config;

#define REG_DEFAULT_MAX_BODY (16u * 1024 * 1024)

typedef struct reg_server reg_server;

/* Opens the database and loads the registry; does not listen yet. On success *out is a
 * server the caller owns (reg_server_free()). cfg is copied. */
cg_err *reg_server_new(const reg_server_config *cfg, reg_server **out);

/* Starts listening and serving. */
cg_err *reg_server_start(reg_server *s);

/* The port actually bound (useful with port 0), valid after a successful start. */
uint16_t reg_server_port(const reg_server *s);

/* The registry behind the server (belongs to s), for embedding processes. */
reg_registry *reg_server_registry(reg_server *s);

/* Graceful stop: stops accepting, lets requests in flight finish (up to ~5 s), closes
 * connections and flushes the access log. Safe to call twice. */
void reg_server_stop(reg_server *s);

/* Re-reads cfg.auth_file and swaps it in atomically: requests already running finish
 * with the old one, later ones see the new one. On error the old configuration stays in
 * force and the error says why: a bad file, or CG_ESTATE when no auth_file is configured
 * (then there is none: the server runs without authentication). Call it from
 * an ordinary thread (e.g. the one that takes SIGHUP), not from a signal handler. */
cg_err *reg_server_reload_auth(reg_server *s);

/* For a client inside the same process (the aggregator of `canon serve`): a new random
 * API key that authenticates as principal "canon-internal", a reader of every subject,
 * kept across reloads. *key is malloc'd (caller frees). CG_ESTATE when auth is off. */
cg_err *reg_server_internal_key(reg_server *s, char **key);

/* 1 if an update from source domain source[0..len) may be merged for entity: auth off, or
 * a domain writer of the current auth file lists that entity. Any thread. */
int reg_server_source_allowed(reg_server *s, const char *entity, const char *source, size_t len);

/* Stops if needed, closes the database. NULL is fine. */
void reg_server_free(reg_server *s);

#endif
