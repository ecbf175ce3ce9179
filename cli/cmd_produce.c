/* cmd_produce.c - `canon produce ENTITY`: send updates given as JSON to canon.ENTITY.updates.
 *
 * For scripts, tests and people at a terminal: each JSON text (one --json, or one per
 * line of stdin) is an update in the update schema's JSON form (docs/wire.md, NUpdate),
 * Avro JSON or the plain form of canon/avro_json.h (unions bare). What a person would
 * otherwise have to spell out is filled in: event_time (now), seq (0), op (UPSERT), and
 * `provided` (the keys present in "values"). The update is encoded with the latest
 * registered canon.ENTITY.updates-value schema, framed with its id (Confluent wire
 * format), keyed by the key field's value and partitioned with murmur2 like every other
 * producer of the project, so a tool-written update is indistinguishable from a binding's.
 *
 * Every line is reported: on stdout one JSON object per delivered update (line,
 * partition, offset), on stderr "line N: why" for each refused or undelivered one; the
 * exit code is 1 if any line failed. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <librdkafka/rdkafka.h>

#include "../canon/avro_json.h"
#include "../canon/registry_client.h"
#include "../translators/time_format.h"
#include "cli_kafka.h"
#include "cmds.h"

/* The options of this command alone that take a value (the others are flags). */
static const char *const value_opts[] = {"--json", "--timeout-ms", NULL};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: canon produce ENTITY --bootstrap-servers B --registry URL\n"
        "                     [--json TEXT | < lines]\n"
        "\n"
        "Send updates of entity ENTITY to topic canon.ENTITY.updates. Each JSON text is\n"
        "one update (--json, or one per line of stdin), in the update schema's JSON form,\n"
        "with union values bare or wrapped:\n"
        "\n"
        "  {\"person_id\": \"4f1c...\", \"source\": \"crm\", \"values\": {\"email\": \"a@b.c\"}}\n"
        "\n"
        "Defaults: event_time now (milliseconds since the epoch; an ISO-8601 time such as\n"
        "\"2024-05-01T12:00:00.250Z\" or \"2024-05-01T14:00:00+02:00\" is accepted too),\n"
        "seq 0, op UPSERT, provided = the keys present in \"values\" (a key with value null\n"
        "clears that field). op DELETE needs only the key and source. Encoded with the\n"
        "latest schema of canon.ENTITY.updates-value, framed with its id, keyed by the key\n"
        "field (UTF-8), partitioned with murmur2.\n"
        "\n"
        "options:\n"
        "  --bootstrap-servers B  Kafka brokers (HOST:PORT[,...])\n"
        "  --registry URL         schema registry (http:// or https://HOST:PORT)\n"
        "  --json TEXT            send this one update instead of reading stdin\n"
        "  --strict               Avro JSON only: union values must be wrapped\n"
        "                         ({\"email\": {\"string\": \"a@b.c\"}})\n"
        "  --timeout-ms T         give up delivering after T ms (default 30000)\n"
        "  -X KEY=VALUE           a librdkafka producer property (repeatable)\n"
        "  --kafka-config FILE    librdkafka properties file (KEY=VALUE lines, '#'\n"
        "                         comments; e.g. security.protocol, sasl.*, ssl.*),\n"
        "                         applied before any -X\n"
        "  -h, --help             this help\n"
        "\n"
        "Output: one line per delivered update on stdout,\n"
        "  "
        "{\"line\":1,\"topic\":\"canon.person.updates\",\"partition\":2,\"offset\":17,\"key\":\"..."
        "\"}\n"
        "and \"line N: reason\" on stderr for each one refused, then a count of delivered,\n"
        "refused and not delivered updates (also when the input held none). Exit 0 when\n"
        "every update was delivered, 1 when any was not, 2 on a usage error.\n");
}

/* Delivery reports arrive on this thread, from rd_kafka_poll()/flush(). */
typedef struct produce_run {
    const char *topic;
    size_t delivered, failed;
} produce_run;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    produce_run *run = opaque;
    long line = (long)(intptr_t)m->_private;
    if (m->err) {
        fprintf(stderr, "line %ld: not delivered: %s\n", line, rd_kafka_err2str(m->err));
        run->failed++;
        return;
    }
    json_t *o = json_pack("{s:i,s:s,s:i,s:I,s:s%}", "line", (int)line, "topic", run->topic,
                          "partition", (int)m->partition, "offset", (json_int_t)m->offset, "key",
                          (const char *)m->key, m->key_len);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(o);
    run->delivered++;
}

static int entity_name_ok(const char *e)
{
    if (!(*e >= 'a' && *e <= 'z'))
        return 0;
    for (const char *p = e; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* event_time as people write it: "2024-05-01T12:00:00Z", with a fraction ("...00.250Z")
 * or an offset ("2024-05-01T14:00:00+02:00"). event_time decides the merge order, so the
 * text must name one real instant: it is read by the translators' ISO-8601 parser
 * (fixed-width fields; February 31st, second 60 or hour 24 do not parse, where strptime
 * and timegm moved them into the next day), and the seconds and the zone must be written
 * (that parser would also take a bare date, or a time without zone as UTC). Digits past
 * the millisecond are dropped. Returns 0 and *ms, or -1 when s[0..len) is not such a time. */
static int parse_iso_ms(const char *s, size_t len, long long *ms)
{
    tr_instant t;
    if (strlen(s) != len || len < 20 || s[10] != 'T' || s[16] != ':' ||
        tr_time_parse("iso8601", s, len, &t))
        return -1;
    if (!strpbrk(s + 19, "Zz+-")) /* after the seconds only a fraction and the zone remain */
        return -1;
    *ms = t.epoch_us / 1000 - (t.epoch_us % 1000 < 0); /* rounded down before 1970 too */
    return 0;
}

static const reg_field *field_named(const reg_node *rec, const char *name)
{
    for (size_t i = 0; i < rec->n_fields; i++)
        if (!strcmp(rec->fields[i].name, name))
            return &rec->fields[i];
    return NULL;
}

/* Fills the defaults a person leaves out and checks what the encoder cannot (that
 * `provided` names fields). Returns the key (belongs to u) or NULL with *err set. */
static const char *complete_update(json_t *u, const reg_node *root, cg_err **err)
{
    const reg_field *kf = &root->fields[0];
    const reg_field *values_f = field_named(root, "values");
    json_t *key = json_object_get(u, kf->name);
    if (!key) {
        *err = cg_err_new(CG_EINVAL, "missing the key field '%s'", kf->name);
        return NULL;
    }
    if (!json_is_string(key)) {
        *err = cg_err_new(CG_EINVAL, "%s: the key must be a string", kf->name);
        return NULL;
    }
    /* the Kafka key is the key's bytes, and the body keeps the whole string: with a NUL
     * in it, a key cut at the NUL would disagree with the body's key (which the aggregator
     * dead-letters as a key mismatch) */
    if (strlen(json_string_value(key)) != json_string_length(key)) {
        *err = cg_err_new(CG_EINVAL, "%s: the key contains a NUL character (\\u0000)", kf->name);
        return NULL;
    }
    /* the aggregator dead-letters any other source (SOURCE, canon/merge.c): refused here
     * instead, where the line can still be fixed */
    json_t *source = json_object_get(u, "source");
    if (json_is_string(source) &&
        (json_string_length(source) == 0 || json_string_length(source) > 255)) {
        *err = cg_err_new(CG_EINVAL,
                          "source: must be 1 to 255 bytes, not %zu (the aggregator would "
                          "dead-letter it as SOURCE)",
                          json_string_length(source));
        return NULL;
    }
    json_t *et = json_object_get(u, "event_time");
    if (!et && field_named(root, "event_time"))
        json_object_set_new(u, "event_time", json_integer(now_ms()));
    if (json_is_string(et)) {
        long long ms;
        if (parse_iso_ms(json_string_value(et), json_string_length(et), &ms)) {
            *err = cg_err_new(CG_EINVAL,
                              "event_time: '%s' is neither milliseconds nor an ISO-8601 time "
                              "that exists (YYYY-MM-DDThh:mm:ss, a fraction if any, then Z or "
                              "an offset: 2024-05-01T12:00:00.250Z, 2024-05-01T14:00:00+02:00)",
                              json_string_value(et));
            return NULL;
        }
        json_object_set_new(u, "event_time", json_integer(ms));
    }
    json_t *values = json_object_get(u, "values");
    json_t *op = json_object_get(u, "op");
    int is_delete = json_is_string(op) && !strcmp(json_string_value(op), "DELETE");
    if (!values && values_f && values_f->type->type == REG_RECORD)
        json_object_set_new(u, "values", json_object()); /* every values field has a default */
    values = json_object_get(u, "values");
    json_t *provided = json_object_get(u, "provided");
    int derived = 0; /* names taken from "values": the encoder reports unknown ones there */
    if (!provided && field_named(root, "provided")) {
        derived = 1;
        provided = json_array();
        if (!is_delete && json_is_object(values)) {
            const char *k;
            json_t *v;
            json_object_foreach(values, k, v)
            {
                (void)v;
                json_array_append_new(provided, json_string(k));
            }
        }
        json_object_set_new(u, "provided", provided);
    }
    if (!derived && json_is_array(provided) && values_f && values_f->type->type == REG_RECORD) {
        for (size_t i = 0; i < json_array_size(provided); i++) {
            json_t *p = json_array_get(provided, i);
            if (json_is_string(p) && !field_named(values_f->type, json_string_value(p))) {
                *err = cg_err_new(CG_EINVAL, "provided[%zu]: '%s' is not a field of %s", i,
                                  json_string_value(p), values_f->type->fullname);
                return NULL;
            }
        }
    }
    return json_string_value(key);
}

/* The refusal of an update that librdkafka will not even queue: the producer's own
 * message.max.bytes (a -X or --kafka-config setting), not the broker, refused it, though
 * librdkafka words it "Broker: Message size too large". size counts value and key. */
static cg_err *too_large(rd_kafka_t *rk, size_t size)
{
    char limit[32] = "?";
    size_t n = sizeof(limit);
    rd_kafka_conf_get(rd_kafka_conf(rk), "message.max.bytes", limit, &n);
    return cg_err_new(CG_EKAFKA,
                      "not sent: the update is %zu bytes with its key, over the producer's "
                      "own limit message.max.bytes=%s (record overhead included; -X "
                      "message.max.bytes sets it)",
                      size, limit);
}

/* Encodes and sends one update. Refusals are reported here; delivery in on_delivery. */
static int send_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *text, long line,
                    const reg_node *root, int32_t schema_id, int flags)
{
    json_error_t jerr;
    cg_err *err = NULL;
    unsigned char *body = NULL, *framed = NULL;
    size_t body_len = 0;
    int rc = -1;
    json_t *u = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!u) {
        fprintf(stderr, "line %ld: not JSON: %s (column %d)\n", line, jerr.text, jerr.column);
        return -1;
    }
    if (!json_is_object(u)) {
        fprintf(stderr, "line %ld: an update is a JSON object\n", line);
        goto done;
    }
    const char *key = complete_update(u, root, &err);
    if (!key)
        goto done;
    err = canon_avro_json_encode(root, u, flags, &body, &body_len);
    if (err)
        goto done;
    framed = malloc(body_len + 5);
    if (!framed) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto done;
    }
    framed[0] = 0;
    framed[1] = (unsigned char)((uint32_t)schema_id >> 24);
    framed[2] = (unsigned char)((uint32_t)schema_id >> 16);
    framed[3] = (unsigned char)((uint32_t)schema_id >> 8);
    framed[4] = (unsigned char)schema_id;
    memcpy(framed + 5, body, body_len);
    for (;;) {
        if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, framed, body_len + 5,
                             key, strlen(key) /* no NUL: complete_update */,
                             (void *)(intptr_t)line) == 0)
            break;
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            err = too_large(rk, body_len + 5 + strlen(key));
            goto done;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            err = cg_err_new(CG_EKAFKA, "cannot produce: %s", rd_kafka_err2str(e));
            goto done;
        }
        rd_kafka_poll(rk, 100);
    }
    rd_kafka_poll(rk, 0);
    rc = 0;
done:
    if (err)
        fprintf(stderr, "line %ld: %s\n", line, cg_err_msg(err));
    cg_err_free(err);
    free(body);
    free(framed);
    json_decref(u);
    return rc;
}

/* Asks for the topic's metadata before the first produce: a missing topic or an
 * unreachable cluster is reported up front (and librdkafka 2.0.2 stalls a second on a
 * first produce to a topic it has no metadata for). */
static cg_err *check_topic(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *topic,
                           const char *bootstrap, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (e)
        return cg_err_new(CG_EKAFKA, "Kafka at %s: cannot read metadata of %s: %s", bootstrap,
                          topic, rd_kafka_err2str(e));
    cg_err *err = NULL;
    if (md->topic_cnt != 1 || md->topics[0].err)
        err = cg_err_new(CG_EKAFKA, "topic %s: %s", topic,
                         md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
    rd_kafka_metadata_destroy(md);
    return err;
}

int cmd_produce(int argc, char **argv)
{
    cli_kafka k = {.conf = cli_kafka_conf_new()};
    const char *entity = NULL, *json_text = NULL;
    int flags = CANON_AVRO_JSON_PLAIN, timeout_ms = 30000, rc = 1;
    char errstr[512], topic[300], subject[320];
    rd_kafka_topic_t *rkt = NULL;
    cg_err *err = NULL;
    produce_run run = {0};
    char *line = NULL;

    for (int i = 1; i < argc; i++) {
        cli_opt o = cli_kafka_option("produce", argc, argv, &i, value_opts, usage, &k, &rc);
        if (o == CLI_OPT_EXIT)
            goto done;
        const char *a = argv[i];
        if (o == CLI_OPT_TAKEN)
            continue;
        if (!strcmp(a, "--strict")) {
            flags = 0;
        } else if (!strcmp(a, "--json")) {
            json_text = argv[++i];
        } else if (!strcmp(a, "--timeout-ms")) {
            long long n;
            /* librdkafka's message.timeout.ms is an int */
            if (cli_parse_number("produce", a, argv[++i], 1, INT_MAX, &n)) {
                rc = 2;
                goto done;
            }
            timeout_ms = (int)n;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("produce", "unknown option '%s' (see --help)", a);
            goto done;
        } else if (!entity) {
            entity = a;
        } else {
            rc = cli_usage_error("produce", "unexpected argument '%s'", a);
            goto done;
        }
    }
    if (!entity || !k.bootstrap || !k.registry_url) {
        rc = cli_usage_error("produce", "%s is required (see --help)",
                             !entity        ? "ENTITY"
                             : !k.bootstrap ? "--bootstrap-servers"
                                            : "--registry");
        goto done;
    }
    if (!entity_name_ok(entity) || strlen(entity) > 200) {
        rc = cli_usage_error("produce", "'%s' is not an entity name ([a-z][a-z0-9_]*)", entity);
        goto done;
    }
    snprintf(topic, sizeof(topic), "canon.%s.updates", entity);
    snprintf(subject, sizeof(subject), "canon.%s.updates-value", entity);

    /* the schema first: nothing is sent when the entity is unknown */
    int32_t schema_id = 0;
    const reg_schema *schema = NULL;
    rc = cli_registry_open("produce", &k);
    if (rc)
        goto done;
    rc = 1;
    err = canon_registry_latest(k.reg, subject, &schema_id, NULL, &schema);
    if (err) {
        if (cg_err_code(err) == CG_ESUBJECT_NOT_FOUND)
            fprintf(stderr,
                    "canon produce: entity '%s' has no update schema (subject %s not found);\n"
                    "register its canonical schema at canon.%s.entity first\n(%s)\n",
                    entity, subject, entity, cg_err_msg(err));
        else
            fprintf(stderr, "canon produce: %s\n", cg_err_msg(err));
        goto done;
    }
    const reg_node *root = reg_schema_root(schema);
    if (root->type != REG_RECORD || root->n_fields == 0) {
        fprintf(stderr, "canon produce: %s (id %d) is not an update record\n", subject,
                (int)schema_id);
        goto done;
    }

    if (rd_kafka_conf_set(k.conf, "bootstrap.servers", k.bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(k.conf, "enable.idempotence", "true", errstr, sizeof(errstr))) {
        fprintf(stderr, "canon produce: %s\n", errstr);
        goto done;
    }
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%d", timeout_ms);
    rd_kafka_conf_set(k.conf, "message.timeout.ms", tmo, errstr, sizeof(errstr));
    rd_kafka_conf_set_dr_msg_cb(k.conf, on_delivery);
    run.topic = topic;
    rd_kafka_conf_set_opaque(k.conf, &run);
    /* Java's partitioner for keyed records, as every producer of the project uses */
    if (rd_kafka_conf_set(k.conf, "partitioner", "murmur2_random", errstr, sizeof(errstr))) {
        fprintf(stderr, "canon produce: %s\n", errstr);
        goto done;
    }
    cli_kafka_new("produce", RD_KAFKA_PRODUCER, &k);
    if (!k.rk)
        goto done;
    rkt = rd_kafka_topic_new(k.rk, topic, NULL);
    err = check_topic(k.rk, rkt, topic, k.bootstrap, timeout_ms < 10000 ? timeout_ms : 10000);
    if (err) {
        fprintf(stderr, "canon produce: %s\n", cg_err_msg(err));
        goto done;
    }

    size_t refused = 0, updates = 0;
    if (json_text) {
        updates++;
        if (send_one(k.rk, rkt, json_text, 1, root, schema_id, flags))
            refused++;
    } else {
        size_t cap = 0;
        long n = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
            n++;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            const char *p = line;
            while (*p == ' ' || *p == '\t')
                p++;
            if (!*p)
                continue; /* blank lines are allowed between updates */
            updates++;
            if (send_one(k.rk, rkt, line, n, root, schema_id, flags))
                refused++;
        }
    }
    rd_kafka_resp_err_t fe =
        rd_kafka_flush(k.rk, timeout_ms > INT_MAX - 5000 ? INT_MAX : timeout_ms + 5000);
    if (fe)
        fprintf(stderr, "canon produce: %d updates not delivered: %s\n", rd_kafka_outq_len(k.rk),
                rd_kafka_err2str(fe));
    rc = (refused || run.failed || fe) ? 1 : 0;
    /* an empty input is told too: a forgotten `< file` must not pass for a success */
    if (rc || !updates)
        fprintf(stderr, "canon produce: %zu delivered, %zu refused, %zu not delivered\n",
                run.delivered, refused, run.failed);
done:
    free(line);
    cg_err_free(err);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    cli_kafka_release(&k);
    return rc;
}
