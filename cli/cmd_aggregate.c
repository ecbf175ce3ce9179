/* cmd_aggregate.c - `canon aggregate`: run the canon aggregator (the single producer).
 *
 * A thin front of canon/pipeline.h: parses flags, starts the pipeline and runs it until
 * SIGINT/SIGTERM, which commit the open batch and leave the consumer group cleanly. With
 * --metrics-listen a tiny HTTP server (libmicrohttpd, its own thread) serves the pipeline's
 * /metrics and a /health probe, since without `canon serve` there is no registry server
 * to carry them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "canon/pipeline.h"
#include "cli_kafka.h"
#include "cmds.h"
#include "registry/auth.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: canon aggregate --bootstrap-servers HOST:PORT --registry URL [options]\n"
        "\n"
        "Run the canon aggregator: consume canon.ENTITY.updates (read_committed), merge each\n"
        "update into the key's state (per-field last-writer-wins), and produce the full state\n"
        "to canon.ENTITY and rejected updates to canon.ENTITY.dlq, with the consumed offsets,\n"
        "in one Kafka transaction per batch (exactly once). State is rebuilt from canon.ENTITY\n"
        "when a partition is assigned; run several instances with one --group-id to scale.\n"
        "\n"
        "options:\n"
        "  --bootstrap-servers B   Kafka bootstrap servers (required)\n"
        "  --registry URL          schema registry, http:// or https://HOST:PORT (required)\n"
        "  --entity E              serve entity E (repeatable); default: every entity the\n"
        "                          registry lists, and new ones as they are registered\n"
        "  --group-id G            consumer group (default canon-aggregator)\n"
        "  --transactional-id ID   unique per instance, stable across its restarts (its two\n"
        "                          producers use ID and ID.1)\n"
        "                          (default GROUP-HOSTNAME)\n"
        "  --commit-interval-ms N  longest a batch stays open under load (default 100);\n"
        "                          at low load a batch commits as soon as the input is drained\n"
        "  --batch-max N           most updates per transaction (default 100000)\n"
        "  --no-transactions       at-least-once mode for clusters without transactions\n"
        "  --kafka-config FILE     librdkafka settings from a .properties file (KEY=VALUE\n"
        "                          lines, '#' comments: security.protocol, sasl.*, ssl.*),\n"
        "                          applied before -X\n"
        "  -X key=value            librdkafka setting for the consumer and producer\n"
        "                          (repeatable; overrides the defaults)\n"
        "  --checkpoint FILE       SQLite checkpoint of the state (per partition, with the\n"
        "                          canon offset it reflects): restarts read the canon topic\n"
        "                          only from there on; a mismatching one is ignored (logged)\n"
        "  --checkpoint-interval-s N  least seconds between checkpoints (default 10)\n"
        "  --metrics-listen H:P    serve GET /metrics (Prometheus text) and GET /health on\n"
        "                          HOST:PORT (IPv4; port 0 picks one, printed on stderr)\n"
        "  --auth-file FILE        the registry's auth file (docs/security.md): an update whose\n"
        "                          source is not a domain writer listed there for its entity\n"
        "                          goes to the DLQ (code UNLISTED_SOURCE); re-read after\n"
        "                          SIGHUP, at the next update (a bad file keeps the old one)\n"
        "  -v, --verbose           log restores and commits\n"
        "  -h, --help              this help\n"
        "\n"
        "Topics: canon.E.updates must exist (without --entity, an entity whose updates topic\n"
        "is missing waits for it, said once); canon.E (compacted) and canon.E.dlq are created\n"
        "with its partition count when missing. Metrics: --metrics-listen, or 'canon serve'.\n");
}

/* The signal handler's view of the command (the process runs one command): the pipeline
 * to stop, and whether a stop was asked for before it existed. */
static canon_pipeline *volatile running;
static volatile sig_atomic_t stop_early;

/* One request, on libmicrohttpd's thread: the metrics are rendered fresh
 * (canon_pipeline_metrics() is thread-safe); /health says the process runs its loop, which
 * is all a liveness probe needs. cls is the slot of the pipeline, NULL (503) while it starts:
 * the server listens before the pipeline exists, so that an address it cannot take stops
 * the command before its transactional ids fence a running instance. */
static enum MHD_Result metrics_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version, const char *upload,
                                      size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    canon_pipeline *p = __atomic_load_n((canon_pipeline **)cls, __ATOMIC_ACQUIRE);
    struct MHD_Response *r = NULL;
    unsigned status = MHD_HTTP_OK;
    const char *ctype = "text/plain; charset=utf-8";
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        r = MHD_create_response_from_buffer(19, (void *)"method not allowed\n",
                                            MHD_RESPMEM_PERSISTENT);
    } else if (!p && (!strcmp(url, "/metrics") || !strcmp(url, "/health"))) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        ctype = "application/json";
        r = MHD_create_response_from_buffer(22, (void *)"{\"status\":\"STARTING\"}",
                                            MHD_RESPMEM_PERSISTENT);
    } else if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        char *text = canon_pipeline_metrics(p, &len);
        if (!text) {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            r = MHD_create_response_from_buffer(14, (void *)"out of memory\n",
                                                MHD_RESPMEM_PERSISTENT);
        } else {
            ctype = "text/plain; version=0.0.4; charset=utf-8";
            r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
            if (!r)
                free(text);
        }
    } else if (!strcmp(url, "/health")) {
        ctype = "application/json";
        r = MHD_create_response_from_buffer(16, (void *)"{\"status\":\"UP\"}",
                                            MHD_RESPMEM_PERSISTENT);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        r = MHD_create_response_from_buffer(10, (void *)"not found\n", MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Starts the metrics server on HOST:PORT (IPv4 literal or "localhost"), serving the
 * pipeline *slot once it is set; NULL on error, with the reason on stderr and in *rc (2: the
 * address is malformed, 1: it cannot be listened on). The URL goes in url (for the line
 * said once the pipeline is served: tools wait for it). */
static struct MHD_Daemon *metrics_start(const char *listen, canon_pipeline **slot, int *rc,
                                        char url[96])
{
    *rc = 2;
    char host[64];
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || (size_t)(colon - listen) >= sizeof(host) || !colon[1] || *end || port < 0 ||
        port > 65535) {
        fprintf(stderr, "canon aggregate: --metrics-listen %s: expected HOST:PORT\n", listen);
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost"))
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "canon aggregate: --metrics-listen %s: '%s' is not an IPv4 address\n",
                listen, host);
        return NULL;
    }
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                         metrics_handle, slot, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "canon aggregate: --metrics-listen %s: cannot listen (in use?)\n", listen);
        *rc = 1;
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(url, 96, "http://%s:%u/metrics", host, di ? (unsigned)di->port : (unsigned)port);
    return d;
}

/* --auth-file: used only on the pipeline's thread, by source_allowed(); SIGHUP only sets
 * reload_auth, and the next check re-reads the file there, outside the signal handler. */
typedef struct agg_auth {
    const char *path;
    reg_auth *auth;
} agg_auth;
static volatile sig_atomic_t reload_auth;

static void on_hup(int sig)
{
    (void)sig;
    reload_auth = 1;
}

static int source_allowed(void *opaque, const char *entity, const uint8_t *source, size_t len)
{
    agg_auth *a = opaque;
    if (reload_auth) {
        reload_auth = 0;
        reg_auth *fresh = NULL;
        cg_err *err = reg_auth_load(a->path, &fresh);
        if (err) {
            fprintf(stderr, "canon aggregate: SIGHUP: %s; the previous auth file stays in force\n",
                    cg_err_msg(err));
            cg_err_free(err);
        } else {
            reg_auth_free(a->auth);
            a->auth = fresh;
            fprintf(stderr, "canon aggregate: SIGHUP: auth file reloaded\n");
        }
    }
    return reg_auth_domain_may_write(a->auth, (const char *)source, len, entity);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_early = 1;
    if (running)
        canon_pipeline_stop(running);
}

int cmd_aggregate(int argc, char **argv)
{
    canon_pipeline_config cfg = {0};
    const char **ents = calloc((size_t)argc, sizeof(char *));
    const char **props = calloc((size_t)argc, sizeof(char *));
    const char *kafka_config = NULL; /* --kafka-config FILE */
    cli_props kprops = {0};          /* its settings, then -X */
    int rc = 2;
    const char *metrics_listen = NULL;
    struct MHD_Daemon *mhd = NULL;
    canon_pipeline *metrics_of = NULL; /* what the metrics server serves (atomic) */
    char metrics_url[96] = "";
    agg_auth auth = {0};
    if (!ents || !props) {
        fprintf(stderr, "canon aggregate: out of memory\n");
        rc = 1;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            cfg.verbose = 1;
            continue;
        } else if (!strcmp(a, "--no-transactions")) {
            cfg.no_transactions = 1;
            continue;
        }
        if (strcmp(a, "--bootstrap-servers") && strcmp(a, "--registry") && strcmp(a, "--entity") &&
            strcmp(a, "--group-id") && strcmp(a, "--transactional-id") && strcmp(a, "-X") &&
            strcmp(a, "--kafka-config") && strcmp(a, "--commit-interval-ms") &&
            strcmp(a, "--batch-max") && strcmp(a, "--metrics-listen") &&
            strcmp(a, "--checkpoint") && strcmp(a, "--checkpoint-interval-s") &&
            strcmp(a, "--auth-file")) {
            fprintf(stderr,
                    a[0] == '-' ? "canon aggregate: unknown option '%s' (see --help)\n"
                                : "canon aggregate: unexpected argument '%s' (see --help)\n",
                    a);
            goto done;
        }
        if (!v) {
            fprintf(stderr, "canon aggregate: '%s' needs a value (see --help)\n", a);
            goto done;
        }
        i++;
        if (!strcmp(a, "--bootstrap-servers"))
            cfg.bootstrap = v;
        else if (!strcmp(a, "--registry"))
            cfg.registry_url = v;
        else if (!strcmp(a, "--entity"))
            ents[cfg.n_entities++] = v;
        else if (!strcmp(a, "--group-id"))
            cfg.group_id = v;
        else if (!strcmp(a, "--transactional-id"))
            cfg.transactional_id = v;
        else if (!strcmp(a, "-X"))
            props[cfg.n_props++] = v;
        else if (!strcmp(a, "--kafka-config"))
            kafka_config = v;
        else if (!strcmp(a, "--metrics-listen"))
            metrics_listen = v;
        else if (!strcmp(a, "--checkpoint"))
            cfg.checkpoint_path = v;
        else if (!strcmp(a, "--auth-file"))
            auth.path = v;
        else {
            long long n = 0;
            if (cli_parse_number("aggregate", a, v, 1, 100000000, &n))
                goto done;
            if (!strcmp(a, "--commit-interval-ms"))
                cfg.commit_interval_ms = (int)n;
            else if (!strcmp(a, "--checkpoint-interval-s"))
                cfg.checkpoint_interval_s = (int)n;
            else
                cfg.batch_max = (int)n;
        }
    }
    if (!cfg.bootstrap || !cfg.registry_url) {
        fprintf(stderr, "canon aggregate: --bootstrap-servers and --registry are required\n");
        usage(stderr);
        goto done;
    }
    if (strncmp(cfg.registry_url, "http://", 7) && strncmp(cfg.registry_url, "https://", 8)) {
        fprintf(stderr, "canon aggregate: registry URL '%s' must start with http:// or https://\n",
                cfg.registry_url);
        goto done;
    }
    cfg.entities = ents;
    if (cli_props_merge("aggregate", kafka_config, props, cfg.n_props, &kprops))
        goto done;
    cfg.props = kprops.v;
    cfg.n_props = kprops.n;
    if (metrics_listen && !(mhd = metrics_start(metrics_listen, &metrics_of, &rc, metrics_url)))
        goto done;
    rc = 2;
    /* A test hook, not an option: see canon_pipeline_config.test_replay_every. */
    const char *replay = getenv("CANON_TEST_REPLAY_EVERY");
    if (replay)
        cfg.test_replay_every = atoi(replay);
    const char *abort_every = getenv("CANON_TEST_ABORT_EVERY");
    if (abort_every)
        cfg.test_abort_every = atoi(abort_every);
    if (auth.path) {
        cg_err *aerr = reg_auth_load(auth.path, &auth.auth);
        if (aerr) {
            fprintf(stderr, "canon aggregate: %s\n", cg_err_msg(aerr));
            cg_err_free(aerr);
            rc = 1;
            goto done;
        }
        cfg.source_allowed = source_allowed;
        cfg.source_opaque = &auth;
        signal(SIGHUP, on_hup);
    }
    /* Handlers first: a SIGTERM during start-up (topic checks, registry) must end the
     * command cleanly, not kill it; the flag covers the time before `running` is set. */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    canon_pipeline *p = NULL;
    cg_err *err = canon_pipeline_new(&cfg, &p);
    if (err) {
        fprintf(stderr, "canon aggregate: %s\n", cg_err_msg(err));
        cg_err_free(err);
        rc = 1;
        goto done;
    }
    __atomic_store_n(&metrics_of, p, __ATOMIC_RELEASE);
    if (mhd)
        fprintf(stderr, "canon aggregate: metrics on %s\n", metrics_url);
    running = p;
    if (stop_early)
        canon_pipeline_stop(p);
    fprintf(stderr, "canon aggregate: running (group %s)\n",
            cfg.group_id ? cfg.group_id : "canon-aggregator");
    err = canon_pipeline_run(p);
    rc = 0;
    if (err) {
        fprintf(stderr, "canon aggregate: %s\n", cg_err_msg(err));
        cg_err_free(err);
        rc = 1;
    }
    running = NULL;
    if (mhd)
        MHD_stop_daemon(mhd); /* before the pipeline its handler reads */
    mhd = NULL;
    canon_pipeline_free(p);
done:
    if (mhd)
        MHD_stop_daemon(mhd);
    reg_auth_free(auth.auth);
    free(ents);
    free(props);
    cli_props_free(&kprops);
    return rc;
}
