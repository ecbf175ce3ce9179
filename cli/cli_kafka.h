/* cli_kafka.h - what the Kafka subcommands (produce, tail, state, translate) share.
 *
 * The commands take the same options (--bootstrap-servers, --registry, -X,
 * --kafka-config) with the same messages, and tail and state build the same read_committed
 * consumer; one copy of that here keeps their behaviour and wording in step. Every function
 * that can fail prints its own message, "canon CMD: ...", to stderr, where CMD is the
 * subcommand's name. */
#ifndef CANON_CLI_KAFKA_H
#define CANON_CLI_KAFKA_H

#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "../canon/registry_client.h"

/* What a Kafka subcommand holds: the shared options' values and its clients. Start with
 * `cli_kafka k = {.conf = cli_kafka_conf_new()};`; cli_kafka_release frees what is set. */
typedef struct cli_kafka {
    const char *bootstrap;    /* --bootstrap-servers, points into argv; NULL: not given */
    const char *registry_url; /* --registry, points into argv; NULL: not given */
    rd_kafka_conf_t *conf;    /* owned until cli_kafka_new hands it to rk */
    rd_kafka_t *rk;
    canon_registry *reg;
    rd_kafka_topic_partition_list_t *parts; /* a consumer's assignment */
    const struct rd_kafka_metadata *md;     /* the topic's, from cli_kafka_topic_metadata */
    char **x_seen; /* the -X keys applied so far (into argv; value after the key's NUL), */
    size_t n_x;    /*   re-applied after a later --kafka-config so that -X always wins */
} cli_kafka;

/* A new librdkafka configuration (caller owns it) that logs errors only: the tools report
 * what matters themselves (-X log_level=7 shows more). */
rd_kafka_conf_t *cli_kafka_conf_new(void);

/* Prints "canon CMD: " and the message (no newline needed) to stderr; returns 2, the exit
 * code of a usage error. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value text of option opt as a whole decimal number from min to max (min >= 0):
 * digits only, nothing before or after them, no overflow. 0 and *out, or 2 (the exit code
 * of a usage error) after printing "canon CMD: OPT wants a number >= MIN and <= MAX, got
 * 'TEXT'" (no "<= MAX" when max is LLONG_MAX, unless TEXT is a number above it). atoi
 * read "10abc" as 10 and 4294967297 as 1. */
int cli_parse_number(const char *cmd, const char *opt, const char *text, long long min,
                     long long max, long long *out);

/* What cli_kafka_option did with an argument. */
typedef enum {
    CLI_OPT_OWN,   /* nothing: the command handles the argument itself */
    CLI_OPT_TAKEN, /* took it (and its value): go on with the next */
    CLI_OPT_EXIT,  /* printed the help (*rc = 0) or a usage error (*rc = 2): stop */
} cli_opt;

/* Handles argv[*i] when it is -h/--help (prints usage(stdout)), --bootstrap-servers,
 * --registry, -X or --kafka-config: stores the middle two's value in k->bootstrap /
 * k->registry_url, applies -X KEY=VALUE to k->conf (argv's text is modified), applies the
 * settings of a --kafka-config FILE (see cli_kafka_props_read) before every -X whatever
 * the order on the command line, and advances *i past the value. Also checks that an
 * option of the command's own value_opts (NULL-terminated) has a value, so the command may
 * read argv[++*i] for those. */
cli_opt cli_kafka_option(const char *cmd, int argc, char **argv, int *i,
                         const char *const *value_opts, void (*usage)(FILE *out), cli_kafka *k,
                         int *rc);

/* --kafka-config FILE: a Java-style .properties file of librdkafka settings, so that
 * security.protocol, sasl.* and ssl.* live in one file (kept out of the command line and
 * shell history). Lines are KEY=VALUE (or KEY: VALUE, or KEY VALUE); '#' and '!' start
 * comment lines; a line ending in '\' continues on the next; \t \n \r \f \uXXXX and \X
 * escape as in Java. Calls set(opaque, key, value, line) for each setting in order;
 * 0, or -1 after printing why ("canon CMD: --kafka-config FILE line N: ...") when the
 * file cannot be read, a line has no key, or set returns -1 (set prints its own reason). */
int cli_kafka_props_read(const char *cmd, const char *path,
                         int (*set)(void *opaque, const char *key, const char *value, int line),
                         void *opaque);

/* Settings as "key=value" strings, for the commands whose librdkafka settings travel as
 * strings (aggregate and serve: canon_pipeline_config.props). */
typedef struct cli_props {
    const char **v; /* the settings in order; strings owned by argv or by owned */
    size_t n;
    char **owned;
    size_t n_owned;
} cli_props;

/* out = the settings of the .properties file at path (none when path is NULL), then the
 * n -X values xs, so that -X wins. 0, or -1 after printing why. Free with cli_props_free. */
int cli_props_merge(const char *cmd, const char *path, const char *const *xs, size_t n,
                    cli_props *out);
void cli_props_free(cli_props *p); /* a zeroed cli_props is fine */

/* Opens the registry client at k->registry_url into k->reg. 0; or, after printing why, 2
 * (the exit code of a usage error) when the URL or a CANON_REGISTRY_* setting is
 * malformed, 1 on any other failure. */
int cli_registry_open(const char *cmd, cli_kafka *k);

/* Sets k->conf up for reading without a consumer group's side effects: k->bootstrap,
 * group.id group (never committed), read_committed, end-of-partition events. 0, or -1
 * after printing why. */
int cli_kafka_consumer_conf(const char *cmd, cli_kafka *k, const char *group);

/* Sets k->rk to a new client of the given type made from k->conf, which it then owns
 * (k->conf becomes NULL); k->rk stays NULL after printing why. */
void cli_kafka_new(const char *cmd, rd_kafka_type_t type, cli_kafka *k);

/* Reads topic's metadata into k->md, waiting at most timeout_ms for the cluster (a
 * command's --timeout-ms bounds an unreachable broker too), and never more than 10 s
 * (also when timeout_ms is negative: no timeout given); 0 when the topic exists with at
 * least one partition, else -1 after printing why, with hint (may be "") appended to the
 * message for a topic that is missing or has no partitions. */
int cli_kafka_topic_metadata(const char *cmd, cli_kafka *k, const char *topic, const char *hint,
                             int timeout_ms);

/* 1 when a consumer error means reading cannot go on (the topic or partition is gone,
 * access is refused, the client failed fatally); 0 for the passing ones (a broker down
 * for a while), which librdkafka retries by itself. */
int cli_kafka_fatal(rd_kafka_resp_err_t err);

/* Milliseconds of CLOCK_MONOTONIC, for the tools' timeouts. */
long long cli_mono_ms(void);

/* Frees whatever of k is set (a consumer is closed first, so it leaves cleanly). */
void cli_kafka_release(cli_kafka *k);

#endif
