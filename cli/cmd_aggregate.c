/* cmd_aggregate.c - `canon aggregate`: run the canon aggregator (the single producer).
 *
 * A thin front of canon/pipeline.h: parses flags, starts the pipeline and runs it until
 * SIGINT/SIGTERM, which commit the open batch and leave the consumer group cleanly. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon/pipeline.h"
#include "cmds.h"

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
        "  --registry URL          schema registry, http://HOST:PORT (required)\n"
        "  --entity E              serve entity E (repeatable); default: every entity the\n"
        "                          registry lists, and new ones as they are registered\n"
        "  --group-id G            consumer group (default canon-aggregator)\n"
        "  --transactional-id ID   unique per instance, stable across its restarts\n"
        "                          (default GROUP-HOSTNAME)\n"
        "  --commit-interval-ms N  longest a batch stays open under load (default 100);\n"
        "                          at low load a batch commits as soon as the input is drained\n"
        "  --batch-max N           most updates per transaction (default 20000)\n"
        "  --no-transactions       at-least-once mode for clusters without transactions\n"
        "  -X key=value            librdkafka setting for the consumer and producer\n"
        "                          (repeatable; overrides the defaults)\n"
        "  -v, --verbose           log restores and commits\n"
        "  -h, --help              this help\n"
        "\n"
        "Topics: canon.E.updates must exist; canon.E (compacted) and canon.E.dlq are created\n"
        "with its partition count when missing. Metrics: see 'canon serve' (/metrics).\n");
}

static canon_pipeline *running;

static void on_signal(int sig)
{
    (void)sig;
    if (running)
        canon_pipeline_stop(running);
}

int cmd_aggregate(int argc, char **argv)
{
    canon_pipeline_config cfg = {0};
    const char **ents = calloc((size_t)argc, sizeof(char *));
    const char **props = calloc((size_t)argc, sizeof(char *));
    int rc = 2;
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
        if (!v ||
            (strcmp(a, "--bootstrap-servers") && strcmp(a, "--registry") && strcmp(a, "--entity") &&
             strcmp(a, "--group-id") && strcmp(a, "--transactional-id") && strcmp(a, "-X") &&
             strcmp(a, "--commit-interval-ms") && strcmp(a, "--batch-max"))) {
            fprintf(stderr,
                    v ? "canon aggregate: unknown option '%s'\n"
                      : "canon aggregate: '%s' needs a value\n",
                    a);
            usage(stderr);
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
        else {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n <= 0 || n > 100000000) {
                fprintf(stderr, "canon aggregate: %s: expected a positive number, got '%s'\n", a,
                        v);
                goto done;
            }
            if (!strcmp(a, "--commit-interval-ms"))
                cfg.commit_interval_ms = (int)n;
            else
                cfg.batch_max = (int)n;
        }
    }
    if (!cfg.bootstrap || !cfg.registry_url) {
        fprintf(stderr, "canon aggregate: --bootstrap-servers and --registry are required\n");
        usage(stderr);
        goto done;
    }
    cfg.entities = ents;
    cfg.props = props;
    canon_pipeline *p = NULL;
    cg_err *err = canon_pipeline_new(&cfg, &p);
    if (err) {
        fprintf(stderr, "canon aggregate: %s\n", cg_err_msg(err));
        cg_err_free(err);
        rc = 1;
        goto done;
    }
    running = p;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
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
    canon_pipeline_free(p);
done:
    free(ents);
    free(props);
    return rc;
}
