/* cmd_translate.c - `canon translate --mapping FILE`: the declarative translator.
 *
 * A domain joins the canon with a mapping file instead of code (docs/translators.md).
 * This command wires the parts: it loads the mapping (translators/mapping.h), fetches the
 * entity's canonical and latest update schemas from the registry, binds the mapping to
 * them, and only then touches Kafka, so a wrong field name is reported with its file and
 * line before anything is consumed (exit 2). The loop itself is translators/run.c:
 * at-least-once, offsets committed after the updates are delivered, bad records to the
 * DLQ with the reason. --once stops at the end of the topic, for scripts, demos and
 * benchmarks, and prints a summary. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../canon/registry_client.h"
#include "../translators/mapping.h"
#include "../translators/run.h"
#include "cli_kafka.h"
#include "cmds.h"

static const char *const value_opts[] = {"--mapping", "--group-id", NULL};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: canon translate --mapping FILE --bootstrap-servers B --registry URL\n"
            "                       [--group-id G] [--from-beginning | --from-end] [--once]\n"
            "                       [-X KEY=VALUE]... [-v]\n"
            "\n"
            "Translate a domain topic into canonical updates with a mapping file\n"
            "(docs/translators.md). The mapping names the source topic (JSON or Confluent-\n"
            "framed Avro), the entity, the domain, the universal identifier and the fields.\n"
            "It is checked against the entity's registered schemas (canon.ENTITY.entity and\n"
            "canon.ENTITY.updates-value) before anything is read: errors name the file's line\n"
            "and the field. Each record becomes one update (UPSERT or DELETE) on\n"
            "canon.ENTITY.updates, keyed by the universal identifier (murmur2 partitioner);\n"
            "a record that is not JSON, does not decode or does not map goes byte for byte to\n"
            "the mapping's DLQ topic (default SOURCE.dlq, created when missing) with headers\n"
            "canon.error.code, canon.error.message, canon.source.topic, canon.source.partition\n"
            "and canon.source.offset.\n"
            "\n"
            "Nothing is lost: the consumer group's offsets are committed only after the\n"
            "updates and dead letters of the records before them are delivered. After a\n"
            "crash a few records may be translated again; their updates carry the same\n"
            "event_time and seq (the source offset), which the aggregator ignores as repeats.\n"
            "\n"
            "options:\n"
            "  --mapping FILE         the mapping file (required)\n"
            "  --bootstrap-servers B  Kafka brokers (HOST:PORT[,...])\n"
            "  --registry URL         schema registry (http:// or https://HOST:PORT)\n"
            "  --group-id G           consumer group (default canon.translate.DOMAIN); run more\n"
            "                         translators with the same group to share the partitions\n"
            "  --from-beginning       reprocess the topic from its beginning, whatever the\n"
            "                         group committed (replayed updates are no-ops downstream\n"
            "                         unless their event time is newer)\n"
            "  --from-end             a group with no committed offset starts at the end of\n"
            "                         the topic (default: at its beginning)\n"
            "  --once                 stop at the end of the topic and print a summary\n"
            "  -X KEY=VALUE           a librdkafka property for both clients (repeatable)\n"
            "  --kafka-config FILE    librdkafka properties file (KEY=VALUE lines, '#'\n"
            "                         comments; e.g. security.protocol, sasl.*, ssl.*),\n"
            "                         applied before any -X\n"
            "  -v                     progress and every dead letter's reason on stderr\n"
            "  -h, --help             this help\n"
            "\n"
            "Exit 0 after a clean stop (--once, SIGINT, SIGTERM), 1 when Kafka or the\n"
            "registry fails (nothing after an undelivered update is committed), 2 on a usage\n"
            "or mapping error.\n");
}

/* The run the signal handler stops: signals carry no context, so this one pointer is the
 * command's only global, set while the loop runs. */
static tr_run *volatile running;

static void on_signal(int sig)
{
    (void)sig;
    if (running)
        tr_run_stop(running);
}

static void print_err(const char *what, cg_err *err)
{
    if (what)
        fprintf(stderr, "canon translate: %s: %s\n", what, cg_err_msg(err));
    else
        fprintf(stderr, "canon translate: %s\n", cg_err_msg(err));
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

int cmd_translate(int argc, char **argv)
{
    cli_kafka k = {.conf = cli_kafka_conf_new()};
    const char *mapping_path = NULL, *group = NULL;
    char *group_buf = NULL;
    int rc = 2, once = 0, verbose = 0, from_beginning = 0, from_end = 0;
    tr_mapping *m = NULL;
    tr_run *run = NULL;
    cg_err *err = NULL;

    /* the run's defaults first, so that -X can override any of them */
    tr_run_conf_defaults(k.conf);
    for (int i = 1; i < argc; i++) {
        cli_opt o = cli_kafka_option("translate", argc, argv, &i, value_opts, usage, &k, &rc);
        if (o == CLI_OPT_EXIT)
            goto done;
        if (o == CLI_OPT_TAKEN)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--mapping")) {
            mapping_path = argv[++i];
        } else if (!strcmp(a, "--group-id")) {
            group = argv[++i];
        } else if (!strcmp(a, "--from-beginning")) {
            from_beginning = 1;
        } else if (!strcmp(a, "--from-end")) {
            from_end = 1;
        } else if (!strcmp(a, "--once")) {
            once = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (a[0] == '-') {
            rc = cli_usage_error("translate", "unknown option '%s' (see --help)", a);
            goto done;
        } else {
            rc = cli_usage_error("translate",
                                 "unexpected argument '%s' (the mapping is given "
                                 "with --mapping FILE)",
                                 a);
            goto done;
        }
    }
    if (!mapping_path || !k.bootstrap || !k.registry_url) {
        rc = cli_usage_error("translate", "%s is required (see --help)",
                             !mapping_path  ? "--mapping FILE"
                             : !k.bootstrap ? "--bootstrap-servers"
                                            : "--registry");
        goto done;
    }
    if (from_beginning && from_end) {
        rc = cli_usage_error("translate", "--from-beginning and --from-end exclude each other");
        goto done;
    }

    /* 1. the mapping, checked against the registered schemas: exit 2 on any mistake */
    if ((err = tr_mapping_load(mapping_path, &m))) {
        print_err(NULL, err);
        goto done;
    }
    rc = cli_registry_open("translate", &k); /* 2: a malformed URL, a usage error */
    if (rc)
        goto done;
    rc = 1;
    const char *entity = tr_mapping_entity(m);
    char subject[300];
    const reg_schema *canonical = NULL, *update = NULL;
    int32_t update_id = 0;
    snprintf(subject, sizeof(subject), "canon.%s.entity", entity);
    if ((err = canon_registry_latest(k.reg, subject, NULL, NULL, &canonical))) {
        if (cg_err_code(err) == CG_ESUBJECT_NOT_FOUND)
            fprintf(stderr,
                    "canon translate: %s: entity '%s' is not registered (subject %s not found "
                    "at %s): register its canonical schema first\n",
                    mapping_path, entity, subject, k.registry_url);
        else
            print_err(subject, err);
        goto done;
    }
    snprintf(subject, sizeof(subject), "canon.%s.updates-value", entity);
    if ((err = canon_registry_latest(k.reg, subject, &update_id, NULL, &update))) {
        print_err(subject, err);
        goto done;
    }
    if ((err = tr_mapping_bind(m, canonical, update, update_id))) {
        print_err(NULL, err);
        rc = 2;
        goto done;
    }

    /* 2. Kafka */
    if (!group) {
        size_t n = strlen(tr_mapping_domain(m)) + 32;
        group_buf = malloc(n);
        if (!group_buf) {
            fprintf(stderr, "canon translate: out of memory\n");
            goto done;
        }
        snprintf(group_buf, n, "canon.translate.%s", tr_mapping_domain(m));
        group = group_buf;
    }
    tr_run_config cfg = {
        .bootstrap = k.bootstrap,
        .group_id = group,
        .start = from_beginning ? TR_RUN_FROM_BEGINNING
                 : from_end     ? TR_RUN_FROM_END
                                : TR_RUN_RESUME,
        .once = once,
        .verbose = verbose,
        .user_conf = k.conf,
    };
    if ((err = tr_run_new(&cfg, m, k.reg, &run))) {
        print_err(NULL, err);
        goto done;
    }
    if (verbose)
        fprintf(stderr,
                "canon translate: %s (%s, domain %s) -> canon.%s.updates (update schema id "
                "%d), group %s\n",
                tr_mapping_source_topic(m),
                tr_mapping_format(m) == TR_FORMAT_AVRO ? "Avro" : "JSON", tr_mapping_domain(m),
                entity, (int)update_id, group);
    running = run;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    err = tr_run_loop(run);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    running = NULL;
    tr_run_counts c;
    tr_run_counts_get(run, &c);
    if (err)
        print_err(NULL, err);
    if (once || err) {
        printf("canon translate: %s -> canon.%s.updates: %llu %s in, %llu %s out (%llu %s), "
               "%llu dead %s (%s); %.2f s",
               tr_mapping_source_topic(m), entity, (unsigned long long)c.records_in,
               plural(c.records_in, "record", "records"), (unsigned long long)c.updates_out,
               plural(c.updates_out, "update", "updates"), (unsigned long long)c.deletes,
               plural(c.deletes, "delete", "deletes"), (unsigned long long)c.dead_letters,
               plural(c.dead_letters, "letter", "letters"), tr_mapping_dlq_topic(m), c.seconds);
        if (c.seconds > 0)
            printf(", %.0f records/s", (double)c.records_in / c.seconds);
        printf("\n");
        fflush(stdout);
    }
    rc = err ? 1 : 0;
done:
    cg_err_free(err);
    tr_run_free(run);
    tr_mapping_free(m);
    free(group_buf);
    cli_kafka_release(&k);
    return rc;
}
