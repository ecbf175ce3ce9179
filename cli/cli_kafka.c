/* cli_kafka.c - the option parsing, client setup and messages the Kafka subcommands share.
 *
 * See cli_kafka.h. Kept apart from the commands so produce, tail and state accept the same
 * options and word the same failures the same way. */
#include "cli_kafka.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

rd_kafka_conf_t *cli_kafka_conf_new(void)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    return conf;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "canon %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

/* 1, after printing "A needs a value", when a is one of opts (NULL-terminated) and val is
 * NULL; else 0. */
static int missing_value(const char *cmd, const char *a, const char *val, const char *const *opts)
{
    if (val)
        return 0;
    for (size_t i = 0; opts[i]; i++)
        if (!strcmp(a, opts[i])) {
            fprintf(stderr, "canon %s: %s needs a value\n", cmd, a);
            return 1;
        }
    return 0;
}

/* cli_kafka_option but for -h: CLI_OPT_EXIT means a usage error (printed). */
static cli_opt take_option(const char *cmd, int argc, char **argv, int *i,
                           const char *const *value_opts, cli_kafka *k)
{
    static const char *const opts[] = {"--bootstrap-servers", "--registry", "-X", NULL};
    const char *a = argv[*i];
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    int shared = !strcmp(a, opts[0]) || !strcmp(a, opts[1]) || !strcmp(a, opts[2]);
    if (missing_value(cmd, a, val, shared ? opts : value_opts))
        return CLI_OPT_EXIT;
    if (!shared)
        return CLI_OPT_OWN;
    ++*i;
    if (!strcmp(a, "--bootstrap-servers")) {
        k->bootstrap = argv[*i];
        return CLI_OPT_TAKEN;
    }
    if (!strcmp(a, "--registry")) {
        k->registry_url = argv[*i];
        return CLI_OPT_TAKEN;
    }
    char errstr[512];
    char *kv = argv[*i], *eq = strchr(kv, '=');
    if (!eq) {
        fprintf(stderr, "canon %s: -X wants KEY=VALUE, got '%s'\n", cmd, kv);
        return CLI_OPT_EXIT;
    }
    *eq = '\0';
    if (rd_kafka_conf_set(k->conf, kv, eq + 1, errstr, sizeof(errstr))) {
        fprintf(stderr, "canon %s: -X %s: %s\n", cmd, kv, errstr);
        return CLI_OPT_EXIT;
    }
    return CLI_OPT_TAKEN;
}

cli_opt cli_kafka_option(const char *cmd, int argc, char **argv, int *i,
                         const char *const *value_opts, void (*usage)(FILE *out), cli_kafka *k,
                         int *rc)
{
    if (!strcmp(argv[*i], "-h") || !strcmp(argv[*i], "--help")) {
        usage(stdout);
        *rc = 0;
        return CLI_OPT_EXIT;
    }
    cli_opt o = take_option(cmd, argc, argv, i, value_opts, k);
    if (o == CLI_OPT_EXIT)
        *rc = 2;
    return o;
}

int cli_registry_open(const char *cmd, cli_kafka *k)
{
    cg_err *err = canon_registry_new(k->registry_url, 0, &k->reg);
    if (!err)
        return 0;
    fprintf(stderr, "canon %s: %s\n", cmd, cg_err_msg(err));
    cg_err_free(err);
    return -1;
}

int cli_kafka_consumer_conf(const char *cmd, cli_kafka *k, const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = k->conf;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", k->bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr))) {
        fprintf(stderr, "canon %s: %s\n", cmd, errstr);
        return -1;
    }
    return 0;
}

void cli_kafka_new(const char *cmd, rd_kafka_type_t type, cli_kafka *k)
{
    char errstr[512];
    k->rk = rd_kafka_new(type, k->conf, errstr, sizeof(errstr));
    if (!k->rk) {
        fprintf(stderr, "canon %s: %s\n", cmd, errstr);
        return;
    }
    k->conf = NULL;
}

int cli_kafka_topic_metadata(const char *cmd, cli_kafka *k, const char *topic, const char *hint)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, rkt, &k->md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        fprintf(stderr, "canon %s: Kafka at %s: cannot read metadata of %s: %s\n", cmd,
                k->bootstrap, topic, rd_kafka_err2str(e));
        return -1;
    }
    const struct rd_kafka_metadata *m = k->md;
    if (m->topic_cnt != 1 || m->topics[0].err || m->topics[0].partition_cnt <= 0) {
        fprintf(stderr, "canon %s: topic %s: %s%s\n", cmd, topic,
                m->topic_cnt && m->topics[0].err ? rd_kafka_err2str(m->topics[0].err)
                                                 : "no partitions",
                hint);
        return -1;
    }
    return 0;
}

void cli_kafka_release(cli_kafka *k)
{
    if (k->parts)
        rd_kafka_topic_partition_list_destroy(k->parts);
    if (k->md)
        rd_kafka_metadata_destroy(k->md);
    if (k->rk) {
        if (rd_kafka_type(k->rk) == RD_KAFKA_CONSUMER)
            rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    if (k->conf)
        rd_kafka_conf_destroy(k->conf);
    canon_registry_free(k->reg);
}
