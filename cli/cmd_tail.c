/* cmd_tail.c - `canon tail TOPIC`: any Confluent-framed topic as JSON, one record a line.
 *
 * Debugging without digging through logs: canon topics, updates topics, dead-letter
 * topics, or any other topic whose values use the Confluent wire format are decoded
 * through the registry (the schema id in each record's frame) and printed as one JSON
 * object per record, so `canon tail ... | jq` answers "what is on this topic?". A record
 * that does not decode (a dead letter is often exactly that) is printed all the same,
 * with its bytes in hex and the reason, never skipped. Reads read_committed, so what it
 * shows is what consumers see; stops at the end of the topic unless --follow.
 *
 * It assigns partitions itself (no consumer group, no committed offsets): tailing never
 * disturbs anyone's group. */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "../canon/avro_json.h"
#include "../canon/registry_client.h"
#include "cli_kafka.h"
#include "cmds.h"

/* The options of this command alone that take a value (the others are flags). */
static const char *const value_opts[] = {"--max", "--timeout-ms", "--partition", "--offset", NULL};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: canon tail TOPIC --bootstrap-servers B --registry URL\n"
        "                  [--from-beginning] [--follow] [--max N] [--timeout-ms T]\n"
        "                  [--partition P [--offset O]]\n"
        "\n"
        "Print the records of TOPIC (canon.E, canon.E.updates, canon.E.dlq or any topic\n"
        "with Confluent-framed Avro values) as JSON, one object a line:\n"
        "\n"
        "  {\"topic\":..., \"partition\":0, \"offset\":5, \"timestamp\":1700000000000,\n"
        "   \"key\":\"...\", \"schema_id\":3, \"value\":{...}, \"headers\":{\"name\":\"value\"}}\n"
        "\n"
        "Values are decoded with the schema their frame names, in Avro's JSON encoding\n"
        "(unions as {\"type\": value}). A value that does not decode is printed as\n"
        "\"value_hex\" with \"error\" saying why; a key or header that is not UTF-8 as\n"
        "\"key_hex\" / {\"hex\": ...}. A header name the record has more than once\n"
        "maps to an array of its values, in order. Reads read_committed.\n"
        "\n"
        "options:\n"
        "  --bootstrap-servers B  Kafka brokers (HOST:PORT[,...])\n"
        "  --registry URL         schema registry (http:// or https://HOST:PORT); without\n"
        "                         it values are printed as hex with their schema id\n"
        "  --from-beginning       start at the oldest record (default: the end, so only\n"
        "                         new records, which needs --follow to show any)\n"
        "  --partition P          that partition only\n"
        "  --offset O             start at offset O of --partition P (the update a\n"
        "                         provenance entry names: --offset O --max 1); an\n"
        "                         offset the partition lacks is an error\n"
        "  --follow               keep waiting for new records (stop with Ctrl-C)\n"
        "  --max N                stop after N records\n"
        "  --timeout-ms T         without --follow: fail if the end is not reached within\n"
        "                         T ms, an unreachable broker included (default 30000);\n"
        "                         with --follow: stop after T ms without a new record\n"
        "                         (default: never); T >= 1\n"
        "  --plain                union values bare ({\"email\": \"a@b.c\"}): easier to\n"
        "                         read, not always reversible\n"
        "  -X KEY=VALUE           a librdkafka consumer property (repeatable)\n"
        "  --kafka-config FILE    librdkafka properties file (KEY=VALUE lines, '#'\n"
        "                         comments; e.g. security.protocol, sasl.*, ssl.*),\n"
        "                         applied before any -X\n"
        "  -h, --help             this help\n"
        "\n"
        "Exit 0 at the end (or --max, or timeout with --follow), 1 on an error.\n");
}

static json_t *hex_json(const void *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    if (!s)
        return NULL;
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = d[b[i] >> 4];
        s[2 * i + 1] = d[b[i] & 15];
    }
    json_t *j = json_stringn(s, 2 * n);
    free(s);
    return j;
}

/* Sets name to the bytes as a string when they are UTF-8, else name_hex to their hex. */
static void set_bytes(json_t *o, const char *name, const void *p, size_t n)
{
    if (!p) {
        json_object_set_new(o, name, json_null());
        return;
    }
    json_t *s = json_stringn(p, n);
    if (s) {
        json_object_set_new(o, name, s);
        return;
    }
    char hn[64];
    snprintf(hn, sizeof(hn), "%s_hex", name);
    json_object_set_new(o, hn, hex_json(p, n));
}

/* The record as one JSON object (new reference). */
static json_t *record_json(const rd_kafka_message_t *m, canon_registry *reg, int flags)
{
    json_t *o = json_object();
    rd_kafka_timestamp_type_t tst;
    int64_t ts = rd_kafka_message_timestamp(m, &tst);
    json_object_set_new(o, "topic", json_string(rd_kafka_topic_name(m->rkt)));
    json_object_set_new(o, "partition", json_integer(m->partition));
    json_object_set_new(o, "offset", json_integer(m->offset));
    if (ts >= 0)
        json_object_set_new(o, "timestamp", json_integer(ts));
    set_bytes(o, "key", m->key, m->key_len);

    const unsigned char *v = m->payload;
    if (!v) {
        json_object_set_new(o, "schema_id", json_null());
        json_object_set_new(o, "value", json_null()); /* a tombstone */
    } else if (m->len < 5 || v[0] != 0) {
        json_object_set_new(o, "value_hex", hex_json(v, m->len));
        char why[96];
        if (m->len < 5)
            snprintf(why, sizeof(why), "not Confluent-framed (%zu bytes)", m->len);
        else
            snprintf(why, sizeof(why), "not Confluent-framed (magic byte 0x%02x)", v[0]);
        json_object_set_new(o, "error", json_string(why));
    } else {
        int32_t id =
            (int32_t)((uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4]);
        json_object_set_new(o, "schema_id", json_integer(id));
        const reg_schema *s = NULL;
        json_t *val = NULL;
        cg_err *err = NULL;
        if (reg) {
            err = canon_registry_schema(reg, id, &s);
            if (!err)
                err = canon_avro_json_decode(reg_schema_root(s), v + 5, m->len - 5, flags, &val);
        }
        if (val) {
            json_object_set_new(o, "value", val);
        } else {
            json_object_set_new(o, "value_hex", hex_json(v, m->len));
            if (err)
                json_object_set_new(o, "error", json_string(cg_err_msg(err)));
        }
        cg_err_free(err);
    }

    json_t *hj = json_object();
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *hv;
        size_t hlen;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &hv, &hlen) == 0; i++) {
            json_t *s = hv ? json_stringn(hv, hlen) : json_null();
            if (!s)
                s = json_pack("{s:o}", "hex", hex_json(hv, hlen));
            /* Kafka allows a name more than once (a dead letter replayed twice carries two
             * canon.replay.offset): the values become an array, in the record's order. One
             * value is never an array itself, so an array always means a repeated name. */
            json_t *prev = json_object_get(hj, name);
            if (prev && !json_is_array(prev)) {
                json_t *all = json_array();
                json_array_append(all, prev);
                json_object_set_new(hj, name, all);
                prev = all;
            }
            if (prev)
                json_array_append_new(prev, s);
            else
                json_object_set_new(hj, name, s);
        }
    }
    json_object_set_new(o, "headers", hj);
    return o;
}

int cmd_tail(int argc, char **argv)
{
    cli_kafka k = {.conf = cli_kafka_conf_new()};
    const char *topic = NULL;
    int from_beginning = 0, follow = 0, flags = 0, rc = 1;
    long long max = -1, timeout_ms = -1, only_part = -1, start = -1;
    int *at_end = NULL;

    for (int i = 1; i < argc; i++) {
        cli_opt o = cli_kafka_option("tail", argc, argv, &i, value_opts, usage, &k, &rc);
        if (o == CLI_OPT_EXIT)
            goto done;
        const char *a = argv[i];
        if (o == CLI_OPT_TAKEN)
            continue;
        if (!strcmp(a, "--from-beginning")) {
            from_beginning = 1;
        } else if (!strcmp(a, "--follow")) {
            follow = 1;
        } else if (!strcmp(a, "--plain")) {
            flags = CANON_AVRO_JSON_PLAIN;
        } else if (!strcmp(a, "--max") || !strcmp(a, "--timeout-ms") || !strcmp(a, "--partition") ||
                   !strcmp(a, "--offset")) {
            /* partitions are int32, and a timeout ends within librdkafka's int ms; a
             * timeout of 0 could only fail (without --follow) or stop at once (with it),
             * so it starts at 1 as produce's and state's do */
            int is_timeout = !strcmp(a, "--timeout-ms");
            long long n, max_n = !strcmp(a, "--partition") ? INT32_MAX
                                 : is_timeout              ? INT_MAX
                                                           : LLONG_MAX;
            if (cli_parse_number("tail", a, argv[++i], is_timeout ? 1 : 0, max_n, &n)) {
                rc = 2;
                goto done;
            }
            if (!strcmp(a, "--max"))
                max = n;
            else if (!strcmp(a, "--timeout-ms"))
                timeout_ms = n;
            else if (!strcmp(a, "--partition"))
                only_part = n;
            else
                start = n;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("tail", "unknown option '%s' (see --help)", a);
            goto done;
        } else if (!topic) {
            topic = a;
        } else {
            rc = cli_usage_error("tail", "unexpected argument '%s'", a);
            goto done;
        }
    }
    if (!topic || !k.bootstrap) {
        rc = cli_usage_error("tail", "%s is required (see --help)",
                             !topic ? "TOPIC" : "--bootstrap-servers");
        goto done;
    }
    if (start >= 0 && only_part < 0) {
        rc = cli_usage_error("tail", "--offset needs --partition");
        goto done;
    }
    if (timeout_ms < 0 && !follow)
        timeout_ms = 30000;
    if (k.registry_url) {
        int r = cli_registry_open("tail", &k);
        if (r) {
            rc = r;
            goto done;
        }
    }
    if (cli_kafka_consumer_conf("tail", &k, "canon-tail"))
        goto done;
    /* An offset the partition no longer (or not yet) has is an error to report, not a
     * silent jump to the end: the update a provenance entry names may have been removed
     * by retention. */
    char errstr[256];
    if (start >= 0 &&
        rd_kafka_conf_set(k.conf, "auto.offset.reset", "error", errstr, sizeof(errstr))) {
        fprintf(stderr, "canon tail: %s\n", errstr);
        goto done;
    }
    cli_kafka_new("tail", RD_KAFKA_CONSUMER, &k);
    /* the clock starts before the metadata request, which waits at most T */
    long long last = cli_mono_ms();
    if (!k.rk || cli_kafka_topic_metadata("tail", &k, topic, "", (int)timeout_ms))
        goto done;
    int n_parts = k.md->topics[0].partition_cnt;
    if (only_part >= n_parts) {
        fprintf(stderr, "canon tail: %s has %d partitions (0 to %d): no partition %lld\n", topic,
                n_parts, n_parts - 1, only_part);
        goto done;
    }
    at_end = calloc((size_t)n_parts, sizeof(*at_end));
    k.parts = rd_kafka_topic_partition_list_new(n_parts);
    for (int p = 0; p < n_parts; p++) {
        int32_t id = k.md->topics[0].partitions[p].id;
        if (only_part >= 0 && id != only_part) {
            at_end[p] = 1; /* not read: already at its end for the stop below */
            continue;
        }
        rd_kafka_topic_partition_list_add(k.parts, topic, id)->offset =
            start >= 0       ? start
            : from_beginning ? RD_KAFKA_OFFSET_BEGINNING
                             : RD_KAFKA_OFFSET_END;
    }
    int ended = only_part >= 0 ? n_parts - 1 : 0;
    rd_kafka_resp_err_t e = rd_kafka_assign(k.rk, k.parts);
    if (e) {
        fprintf(stderr, "canon tail: cannot assign %s: %s\n", topic, rd_kafka_err2str(e));
        goto done;
    }

    long long printed = 0;
    rc = 0;
    while (max < 0 || printed < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k.rk, 100);
        if (!m) {
            if (timeout_ms >= 0 && cli_mono_ms() - last > timeout_ms) {
                if (!follow) {
                    fprintf(stderr,
                            "canon tail: end of %s not reached within %lld ms (is Kafka at %s "
                            "reachable?)\n",
                            topic, timeout_ms, k.bootstrap);
                    rc = 1;
                }
                break;
            }
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            for (int p = 0; p < n_parts; p++)
                if (k.md->topics[0].partitions[p].id == m->partition && !at_end[p]) {
                    at_end[p] = 1;
                    ended++;
                }
            rd_kafka_message_destroy(m);
            if (!follow && ended == n_parts)
                break;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
            fprintf(stderr,
                    "canon tail: offset %lld of partition %lld of %s is not on the broker "
                    "(past the end, or removed by retention or compaction): %s\n",
                    start, only_part, topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            rc = 1;
            break;
        }
        if (m->err) {
            fprintf(stderr, "canon tail: %s\n", rd_kafka_message_errstr(m));
            int fatal = cli_kafka_fatal(m->err);
            rd_kafka_message_destroy(m);
            if (fatal) {
                rc = 1;
                break;
            }
            continue;
        }
        last = cli_mono_ms();
        json_t *o = record_json(m, k.reg, flags);
        rd_kafka_message_destroy(m);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!s) {
            fprintf(stderr, "canon tail: out of memory\n");
            rc = 1;
            break;
        }
        printf("%s\n", s);
        free(s);
        if (follow)
            fflush(stdout);
        printed++;
    }
    fflush(stdout);
done:
    free(at_end);
    cli_kafka_release(&k);
    return rc;
}
