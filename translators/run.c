/* run.c - the loop of `canon translate`: domain topic -> mapping -> canon.<entity>.updates.
 *
 * See run.h for the contract. How "nothing lost" is kept without transactions:
 *
 * Consumed records are grouped, in consumption order, into chunks (up to CHUNK_RECORDS
 * records). A chunk counts the messages it produced (updates and dead letters) that the
 * broker has not acknowledged yet, and remembers, per source partition, the offset after
 * its last record. Delivery reports (served on this thread by rd_kafka_poll) decrement the
 * count of the chunk the message belongs to (its opaque). Chunks are settled from the
 * oldest: a chunk whose count reached zero hands its offsets to the commit list; a chunk
 * with a failed delivery stops settling for good (the run then ends with an error), so no
 * offset after an undelivered update is ever committed. The commit list is committed
 * asynchronously every COMMIT_INTERVAL_MS and synchronously at the end and when
 * partitions are revoked (after flushing the producer, so the new owner starts exactly
 * after what we delivered).
 *
 * A record is added to a chunk only once it was handed to the producer (or found to need
 * nothing); a failure that is not the record's fault (registry unreachable, producer
 * queue refusing for good) ends the run before its offset is recorded. An update larger
 * than message.max.bytes is the record's fault (every run would stop on it again): the
 * record becomes a dead letter (TOO_LARGE); if the dead letter is too large as well, the
 * run stops there, naming the record.
 */
#include "run.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../canon/avro_json.h"
#include "../canon/topic_config.h"
#include "mapping_internal.h"

#define CHUNK_RECORDS        4096
#define COMMIT_INTERVAL_MS   1000
#define PROGRESS_INTERVAL_MS 5000
#define CONSUME_BATCH        1024

/* Offset after the last record of one source partition seen by a chunk. */
typedef struct part_offset {
    int32_t partition;
    int64_t next;
} part_offset;

typedef struct chunk {
    struct chunk *next;
    int64_t outstanding; /* produced, not yet acknowledged */
    size_t records;
    int closed; /* no more records will be added */
    int failed; /* a delivery failed: never settle */
    part_offset *offs;
    size_t n_offs, cap_offs;
} chunk;

/* An assigned partition of the source topic. */
typedef struct assigned {
    int32_t partition;
    int at_end; /* EOF seen since its last record */
} assigned;

struct tr_run {
    tr_run_config cfg;
    const char *who; /* message prefix */
    const tr_mapping *m;
    canon_registry *reg;
    char *source_topic, *updates_topic, *dlq_topic;
    int32_t dlq_partitions;
    char max_msg[32];     /* the producer's message.max.bytes, for messages */
    char max_msg_set[32]; /* message.max.bytes the producer is made with ("": the user's) */

    rd_kafka_t *consumer, *producer;
    rd_kafka_queue_t *cq; /* the consumer's queue */
    rd_kafka_topic_t *updates_rkt, *dlq_rkt;

    /* chunks, oldest first; cur is the open one (also the tail), or NULL */
    chunk *head, *tail, *cur;
    /* settled offsets not committed yet (partition -> next offset) */
    part_offset *commit;
    size_t n_commit, cap_commit;
    int commit_dirty;

    assigned *parts;
    size_t n_parts, cap_parts;
    int32_t *started; /* partitions already positioned by TR_RUN_FROM_BEGINNING */
    size_t n_started, cap_started;

    tr_output out;
    cg_err *fatal; /* first failure that ends the run (a delivery, a fatal Kafka error) */
    volatile sig_atomic_t stop;
    tr_run_counts c;
    int64_t last_commit_ms, last_progress_ms;
    int64_t first_record_ms; /* 0: none yet */
    uint64_t delivered_seen; /* c.delivered when c.seconds was last set */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets c.seconds when deliveries came since the last call: once per poll, not per
 * delivery (a clock read per record is measurable at these rates). */
static void note_deliveries(tr_run *r)
{
    if (r->first_record_ms && r->c.delivered != r->delivered_seen) {
        r->delivered_seen = r->c.delivered;
        r->c.seconds = (double)(now_ms() - r->first_record_ms) / 1000.0;
    }
}

static void say(const tr_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const tr_run *r, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", r->who);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void set_fatal(tr_run *r, cg_err *e)
{
    if (!r->fatal)
        r->fatal = e;
    else
        cg_err_free(e);
}

/* ---- offsets ------------------------------------------------------------------- */

/* Sets partition's offset in the list (grown as needed) to next when greater. */
static int offsets_put(part_offset **list, size_t *n, size_t *cap, int32_t partition, int64_t next)
{
    for (size_t i = 0; i < *n; i++)
        if ((*list)[i].partition == partition) {
            if (next > (*list)[i].next)
                (*list)[i].next = next;
            return 0;
        }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        part_offset *p = realloc(*list, nc * sizeof(*p));
        if (!p)
            return -1;
        *list = p;
        *cap = nc;
    }
    (*list)[(*n)++] = (part_offset){partition, next};
    return 0;
}

static void chunk_free(chunk *ch)
{
    if (ch) {
        free(ch->offs);
        free(ch);
    }
}

/* The open chunk, a new one when none is open (NULL when memory is short). */
static chunk *open_chunk(tr_run *r)
{
    if (r->cur)
        return r->cur;
    chunk *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    if (r->tail)
        r->tail->next = ch;
    else
        r->head = ch;
    r->tail = r->cur = ch;
    return ch;
}

static void close_chunk(tr_run *r)
{
    if (r->cur)
        r->cur->closed = 1;
    r->cur = NULL;
}

/* Moves the offsets of the settled chunks at the head into the commit list. */
static void settle(tr_run *r)
{
    while (r->head && r->head->closed && !r->head->failed && r->head->outstanding == 0) {
        chunk *ch = r->head;
        for (size_t i = 0; i < ch->n_offs; i++)
            if (offsets_put(&r->commit, &r->n_commit, &r->cap_commit, ch->offs[i].partition,
                            ch->offs[i].next)) {
                set_fatal(r, cg_err_new(CG_ENOMEM, "out of memory"));
                return;
            }
        r->commit_dirty |= ch->n_offs > 0;
        r->head = ch->next;
        if (!r->head)
            r->tail = NULL;
        chunk_free(ch);
    }
}

/* Commits the commit list: synchronously (sync != 0) or not. Partitions no longer
 * assigned are left out: their new owner commits them. */
static void commit(tr_run *r, int sync)
{
    if (!r->commit_dirty)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)r->n_commit);
    for (size_t i = 0; i < r->n_commit; i++)
        rd_kafka_topic_partition_list_add(l, r->source_topic, r->commit[i].partition)->offset =
            r->commit[i].next;
    rd_kafka_resp_err_t e = rd_kafka_commit(r->consumer, l, !sync);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        say(r, "commit: %s", rd_kafka_err2str(e));
    else if (r->cfg.verbose && sync)
        for (size_t i = 0; i < r->n_commit; i++)
            say(r, "committed %s [%d] at offset %" PRId64, r->source_topic,
                (int)r->commit[i].partition, r->commit[i].next);
    rd_kafka_topic_partition_list_destroy(l);
    r->commit_dirty = 0;
    r->last_commit_ms = now_ms();
}

/* Waits until every produced message is acknowledged (or failed), then settles and
 * commits synchronously. Used at the end and before partitions are taken away. */
static void drain(tr_run *r)
{
    close_chunk(r);
    while (rd_kafka_outq_len(r->producer) > 0) {
        rd_kafka_poll(r->producer, 100); /* message.timeout.ms bounds this */
        note_deliveries(r);
    }
    settle(r);
    commit(r, 1);
}

/* ---- callbacks (on the loop's thread) ------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    tr_run *r = opaque;
    chunk *ch = m->_private;
    if (ch)
        ch->outstanding--;
    if (!m->err) {
        r->c.delivered++;
        return;
    }
    if (ch)
        ch->failed = 1;
    set_fatal(r, cg_err_new(CG_EKAFKA, "a record for %s (key '%.*s') was not delivered: %s",
                            rd_kafka_topic_name(m->rkt), (int)(m->key_len > 200 ? 200 : m->key_len),
                            m->key ? (const char *)m->key : "", rd_kafka_err2str(m->err)));
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    tr_run *r = opaque;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        set_fatal(r,
                  cg_err_new(CG_EKAFKA, "fatal Kafka error: %s: %s", rd_kafka_err2name(orig), buf));
        return;
    }
    if (r->cfg.verbose || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        say(r, "Kafka: %s", reason);
}

static int partition_started(tr_run *r, int32_t p)
{
    for (size_t i = 0; i < r->n_started; i++)
        if (r->started[i] == p)
            return 1;
    if (r->n_started == r->cap_started) {
        size_t nc = r->cap_started ? r->cap_started * 2 : 16;
        int32_t *s = realloc(r->started, nc * sizeof(*s));
        if (!s)
            return 1;
        r->started = s;
        r->cap_started = nc;
    }
    r->started[r->n_started++] = p;
    return 0;
}

static void assigned_add(tr_run *r, int32_t p)
{
    for (size_t i = 0; i < r->n_parts; i++)
        if (r->parts[i].partition == p)
            return;
    if (r->n_parts == r->cap_parts) {
        size_t nc = r->cap_parts ? r->cap_parts * 2 : 16;
        assigned *a = realloc(r->parts, nc * sizeof(*a));
        if (!a) {
            set_fatal(r, cg_err_new(CG_ENOMEM, "out of memory"));
            return;
        }
        r->parts = a;
        r->cap_parts = nc;
    }
    r->parts[r->n_parts++] = (assigned){p, 0};
}

static void assigned_remove(tr_run *r, int32_t p)
{
    for (size_t i = 0; i < r->n_parts; i++)
        if (r->parts[i].partition == p) {
            r->parts[i] = r->parts[--r->n_parts];
            return;
        }
}

static assigned *assigned_find(tr_run *r, int32_t p)
{
    for (size_t i = 0; i < r->n_parts; i++)
        if (r->parts[i].partition == p)
            return &r->parts[i];
    return NULL;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    tr_run *r = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t ke = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            if (r->cfg.start == TR_RUN_FROM_BEGINNING && !partition_started(r, p))
                parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            assigned_add(r, p);
        }
        if (r->cfg.verbose)
            say(r, "assigned %d partition(s) of %s", parts->cnt, r->source_topic);
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            ke = rd_kafka_assign(rk, parts);
    } else {
        /* What we delivered is committed before the partitions go: their next owner
         * starts right after it, and re-produces nothing we already delivered. */
        drain(r);
        for (int i = 0; i < parts->cnt; i++) {
            assigned_remove(r, parts->elems[i].partition);
            for (size_t j = 0; j < r->n_commit; j++)
                if (r->commit[j].partition == parts->elems[i].partition) {
                    r->commit[j] = r->commit[--r->n_commit];
                    break;
                }
        }
        if (r->cfg.verbose)
            say(r, "revoked %d partition(s) of %s", parts->cnt, r->source_topic);
        if (cooperative)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            ke = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        say(r, "rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (ke) {
        say(r, "rebalance: %s", rd_kafka_err2str(ke));
    }
}

/* ---- one record ----------------------------------------------------------------- */

/* Hands one message to the producer (hdrs: owned from here on, NULL for none). On an
 * error, *kerr is librdkafka's code (MSG_SIZE_TOO_LARGE: the message is larger than
 * message.max.bytes, the record's fault, which the caller handles), else NO_ERROR. */
static cg_err *produce(tr_run *r, rd_kafka_topic_t *rkt, int32_t partition, const void *key,
                       size_t key_len, const void *val, size_t val_len, int64_t ts,
                       rd_kafka_headers_t *hdrs, chunk *ch, rd_kafka_resp_err_t *kerr)
{
    *kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (;;) {
        rd_kafka_resp_err_t e;
        if (hdrs)
            e = rd_kafka_producev(
                r->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)val, val_len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(ch), RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(r->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, key_len),
                                  RD_KAFKA_V_VALUE((void *)val, val_len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(ch),
                                  RD_KAFKA_V_END);
        if (!e) {
            ch->outstanding++;
            return NULL;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            *kerr = e;
            return cg_err_new(CG_EKAFKA, "produce to %s: %s", rd_kafka_topic_name(rkt),
                              rd_kafka_err2str(e));
        }
        /* the queue drains as deliveries come back, which also settles chunks */
        rd_kafka_poll(r->producer, 10);
        if (r->fatal) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            return cg_err_new(CG_EKAFKA, "producer stopped: %s", cg_err_msg(r->fatal));
        }
    }
}

/* The record, byte for byte, to the DLQ with why. */
static cg_err *dead_letter(tr_run *r, const rd_kafka_message_t *m, int64_t ts, const char *code,
                           const char *message, chunk *ch)
{
    char buf[32];
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    rd_kafka_header_add(h, "canon.error.code", -1, code, -1);
    rd_kafka_header_add(h, "canon.error.message", -1, message, -1);
    rd_kafka_header_add(h, "canon.source.topic", -1, r->source_topic, -1);
    snprintf(buf, sizeof(buf), "%d", (int)m->partition);
    rd_kafka_header_add(h, "canon.source.partition", -1, buf, -1);
    snprintf(buf, sizeof(buf), "%" PRId64, m->offset);
    rd_kafka_header_add(h, "canon.source.offset", -1, buf, -1);
    /* same partition as the source when the DLQ has it, so a partition's dead letters
     * stay in order */
    int32_t part = m->partition < r->dlq_partitions ? m->partition : RD_KAFKA_PARTITION_UA;
    if (r->cfg.verbose)
        say(r, "dead letter: %s [%d] offset %" PRId64 ": %s: %s", r->source_topic,
            (int)m->partition, m->offset, code, message);
    rd_kafka_resp_err_t ke;
    cg_err *err =
        produce(r, r->dlq_rkt, part, m->key, m->key_len, m->payload, m->len, ts, h, ch, &ke);
    if (err && ke == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* Nowhere to put it: stop before its offset is recorded, so nothing is lost and
         * nothing after it is committed. Every run stops here until the limit is raised
         * or the group's offset is moved past the record: a loud stop, not a silent loss. */
        cg_err_free(err);
        err = cg_err_new(CG_EKAFKA,
                         "%s [%d] offset %" PRId64 " (%zu bytes) cannot go to the dead-letter "
                         "topic %s (%s: %s): %s (message.max.bytes %s); stopping. Raise "
                         "message.max.bytes (-X) and the topic's max.message.bytes, or move "
                         "the group's offset past the record",
                         r->source_topic, (int)m->partition, m->offset, m->len + m->key_len,
                         r->dlq_topic, code, message, rd_kafka_err2str(ke), r->max_msg);
    }
    if (!err)
        r->c.dead_letters++;
    return err;
}

/* Formats a dead letter's reason into why (cap bytes, at most 1024): a reason too long is
 * cut before a UTF-8 character, never inside one, since it goes in a header
 * (canon.error.message) that a consumer reads as UTF-8. */
static void set_why(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t cap, const char *fmt, ...)
{
    char full[1028]; /* a byte past the cut at most, to see whether it continues a character */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(full, sizeof(full), fmt, ap);
    va_end(ap);
    size_t n = tr_utf8_cut(full, strlen(full), cap - 1);
    memcpy(why, full, n);
    why[n] = 0;
}

/* Avro input: decodes m's value to JSON into *out. Returns NULL with *out set; NULL with
 * *out NULL and code/why filled when the record is bad (a dead letter); an error when the
 * failure is not the record's (the run stops). JSON input: NULL with *out NULL and no
 * code (the text goes to the mapping as it is), unless the value is missing. */
static cg_err *decode(tr_run *r, const rd_kafka_message_t *m, json_t **out, const char **code,
                      char *why, size_t why_len)
{
    *out = NULL;
    if (!m->payload) {
        *code = "NOT_JSON";
        snprintf(why, why_len, "empty value (a tombstone): nothing to map");
        return NULL;
    }
    if (tr_mapping_format(r->m) == TR_FORMAT_JSON)
        return NULL; /* handle() gives the text to tr_mapping_apply_text() */
    const unsigned char *p = m->payload;
    if (m->len < 5 || p[0] != 0) {
        *code = "FRAMING";
        snprintf(why, why_len, "not in the Confluent wire format (magic byte 0, schema id)");
        return NULL;
    }
    int32_t id =
        (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
    const reg_schema *s = NULL;
    cg_err *err = canon_registry_schema(r->reg, id, &s);
    if (err) {
        if (cg_err_code(err) != CG_ESCHEMA_NOT_FOUND)
            return err; /* the registry's trouble, not the record's: stop, lose nothing */
        *code = "UNKNOWN_SCHEMA";
        set_why(why, why_len, "schema id %d: %s", (int)id, cg_err_msg(err));
        cg_err_free(err);
        return NULL;
    }
    err = canon_avro_json_decode(reg_schema_root(s), p + 5, m->len - 5, CANON_AVRO_JSON_PLAIN, out);
    if (err) {
        if (cg_err_code(err) == CG_ENOMEM)
            return err;
        *code = "DECODE";
        set_why(why, why_len, "schema id %d: %s", (int)id, cg_err_msg(err));
        cg_err_free(err);
        *out = NULL;
    }
    return NULL;
}

static cg_err *handle(tr_run *r, const rd_kafka_message_t *m)
{
    assigned *a = assigned_find(r, m->partition);
    if (!a)
        return NULL; /* revoked meanwhile: its next owner reads it */
    a->at_end = 0;
    if (!r->first_record_ms)
        r->first_record_ms = now_ms();
    r->c.records_in++;
    chunk *ch = open_chunk(r);
    if (!ch)
        return cg_err_new(CG_ENOMEM, "out of memory");
    rd_kafka_timestamp_type_t tst;
    int64_t ts = rd_kafka_message_timestamp(m, &tst);
    if (ts < 0)
        ts = 0;
    const char *code = NULL;
    char why[1024];
    json_t *rec = NULL;
    cg_err *err = decode(r, m, &rec, &code, why, sizeof(why));
    if (err)
        return err;
    if (rec || (!code && tr_mapping_format(r->m) == TR_FORMAT_JSON)) {
        /* JSON: the mapping scans the text once and builds only the values it reads,
         * several times faster than a jansson tree (docs/translators.md, Performance) */
        cg_err *me = rec ? tr_mapping_apply(r->m, rec, ts, m->offset, &r->out)
                         : tr_mapping_apply_text(r->m, m->payload, m->len, ts, m->offset, &r->out);
        json_decref(rec);
        if (me) {
            code = cg_err_code(me) == CG_EPARSE ? "NOT_JSON" : "MAPPING";
            set_why(why, sizeof(why), "%s", cg_err_msg(me));
            cg_err_free(me);
        } else {
            rd_kafka_resp_err_t ke;
            err = produce(r, r->updates_rkt, RD_KAFKA_PARTITION_UA, r->out.key.data, r->out.key.len,
                          r->out.value.data, r->out.value.len, 0, NULL, ch, &ke);
            if (err && ke == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                /* the record's fault, not Kafka's: every run would stop on it again */
                code = "TOO_LARGE";
                set_why(why, sizeof(why),
                        "the update (%zu bytes) is too large to produce to %s: %s "
                        "(message.max.bytes %s)",
                        r->out.key.len + r->out.value.len, r->updates_topic, rd_kafka_err2str(ke),
                        r->max_msg);
                cg_err_free(err);
                err = NULL;
            } else if (err) {
                return err;
            } else {
                r->c.updates_out++;
                r->c.deletes += r->out.is_delete != 0;
            }
        }
    }
    if (code && (err = dead_letter(r, m, ts, code, why, ch)))
        return err;
    if (offsets_put(&ch->offs, &ch->n_offs, &ch->cap_offs, m->partition, m->offset + 1))
        return cg_err_new(CG_ENOMEM, "out of memory");
    if (++ch->records >= CHUNK_RECORDS)
        close_chunk(r);
    return NULL;
}

/* ---- setup ---------------------------------------------------------------------- */

static cg_err *conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char errstr[512];
    if (rd_kafka_conf_set(c, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return cg_err_new(CG_EINVAL, "librdkafka property %s=%s: %s", k, v, errstr);
    return NULL;
}

void tr_run_conf_defaults(rd_kafka_conf_t *conf)
{
    static const char *const kv[][2] = {
        /* consumer: DESIGN "librdkafka 2.0.2 traps": the fetcher pauses about a second
         * whenever its queue passes these, capping any loop near 200k records/s. 128 MB
         * still holds about two seconds of input at the goal's rate (340-byte records,
         * 200,000/s), so the pause costs nothing; with 256 MB a backlog cost a third
         * more CPU per record (a page fault per fresh page of prefetched input, and more
         * user time too: docs/translators.md, "Throughput") */
        {"queued.min.messages", "1000000"},
        {"queued.max.messages.kbytes", "131072"},
        /* an idle translator's fetches return after this long: at 10 ms one idle
         * translator kept 8 to 9% of a core of the broker busy, at 100 ms under 1%; a
         * fetch returns as soon as records arrive, so latency does not depend on it */
        {"fetch.wait.max.ms", "100"},
        {"isolation.level", "read_committed"},
        /* producer: large batches, a short linger; the idempotent producer keeps a
         * partition's updates in order across retries */
        {"linger.ms", "20"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"message.timeout.ms", "60000"},
    };
    char errstr[256];
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr));
}

/* Reads topic's partition count (0 when the topic does not exist). */
static cg_err *partition_count(tr_run *r, rd_kafka_t *rk, const char *topic, int32_t *n)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e)
        return cg_err_new(CG_EKAFKA, "Kafka at %s: cannot read metadata of %s: %s",
                          r->cfg.bootstrap, topic, rd_kafka_err2str(e));
    *n = 0;
    if (md->topic_cnt == 1 && !md->topics[0].err)
        *n = md->topics[0].partition_cnt;
    else if (md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        cg_err *err =
            cg_err_new(CG_EKAFKA, "topic %s: %s", topic, rd_kafka_err2str(md->topics[0].err));
        rd_kafka_metadata_destroy(md);
        return err;
    }
    rd_kafka_metadata_destroy(md);
    return NULL;
}

static cg_err *create_topic(tr_run *r, const char *topic, int32_t partitions)
{
    char errstr[512];
    cg_err *err = NULL;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, errstr, sizeof(errstr));
    if (!nt)
        return cg_err_new(CG_EKAFKA, "topic %s: %s", topic, errstr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(r->producer);
    rd_kafka_CreateTopics(r->producer, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        err = cg_err_new(CG_EKAFKA, "create topic %s: no answer in 30 s", topic);
    } else if (rd_kafka_event_error(ev)) {
        err = cg_err_new(CG_EKAFKA, "create topic %s: %s", topic, rd_kafka_event_error_string(ev));
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rd_kafka_resp_err_t e =
            cnt == 1 ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__BAD_MSG;
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            err = cg_err_new(CG_EKAFKA, "create topic %s: %s", topic,
                             cnt == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return err;
}

/* librdkafka fills a batch up to message.max.bytes, and the broker refuses a batch past
 * the topic's max.message.bytes after it was sent: every record of it undelivered, and
 * the run stopped, at every run. So the producer is made again with a message.max.bytes
 * below the smaller of the two topics' limits, leaving room for the batch's own framing
 * (CANON_BATCH_FRAMING). A single update or dead letter past it is then TOO_LARGE before
 * it is sent, as with the producer's own limit. */
static cg_err *new_client(tr_run *r, rd_kafka_type_t type, rd_kafka_t **out);

static cg_err *fit_topics(tr_run *r)
{
    long long lim[2];
    const char *topics[2] = {r->updates_topic, r->dlq_topic};
    canon_topic_config tc[2];
    long long want = 0;
    int which = 0; /* the topic that sets want */
    canon_topic_config_read(r->producer, topics, 2, tc, 10000);
    for (int i = 0; i < 2; i++) {
        if (!(lim[i] = tc[i].max_message_bytes)) {
            say(r,
                "could not read max.message.bytes of %s (%s): producing with "
                "message.max.bytes %s",
                topics[i], tc[i].why, r->max_msg);
            continue;
        }
        /* (librdkafka's message.max.bytes is 1000 at least) */
        if (lim[i] > CANON_BATCH_FRAMING + 1000 && (!want || lim[i] - CANON_BATCH_FRAMING < want)) {
            want = lim[i] - CANON_BATCH_FRAMING;
            which = i;
        }
    }
    long long have = strtoll(r->max_msg, NULL, 10);
    if (!want || have <= want)
        return NULL;
    say(r,
        "%s takes record batches of at most %lld bytes (max.message.bytes): producing with "
        "message.max.bytes %lld, not %s",
        topics[which], lim[which], want, r->max_msg);
    snprintf(r->max_msg_set, sizeof(r->max_msg_set), "%lld", want);
    rd_kafka_destroy(r->producer); /* nothing produced yet */
    r->producer = NULL;
    cg_err *err = new_client(r, RD_KAFKA_PRODUCER, &r->producer);
    if (!err)
        snprintf(r->max_msg, sizeof(r->max_msg), "%lld", want);
    return err;
}

static cg_err *new_client(tr_run *r, rd_kafka_type_t type, rd_kafka_t **out)
{
    char errstr[512];
    cg_err *err = NULL;
    rd_kafka_conf_t *c =
        r->cfg.user_conf ? rd_kafka_conf_dup(r->cfg.user_conf) : rd_kafka_conf_new();
    if ((err = conf_set(c, "bootstrap.servers", r->cfg.bootstrap)))
        goto fail;
    if (type == RD_KAFKA_CONSUMER) {
        const char *reset = r->cfg.start == TR_RUN_FROM_END ? "latest" : "earliest";
        if ((err = conf_set(c, "group.id", r->cfg.group_id)) ||
            (err = conf_set(c, "enable.auto.commit", "false")) ||
            (err = conf_set(c, "enable.auto.offset.store", "false")) ||
            (err = conf_set(c, "auto.offset.reset", reset)) ||
            (err = conf_set(c, "enable.partition.eof", "true")))
            goto fail;
        rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    } else {
        /* Java's partitioner for keyed records, as every producer of the project uses */
        if ((err = conf_set(c, "partitioner", "murmur2_random")) ||
            (err = conf_set(c, "enable.idempotence", "true")) ||
            (*r->max_msg_set && (err = conf_set(c, "message.max.bytes", r->max_msg_set))))
            goto fail;
        rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    }
    rd_kafka_conf_set_error_cb(c, on_error);
    rd_kafka_conf_set_opaque(c, r);
    *out = rd_kafka_new(type, c, errstr, sizeof(errstr));
    if (!*out) {
        err = cg_err_new(CG_EKAFKA, "%s: %s", type == RD_KAFKA_CONSUMER ? "consumer" : "producer",
                         errstr);
        goto fail;
    }
    return NULL;
fail:
    rd_kafka_conf_destroy(c);
    return err;
}

cg_err *tr_run_new(const tr_run_config *cfg, const tr_mapping *m, canon_registry *reg, tr_run **out)
{
    cg_err *err = NULL;
    if (!cfg->bootstrap || !cfg->group_id)
        return cg_err_new(CG_EINVAL, "tr_run_new: bootstrap and group_id are required");
    if (tr_mapping_format(m) == TR_FORMAT_AVRO && !reg)
        return cg_err_new(CG_EINVAL, "an Avro source needs the registry");
    tr_run *r = calloc(1, sizeof(*r));
    if (!r)
        return cg_err_new(CG_ENOMEM, "out of memory");
    r->cfg = *cfg;
    r->who = cfg->log_prefix ? cfg->log_prefix : "canon translate";
    r->m = m;
    r->reg = reg;
    tr_output_init(&r->out);
    size_t el = strlen(tr_mapping_entity(m));
    r->source_topic = strdup(tr_mapping_source_topic(m));
    r->dlq_topic = strdup(tr_mapping_dlq_topic(m));
    r->updates_topic = malloc(el + 16);
    if (!r->source_topic || !r->dlq_topic || !r->updates_topic) {
        err = cg_err_new(CG_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(r->updates_topic, el + 16, "canon.%s.updates", tr_mapping_entity(m));

    if ((err = new_client(r, RD_KAFKA_PRODUCER, &r->producer)))
        goto fail;
    size_t mm = sizeof(r->max_msg);
    if (rd_kafka_conf_get(rd_kafka_conf(r->producer), "message.max.bytes", r->max_msg, &mm) !=
        RD_KAFKA_CONF_OK)
        snprintf(r->max_msg, sizeof(r->max_msg), "?");
    int32_t n_src = 0, n_upd = 0;
    if ((err = partition_count(r, r->producer, r->source_topic, &n_src)))
        goto fail;
    if (!n_src) {
        err = cg_err_new(CG_EKAFKA, "source topic %s does not exist (Kafka at %s)", r->source_topic,
                         cfg->bootstrap);
        goto fail;
    }
    if ((err = partition_count(r, r->producer, r->updates_topic, &n_upd)))
        goto fail;
    if (!n_upd) {
        err = cg_err_new(CG_EKAFKA,
                         "topic %s does not exist (Kafka at %s); create it with the partition "
                         "count of canon.%s, or start `canon serve`, which creates it",
                         r->updates_topic, cfg->bootstrap, tr_mapping_entity(m));
        goto fail;
    }
    if ((err = partition_count(r, r->producer, r->dlq_topic, &r->dlq_partitions)))
        goto fail;
    if (!r->dlq_partitions) {
        if ((err = create_topic(r, r->dlq_topic, n_src)))
            goto fail;
        r->dlq_partitions = n_src;
        say(r, "created the dead-letter topic %s (%d partitions)", r->dlq_topic, (int)n_src);
    }
    if ((err = fit_topics(r)))
        goto fail;
    /* topic handles now: their metadata is known, so the first produce does not stall */
    r->updates_rkt = rd_kafka_topic_new(r->producer, r->updates_topic, NULL);
    r->dlq_rkt = rd_kafka_topic_new(r->producer, r->dlq_topic, NULL);
    if (!r->updates_rkt || !r->dlq_rkt) {
        err = cg_err_new(CG_EKAFKA, "topic handle: %s", rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    {
        /* refresh both topics' metadata through the handles (first produce stall) */
        const struct rd_kafka_metadata *md = NULL;
        if (!rd_kafka_metadata(r->producer, 0, r->updates_rkt, &md, 10000))
            rd_kafka_metadata_destroy(md);
        md = NULL;
        if (!rd_kafka_metadata(r->producer, 0, r->dlq_rkt, &md, 10000))
            rd_kafka_metadata_destroy(md);
    }
    if ((err = new_client(r, RD_KAFKA_CONSUMER, &r->consumer)))
        goto fail;
    rd_kafka_poll_set_consumer(r->consumer);
    r->cq = rd_kafka_queue_get_consumer(r->consumer);
    *out = r;
    return NULL;
fail:
    tr_run_free(r);
    return err;
}

/* ---- the loop ------------------------------------------------------------------- */

static int all_at_end(const tr_run *r)
{
    if (r->n_parts == 0)
        return 0;
    for (size_t i = 0; i < r->n_parts; i++)
        if (!r->parts[i].at_end)
            return 0;
    return 1;
}

static void progress(tr_run *r)
{
    say(r,
        "%" PRIu64 " records in, %" PRIu64 " updates out (%" PRIu64 " deletes), %" PRIu64
        " dead letters, %" PRIu64 " delivered",
        r->c.records_in, r->c.updates_out, r->c.deletes, r->c.dead_letters, r->c.delivered);
}

cg_err *tr_run_loop(tr_run *r)
{
    cg_err *err = NULL;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, r->source_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(r->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (ke)
        return cg_err_new(CG_EKAFKA, "subscribe to %s: %s", r->source_topic, rd_kafka_err2str(ke));
    rd_kafka_message_t *msgs[CONSUME_BATCH];
    r->last_commit_ms = r->last_progress_ms = now_ms();
    while (!r->stop && !r->fatal) {
        ssize_t n = rd_kafka_consume_batch_queue(r->cq, 100, msgs, CONSUME_BATCH);
        if (n < 0) {
            err = cg_err_new(CG_EKAFKA, "consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!err && !m->err) {
                err = handle(r, m);
            } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                assigned *a = assigned_find(r, m->partition);
                if (a)
                    a->at_end = 1;
            } else if (m->err && !err) {
                if (rd_kafka_fatal_error(r->consumer, NULL, 0))
                    err = cg_err_new(CG_EKAFKA, "consumer: %s", rd_kafka_message_errstr(m));
                else
                    say(r, "consumer: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        if (err)
            break;
        rd_kafka_poll(r->producer, 0);
        note_deliveries(r);
        if (n == 0)
            close_chunk(r); /* idle: let what we have settle and be committed */
        settle(r);
        int64_t t = now_ms();
        if (t - r->last_commit_ms >= COMMIT_INTERVAL_MS)
            commit(r, 0);
        if (r->cfg.verbose && t - r->last_progress_ms >= PROGRESS_INTERVAL_MS) {
            progress(r);
            r->last_progress_ms = t;
        }
        if (r->cfg.once && all_at_end(r))
            break;
    }
    /* Whatever stopped us, what was delivered is committed; nothing after a failure is. */
    drain(r);
    if (err) {
        set_fatal(r, err);
        err = NULL;
    }
    if (r->fatal) {
        err = r->fatal;
        r->fatal = NULL;
    }
    if (r->cfg.verbose)
        progress(r);
    return err;
}

void tr_run_stop(tr_run *r)
{
    r->stop = 1;
}

void tr_run_counts_get(const tr_run *r, tr_run_counts *out)
{
    *out = r->c;
}

void tr_run_free(tr_run *r)
{
    if (!r)
        return;
    if (r->cq)
        rd_kafka_queue_destroy(r->cq);
    if (r->consumer) {
        rd_kafka_consumer_close(r->consumer);
        rd_kafka_destroy(r->consumer);
    }
    if (r->updates_rkt)
        rd_kafka_topic_destroy(r->updates_rkt);
    if (r->dlq_rkt)
        rd_kafka_topic_destroy(r->dlq_rkt);
    if (r->producer) {
        rd_kafka_flush(r->producer, 10000);
        rd_kafka_destroy(r->producer);
    }
    while (r->head) {
        chunk *ch = r->head;
        r->head = ch->next;
        chunk_free(ch);
    }
    tr_output_free(&r->out);
    cg_err_free(r->fatal);
    free(r->commit);
    free(r->parts);
    free(r->started);
    free(r->source_topic);
    free(r->updates_topic);
    free(r->dlq_topic);
    free(r);
}
