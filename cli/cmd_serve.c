/* cmd_serve.c - `canon serve`: the main job, every service of Canongate in one process.
 *
 * The schema registry (same server and flags as `canon registry`) and the canon
 * aggregator (canon/pipeline.h) serving every entity the registry holds, picking up new
 * ones as they are registered. Without --bootstrap-servers, the aggregator runs against
 * librdkafka's in-process mock cluster, so the main job works on a bare machine; its data
 * lives in memory only and is gone when the process ends. /metrics of the registry
 * carries the aggregator's metrics too.
 *
 * Threads: the main thread waits for SIGTERM/SIGINT (blocked everywhere else); the
 * registry serves on libmicrohttpd's threads; the aggregator runs on its own thread and
 * raises SIGTERM on itself when it stops with an error, so the process ends. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "canon/pipeline.h"
#include "cli/cli_kafka.h"
#include "cmds.h"
#include "codegen/gen_bindings.h"
#include "registry/http.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: canon serve [options]\n"
            "\n"
            "Run Canongate's services in one process: the schema registry (HTTP, the\n"
            "Confluent Schema Registry API for Avro, SQLite storage) and the canon aggregator\n"
            "for every registered entity (new entities are picked up within seconds).\n"
            "\n"
            "registry options:\n"
            "  --listen HOST:PORT     listen address (default 127.0.0.1:8081; port 0: any free)\n"
            "  --db FILE              SQLite database (default canon.db), locked while it runs\n"
            "  --threads N            HTTP worker threads (default: CPUs)\n"
            "  --quiet                no access log\n"
            "  --auth-file FILE       access control of the registry (users, API keys, roles,\n"
            "                         subject patterns: docs/security.md), re-read on SIGHUP;\n"
            "                         the aggregator also dead-letters updates whose source is\n"
            "                         not a domain writer listed for the entity\n"
            "  --insecure             allow a listen address other than 127.0.0.1, ::1 or\n"
            "                         localhost without --auth-file\n"
            "  --tls-cert FILE, --tls-key FILE  serve HTTPS with this PEM certificate and key;\n"
            "                         the aggregator inside trusts that certificate (unless\n"
            "                         CANON_REGISTRY_CA is set), so it must name the listen\n"
            "                         address (127.0.0.1 when listening on 0.0.0.0)\n"
            "  --tls-client-ca FILE   require client certificates from these CAs (mTLS)\n"
            "\n"
            "aggregator options (see 'canon aggregate --help'):\n"
            "  --bootstrap-servers B  Kafka cluster; default: librdkafka's in-process mock\n"
            "                         cluster, whose data lives IN MEMORY ONLY\n"
            "  --group-id G, --transactional-id ID, --commit-interval-ms N, -X key=value\n"
            "  --kafka-config FILE    librdkafka settings from a .properties file (security\n"
            "                         .protocol, sasl.*, ssl.*), applied before -X\n"
            "  --partitions N         partitions of updates topics it creates (default 6)\n"
            "  --checkpoint FILE      SQLite checkpoint of the aggregator's state (per\n"
            "                         partition, with the canon offset it reflects; only the\n"
            "                         keys changed since the last one are written): restarts\n"
            "                         read the canon topic only from there on. Needs\n"
            "                         --bootstrap-servers (the in-process cluster's topics\n"
            "                         are gone at exit, so no checkpoint could match them)\n"
            "  --checkpoint-interval-s N  least seconds between checkpoints (default 10)\n"
            "  --no-aggregator        the registry alone\n");
}

/* Set once the aggregator exists; read by the metrics hook on pool threads. */
typedef struct serve_ctx {
    canon_pipeline *pipeline; /* atomic */
    cg_err *err;              /* the aggregator thread's error, read after join */
} serve_ctx;

static char *metrics_extra(void *opaque, size_t *len)
{
    serve_ctx *c = opaque;
    canon_pipeline *p = __atomic_load_n(&c->pipeline, __ATOMIC_ACQUIRE);
    return p ? canon_pipeline_metrics(p, len) : NULL;
}

/* --auth-file: the aggregator dead-letters updates from sources the registry's current
 * auth file does not list as domain writers of the entity (pipeline thread). */
static int source_allowed(void *opaque, const char *entity, const uint8_t *source, size_t len)
{
    return reg_server_source_allowed(opaque, entity, (const char *)source, len);
}

static void *run_aggregator(void *arg)
{
    serve_ctx *c = arg;
    c->err = canon_pipeline_run(c->pipeline);
    if (c->err)
        kill(getpid(), SIGTERM); /* ends the sigwait() of the main thread */
    return NULL;
}

static int parse_listen(const char *s, char *host, size_t cap, unsigned *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= cap)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    char *end = NULL;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || p > 65535)
        return -1;
    *port = (unsigned)p;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    char host[256] = "127.0.0.1";
    unsigned port = 8081;
    reg_server_config rcfg = {0};
    canon_pipeline_config acfg = {0};
    int no_agg = 0, rc = 1, insecure = 0, threads = 0;
    const char **props = calloc((size_t)argc + 1, sizeof(char *));
    const char *kafka_config = NULL; /* --kafka-config FILE */
    cli_props kprops = {0};          /* its settings, then -X */
    reg_server *srv = NULL;
    rd_kafka_t *mock_rk = NULL;
    serve_ctx ctx = {0};
    pthread_t thr;
    int thr_started = 0;
    char url[300], *mock_boot = NULL;
    canon_registry_opts agg_registry; /* the aggregator's registry client settings */
    char *agg_key = NULL;             /* its API key (a secret: wiped at the end) */
    cg_err *err = NULL;
    rcfg.db_path = "canon.db";
    if (!props)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--quiet")) {
            rcfg.quiet = 1;
        } else if (!strcmp(a, "--no-aggregator")) {
            no_agg = 1;
        } else if (!strcmp(a, "--insecure")) {
            insecure = 1;
        } else if (!strcmp(a, "--no-transactions")) {
            acfg.no_transactions = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            acfg.verbose = 1;
        } else if (!v) {
            fprintf(stderr, "canon serve: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            rc = 2;
            goto done;
        } else {
            i++;
            /* The numeric options, each with where it goes and its upper bound (those of
             * the same options of canon registry and canon aggregate). */
            const struct {
                const char *name;
                long long max;
                int *dst;
            } nums[] = {{"--threads", 1024, &threads},
                        {"--partitions", 100000, &acfg.create_partitions},
                        {"--commit-interval-ms", 100000000, &acfg.commit_interval_ms},
                        {"--checkpoint-interval-s", 100000000, &acfg.checkpoint_interval_s}};
            size_t k = 0;
            while (k < sizeof(nums) / sizeof(nums[0]) && strcmp(a, nums[k].name))
                k++;
            if (k < sizeof(nums) / sizeof(nums[0])) {
                long long n = 0;
                if (cli_parse_number("serve", a, v, 1, nums[k].max, &n)) {
                    rc = 2;
                    goto done;
                }
                *nums[k].dst = (int)n;
            } else if (!strcmp(a, "--listen")) {
                if (parse_listen(v, host, sizeof(host), &port)) {
                    fprintf(stderr, "canon serve: --listen wants HOST:PORT, got '%s'\n", v);
                    rc = 2;
                    goto done;
                }
            } else if (!strcmp(a, "--db"))
                rcfg.db_path = v;
            else if (!strcmp(a, "--auth-file"))
                rcfg.auth_file = v;
            else if (!strcmp(a, "--tls-cert"))
                rcfg.tls_cert_file = v;
            else if (!strcmp(a, "--tls-key"))
                rcfg.tls_key_file = v;
            else if (!strcmp(a, "--tls-client-ca"))
                rcfg.tls_client_ca_file = v;
            else if (!strcmp(a, "--checkpoint"))
                acfg.checkpoint_path = v;
            else if (!strcmp(a, "--bootstrap-servers"))
                acfg.bootstrap = v;
            else if (!strcmp(a, "--group-id"))
                acfg.group_id = v;
            else if (!strcmp(a, "--transactional-id"))
                acfg.transactional_id = v;
            else if (!strcmp(a, "-X"))
                props[acfg.n_props++] = v;
            else if (!strcmp(a, "--kafka-config"))
                kafka_config = v;
            else {
                fprintf(stderr, "canon serve: unknown option '%s'\n\n", a);
                usage(stderr);
                rc = 2;
                goto done;
            }
        }
    }
    /* The mock cluster starts empty at every run: a checkpoint's offsets would describe
     * topics that no longer exist (the restore would ignore it every time), so refuse it
     * instead of writing a file that can never serve. */
    if (acfg.checkpoint_path && !no_agg && !acfg.bootstrap) {
        fprintf(stderr, "canon serve: --checkpoint needs --bootstrap-servers: the in-process "
                        "Kafka cluster keeps its data in memory only, so there is nothing a "
                        "checkpoint could restore from after a restart\n");
        rc = 2;
        goto done;
    }
    if (!cli_listen_allowed("canon serve", host, rcfg.auth_file, insecure)) {
        rc = 2;
        goto done;
    }
    /* --kafka-config is read before anything starts: a bad file is a usage error */
    if (cli_props_merge("serve", kafka_config, props, acfg.n_props, &kprops)) {
        rc = 2;
        goto done;
    }
    acfg.props = kprops.v;
    acfg.n_props = kprops.n;
    if (threads)
        rcfg.threads = (unsigned)threads;
    rcfg.host = host;
    rcfg.port = (uint16_t)port;
    rcfg.bindings = gen_bindings_hook();
    rcfg.metrics_extra = metrics_extra;
    rcfg.metrics_opaque = &ctx;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP); /* reloads the auth file, below */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((err = reg_server_new(&rcfg, &srv)) || (err = reg_server_start(srv))) {
        fprintf(stderr, "canon serve: registry: %s\n", cg_err_msg(err));
        goto done;
    }
    /* The aggregator's registry client takes the environment's settings (as the tools
     * do), with what serve knows itself put in place of them, below; the process
     * environment is left as it is. With TLS the aggregator checks the certificate like
     * any client: it trusts the server's own certificate (unless CANON_REGISTRY_CA names
     * one) and connects to loopback when the listen address is a wildcard. */
    canon_registry_opts_from_env(&agg_registry);
    acfg.registry_opts = &agg_registry;
    if (rcfg.tls_cert_file) {
        const char *uh = !strcmp(host, "0.0.0.0") ? "127.0.0.1"
                         : !strcmp(host, "::")    ? "::1"
                                                  : host;
        if (!agg_registry.ca_file)
            agg_registry.ca_file = rcfg.tls_cert_file;
        snprintf(url, sizeof(url), strchr(uh, ':') ? "https://[%s]:%u" : "https://%s:%u", uh,
                 (unsigned)reg_server_port(srv));
    } else
        snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u", host,
                 (unsigned)reg_server_port(srv));
    printf("canon registry: listening on %s (db %s)\n", url, rcfg.db_path);

    if (!no_agg) {
        if (!acfg.bootstrap) {
            /* The in-process cluster: one broker, hosted by a client handle of its own. */
            char errstr[256];
            rd_kafka_conf_t *conf = rd_kafka_conf_new();
            if (rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", errstr, sizeof(errstr)) ||
                !(mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
                rd_kafka_conf_destroy(conf);
                fprintf(stderr, "canon serve: in-process Kafka cluster: %s\n", errstr);
                goto done;
            }
            mock_boot =
                strdup(rd_kafka_mock_cluster_bootstraps(rd_kafka_handle_mock_cluster(mock_rk)));
            acfg.bootstrap = mock_boot;
            acfg.no_topic_configs = 1;
            printf(
                "canon serve: in-process Kafka cluster (librdkafka mock) at %s: its data lives in "
                "memory only and is lost when this process ends; use --bootstrap-servers for a "
                "real cluster\n",
                mock_boot);
        }
        acfg.registry_url = url;
        acfg.create_updates = 1;
        if (rcfg.auth_file) {
            /* The aggregator reads the registry over HTTP like any client: it gets an API
             * key of its own, a reader of everything, which the registry client sends. */
            if ((err = reg_server_internal_key(srv, &agg_key))) {
                fprintf(stderr, "canon serve: registry: %s\n", cg_err_msg(err));
                goto done;
            }
            agg_registry.token = agg_key;
            acfg.source_allowed = source_allowed;
            acfg.source_opaque = srv;
        }
        canon_pipeline *p = NULL;
        if ((err = canon_pipeline_new(&acfg, &p))) {
            fprintf(stderr, "canon serve: aggregator: %s\n", cg_err_msg(err));
            goto done;
        }
        __atomic_store_n(&ctx.pipeline, p, __ATOMIC_RELEASE);
        if (pthread_create(&thr, NULL, run_aggregator, &ctx)) {
            fprintf(stderr, "canon serve: cannot start the aggregator thread\n");
            goto done;
        }
        thr_started = 1;
        printf("canon serve: aggregator running (Kafka %s)\n", acfg.bootstrap);
    }
    fflush(stdout);

    int sig = 0;
    while (!sigwait(&set, &sig) && sig == SIGHUP)
        registry_reload_auth("canon serve", srv);
    rc = 0;
    if (thr_started) {
        canon_pipeline_stop(ctx.pipeline);
        pthread_join(thr, NULL);
        if (ctx.err) {
            fprintf(stderr, "canon serve: aggregator: %s\n", cg_err_msg(ctx.err));
            rc = 1;
        }
    } else {
        fprintf(stderr, "canon serve: %s received, stopping\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
done:
    reg_server_stop(srv);
    {
        canon_pipeline *p = ctx.pipeline;
        __atomic_store_n(&ctx.pipeline, NULL, __ATOMIC_RELEASE);
        canon_pipeline_free(p);
    }
    reg_server_free(srv);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    free(mock_boot);
    if (agg_key)
        explicit_bzero(agg_key, strlen(agg_key));
    free(agg_key);
    cg_err_free(err);
    cg_err_free(ctx.err);
    free(props);
    cli_props_free(&kprops);
    return rc;
}
