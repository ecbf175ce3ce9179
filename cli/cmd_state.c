/* cmd_state.c - `canon state ENTITY KEY`: the current state of one key, with provenance.
 *
 * Answers "what does the canon say about this person, and who said it when?" without a
 * consumer program: the key's partition of canon.ENTITY is computed as every producer
 * computes it (Java's murmur2, docs/wire.md "Framing and keys"), that one partition is
 * read to its end (read_committed: only what the aggregator committed), and the latest
 * envelope for the key is decoded through the registry and printed as readable JSON: the
 * state (the envelope's `after`), per-field provenance with readable times, the version,
 * and whether the key is deleted. Exit 1 with a clear message when the key is unknown.
 *
 * The canon topic is compacted and carries full state in every record, so its last
 * record for a key is the key's state: nothing needs replaying. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "../canon/avro_json.h"
#include "../canon/registry_client.h"
#include "cli_kafka.h"
#include "cmds.h"

/* The options of this command alone that take a value (the others are flags). */
static const char *const value_opts[] = {"--timeout-ms", NULL};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: canon state ENTITY KEY --bootstrap-servers B --registry URL\n"
            "\n"
            "Print the current state of KEY in canon.ENTITY: the latest envelope the\n"
            "aggregator wrote for it, as readable JSON:\n"
            "\n"
            "  {\"entity\": \"person\", \"key\": \"...\", \"version\": 3, \"deleted\": false,\n"
            "   \"state\": {...the record, union values bare...},\n"
            "   \"provenance\": {\"email\": {\"source\": \"crm\", \"event_time\": 1700000000000,\n"
            "                              \"seq\": 0, \"partition\": 2, \"offset\": 41,\n"
            "                              \"time\": \"2023-11-14T22:13:20.000Z\"}},\n"
            "   \"op\": \"UPDATE\", \"changed\": [...], \"last_delete\": null, \"cause\": {...},\n"
            "   \"topic\": \"canon.person\", \"partition\": 2, \"offset\": 17, \"schema_id\": 5}\n"
            "\n"
            "A provenance entry's partition and offset name the update that set the field\n"
            "in canon.ENTITY.updates (-1: unknown, an envelope written before they existed);\n"
            "`canon tail canon.ENTITY.updates --partition P --offset O --max 1` prints it.\n"
            "\n"
            "The key's partition is murmur2(KEY) like every producer's; only that partition\n"
            "is read, to its end, read_committed.\n"
            "\n"
            "options:\n"
            "  --bootstrap-servers B  Kafka brokers (HOST:PORT[,...])\n"
            "  --registry URL         schema registry (http:// or https://HOST:PORT)\n"
            "  --timeout-ms T         fail if the partition's end is not reached within T ms,\n"
            "                         an unreachable broker included (default 30000)\n"
            "  --envelope             print the whole envelope in Avro's JSON encoding instead\n"
            "  -X KEY=VALUE           a librdkafka consumer property (repeatable)\n"
            "  --kafka-config FILE    librdkafka properties file (KEY=VALUE lines, '#'\n"
            "                         comments; e.g. security.protocol, sasl.*, ssl.*),\n"
            "                         applied before any -X\n"
            "  -h, --help             this help\n"
            "\n"
            "Exit 0 when the key is found (also when deleted: \"deleted\": true), 1 when the\n"
            "key is unknown or on an error, 2 on a usage error.\n");
}

/* The Kafka Java client's murmur2 (seed 0x9747b28c), as librdkafka's murmur2_random. */
static uint32_t murmur2(const unsigned char *data, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28c ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        const unsigned char *p = data + 4 * i;
        uint32_t k =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    const unsigned char *tail = data + 4 * n4;
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        h ^= tail[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

/* Adds "time": ISO-8601 UTC of the "event_time" (ms) of a FieldVersion object. */
static void add_time(json_t *fv)
{
    json_t *et = json_object_get(fv, "event_time");
    if (!json_is_integer(et))
        return;
    long long ms = json_integer_value(et);
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    char buf[64];
    if (!gmtime_r(&secs, &tm))
        return;
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03lldZ", ((ms % 1000) + 1000) % 1000);
    json_object_set_new(fv, "time", json_string(buf));
}

/* The readable view of a decoded (plain) envelope; NULL when env is not an envelope. */
static json_t *readable(const char *entity, const char *key, json_t *env)
{
    json_t *version = json_object_get(env, "version");
    json_t *after = json_object_get(env, "after");
    if (!json_is_object(env) || !json_is_integer(version) || !after)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "entity", json_string(entity));
    json_object_set_new(o, "key", json_string(key));
    json_object_set(o, "version", version);
    json_object_set_new(o, "deleted", json_boolean(json_is_null(after)));
    json_object_set(o, "state", after);
    json_t *prov = json_object_get(env, "provenance");
    if (json_is_object(prov)) {
        const char *k;
        json_t *fv;
        json_object_foreach(prov, k, fv)
        {
            (void)k;
            add_time(fv);
        }
        json_object_set(o, "provenance", prov);
    }
    static const char *rest[] = {"op", "changed", "cause"};
    for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++) {
        json_t *v = json_object_get(env, rest[i]);
        if (v)
            json_object_set(o, rest[i], v);
    }
    json_t *del = json_object_get(env, "deleted");
    if (json_is_object(del))
        add_time(del);
    json_object_set(o, "last_delete", del ? del : json_null());
    return o;
}

int cmd_state(int argc, char **argv)
{
    cli_kafka k = {.conf = cli_kafka_conf_new()};
    const char *entity = NULL, *key = NULL;
    long long timeout_ms = 30000;
    int envelope = 0, rc = 1;
    char topic[300], hint[240];
    cg_err *err = NULL;
    unsigned char *last = NULL; /* the latest value for the key (NULL: none or tombstone) */
    size_t last_len = 0;
    long long last_offset = -1, records = 0;
    json_t *env = NULL, *out = NULL;

    for (int i = 1; i < argc; i++) {
        cli_opt o = cli_kafka_option("state", argc, argv, &i, value_opts, usage, &k, &rc);
        if (o == CLI_OPT_EXIT)
            goto done;
        const char *a = argv[i];
        if (o == CLI_OPT_TAKEN)
            continue;
        if (!strcmp(a, "--envelope")) {
            envelope = 1;
        } else if (!strcmp(a, "--timeout-ms")) {
            if (cli_parse_number("state", a, argv[++i], 1, INT_MAX, &timeout_ms)) {
                rc = 2;
                goto done;
            }
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("state", "unknown option '%s' (see --help)", a);
            goto done;
        } else if (!entity) {
            entity = a;
        } else if (!key) {
            key = a;
        } else {
            rc = cli_usage_error("state", "unexpected argument '%s'", a);
            goto done;
        }
    }
    if (!entity || !key || !k.bootstrap || !k.registry_url) {
        rc = cli_usage_error("state", "%s is required (see --help)",
                             !entity        ? "ENTITY"
                             : !key         ? "KEY"
                             : !k.bootstrap ? "--bootstrap-servers"
                                            : "--registry");
        goto done;
    }
    if (strlen(entity) > 200) {
        rc = cli_usage_error("state", "entity name too long");
        goto done;
    }
    snprintf(topic, sizeof(topic), "canon.%s", entity);
    snprintf(hint, sizeof(hint), " (is '%s' an entity?)", entity);
    rc = cli_registry_open("state", &k);
    if (rc)
        goto done;
    rc = 1;
    if (cli_kafka_consumer_conf("state", &k, "canon-state"))
        goto done;
    cli_kafka_new("state", RD_KAFKA_CONSUMER, &k);
    /* the clock starts before the metadata request, which waits at most T */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!k.rk || cli_kafka_topic_metadata("state", &k, topic, hint, (int)timeout_ms))
        goto done;
    int n_parts = k.md->topics[0].partition_cnt;
    size_t klen = strlen(key);
    int32_t partition =
        (int32_t)((murmur2((const unsigned char *)key, klen) & 0x7fffffff) % (uint32_t)n_parts);

    k.parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(k.parts, topic, partition)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(k.rk, k.parts);
    if (e) {
        fprintf(stderr, "canon state: cannot assign %s [%d]: %s\n", topic, (int)partition,
                rd_kafka_err2str(e));
        goto done;
    }
    int found = 0;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k.rk, 100);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long long elapsed = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (!m) {
            if (elapsed > timeout_ms) {
                fprintf(stderr,
                        "canon state: end of %s [%d] not reached within %lld ms (is Kafka at "
                        "%s reachable?)\n",
                        topic, (int)partition, timeout_ms, k.bootstrap);
                goto done;
            }
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err) {
            fprintf(stderr, "canon state: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto done;
        }
        records++;
        if (m->key && m->key_len == klen && !memcmp(m->key, key, klen)) {
            free(last);
            last = NULL;
            last_len = 0;
            if (m->payload) {
                last = malloc(m->len ? m->len : 1);
                if (!last) {
                    rd_kafka_message_destroy(m);
                    fprintf(stderr, "canon state: out of memory\n");
                    goto done;
                }
                memcpy(last, m->payload, m->len);
                last_len = m->len;
            }
            last_offset = m->offset;
            found = 1;
        }
        rd_kafka_message_destroy(m);
    }
    if (!found) {
        fprintf(stderr,
                "canon state: key '%s' is unknown: no record for it in %s (partition %d of %d, "
                "%lld records read)\n",
                key, topic, (int)partition, n_parts, records);
        goto done;
    }
    if (!last) {
        /* a tombstone: compaction will drop the key; nothing is left of it */
        out = json_pack("{s:s,s:s,s:b,s:n,s:s,s:i,s:I}", "entity", entity, "key", key, "deleted", 1,
                        "state", "topic", topic, "partition", (int)partition, "offset",
                        (json_int_t)last_offset);
    } else {
        if (last_len < 5 || last[0] != 0) {
            fprintf(stderr, "canon state: %s [%d] offset %lld: value is not Confluent-framed\n",
                    topic, (int)partition, last_offset);
            goto done;
        }
        int32_t id = (int32_t)((uint32_t)last[1] << 24 | (uint32_t)last[2] << 16 |
                               (uint32_t)last[3] << 8 | last[4]);
        const reg_schema *s = NULL;
        err = canon_registry_schema(k.reg, id, &s);
        if (!err)
            err = canon_avro_json_decode(reg_schema_root(s), last + 5, last_len - 5,
                                         envelope ? 0 : CANON_AVRO_JSON_PLAIN, &env);
        if (err) {
            fprintf(stderr, "canon state: %s [%d] offset %lld (schema id %d): %s\n", topic,
                    (int)partition, last_offset, (int)id, cg_err_msg(err));
            goto done;
        }
        out = envelope ? NULL : readable(entity, key, env);
        if (!out) {
            out = json_incref(env);
            if (!envelope)
                fprintf(stderr, "canon state: the value is not a canon envelope; printed as is\n");
        } else {
            json_object_set_new(out, "topic", json_string(topic));
            json_object_set_new(out, "partition", json_integer(partition));
            json_object_set_new(out, "offset", json_integer(last_offset));
            json_object_set_new(out, "schema_id", json_integer(id));
        }
    }
    char *text = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
    if (!text) {
        fprintf(stderr, "canon state: out of memory\n");
        goto done;
    }
    printf("%s\n", text);
    free(text);
    rc = 0;
done:
    json_decref(env);
    json_decref(out);
    free(last);
    cg_err_free(err);
    cli_kafka_release(&k);
    return rc;
}
