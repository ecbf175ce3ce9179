/* cmd_replay.c - `canon replay ENTITY`: send dead letters back to canon.ENTITY.updates.
 *
 * The aggregator puts what it rejects on canon.ENTITY.dlq byte for byte, so that nothing
 * is lost; once the cause is fixed (the writer allowed in canon.writers, the schema
 * registered) this puts those records back where they came from: same key, same value,
 * the partition the aggregator read them from (header canon.source.partition). A replay cannot
 * overwrite newer data, because an update's version (event_time, source, seq) is in its body: the
 * aggregator merges it as an update that arrived late, and one that already applied is a no-op.
 *
 * Progress is the committed offsets of a consumer group (canon-replay.ENTITY by default),
 * written in the same Kafka transaction as the records replayed, so an interrupted or
 * failed run replays nothing twice and the next run goes on where it stopped. A run reads
 * up to the end the DLQ had when it started: a record the aggregator rejects again lands
 * on the DLQ anew and waits for the next run, so a record that can never apply cannot
 * loop. The transactional id is the group's, which fences a second replay of the same
 * group running at the same time.
 *
 * Threads: everything runs on the caller's thread; librdkafka calls delivered() from
 * rd_kafka_commit_transaction() (which flushes) on this thread too. */
#define _GNU_SOURCE /* asprintf */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "../canon/merge.h"
#include "cli_kafka.h"
#include "cmds.h"

/* The largest --batch: the open transaction's records are held in an array of that many
 * entries, allocated before anything is read. */
#define REPLAY_BATCH_MAX 1000000

/* The options of this command alone that take a value (the others are flags). */
static const char *const value_opts[] = {"--reason",     "--partition", "--group",
                                         "--timeout-ms", "--batch",     NULL};

static void usage(FILE *out)
{
    fprintf(out, "usage: canon replay ENTITY --bootstrap-servers B [--reason CODE ...]\n"
                 "                    [--partition P] [--dry-run] [--from-beginning]\n"
                 "                    [--group G] [--batch N] [--timeout-ms T]\n"
                 "\n"
                 "Send the dead letters of entity ENTITY (topic canon.ENTITY.dlq) back to\n"
                 "canon.ENTITY.updates once their cause is fixed: a writer allowed in\n"
                 "canon.writers, a schema registered. Each goes back byte for byte (same key\n"
                 "and value, to the partition it was read from) with headers\n"
                 "canon.replay.topic, .partition, .offset and .code naming the dead letter.\n"
                 "Its version (event_time, source, seq) is in its body, so the aggregator\n"
                 "merges it as an update that arrived late: it never overwrites newer data,\n"
                 "and one that already applied is a no-op.\n"
                 "\n"
                 "Group G's committed offsets record how far the DLQ has been gone through,\n"
                 "written in the same transaction as the records replayed: each dead letter is\n"
                 "considered once per group (replayed, or passed over by a filter), also when a\n"
                 "run is interrupted. A run stops at the end the DLQ had when it started; a\n"
                 "record rejected again is a new dead letter, for the next run.\n"
                 "\n"
                 "options:\n"
                 "  --bootstrap-servers B  Kafka brokers (HOST:PORT[,...])\n"
                 "  --reason CODE          replay only dead letters of this canon.error.code\n"
                 "                         (WRITER, UNKNOWN_SCHEMA, SOURCE, ...; repeatable);\n"
                 "                         the others are passed over\n"
                 "  --partition P          that partition of the DLQ only\n"
                 "  --dry-run              print what would be replayed; send and commit nothing\n"
                 "  --from-beginning       start at the oldest dead letter, not at the group's\n"
                 "                         committed offsets\n"
                 "  --group G              consumer group keeping the progress, and the\n"
                 "                         transactional id (default canon-replay.ENTITY)\n"
                 "  --batch N              records per transaction (default 10000, at most\n"
                 "                         1000000)\n"
                 "  --timeout-ms T         fail when no progress is made for T ms (default 30000)\n"
                 "  -X KEY=VALUE           a librdkafka property, for both the consumer and the\n"
                 "                         producer (repeatable)\n"
                 "  --kafka-config FILE    librdkafka properties file (KEY=VALUE lines, '#'\n"
                 "                         comments; e.g. security.protocol, sasl.*, ssl.*),\n"
                 "                         applied before any -X\n"
                 "  -h, --help             this help\n"
                 "\n"
                 "Output: one JSON line per dead letter replayed, on stdout, once committed:\n"
                 "  {\"dlq_partition\":0,\"dlq_offset\":4,\"key\":\"...\",\"code\":\"WRITER\",\n"
                 "   \"partition\":0,\"offset\":812}   (partition, offset: where it went)\n"
                 "(with --dry-run: the dead letter's message instead of where it went), and a\n"
                 "summary on stderr. Exit 0 when the end is reached, 1 on an error\n"
                 "or an interrupt (what was committed stays replayed), 2 on a usage error.\n");
}

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* One record produced in the open transaction, for its output line once it is committed. */
typedef struct sent {
    json_t *line; /* owned: dlq_partition, dlq_offset, key, code */
    int32_t part; /* where it went: set by delivered() */
    int64_t off;
} sent;

/* Per partition of the DLQ: where reading stops and how far it has gone. */
typedef struct dlq_part {
    int32_t id;
    int64_t end;  /* the high watermark at start: records from here are the next run's */
    int64_t next; /* the offset after the last record considered; -1: none yet */
    int done;
} dlq_part;

typedef struct replay {
    const char *entity, *dlq, *updates, *group;
    const char **reasons;
    size_t n_reasons;
    long long only_part, batch, timeout_ms;
    int dry_run, from_beginning;
    rd_kafka_t *consumer, *producer;
    rd_kafka_topic_t *updates_rkt;
    int n_updates_parts;
    dlq_part *parts;
    int n_parts;
    sent *open; /* the open transaction's records */
    size_t n_open;
    int txn_open;
    int broken;        /* a commit failed: its records are not sent, so no offsets either */
    long long pending; /* records considered since the last commit */
    long long considered, replayed, passed_over;
} replay;

/* librdkafka's delivery report, on this thread (from the commit's flush). */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    sent *s = m->_private;
    if (!s)
        return;
    s->part = m->partition;
    s->off = m->offset;
}

/* The header's value as a NUL-terminated string into buf ("" when absent). */
static const char *header(const rd_kafka_message_t *m, const char *name, char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n) || !v)
        return buf;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

static int known_reason(const char *code)
{
    for (int c = CANON_R_FRAMING; c <= CANON_R_LAST; c++)
        if (!strcmp(code, canon_reason_name((canon_reason)c)))
            return 1;
    return 0;
}

static int selected(const replay *r, const char *code)
{
    if (!r->n_reasons)
        return 1;
    for (size_t i = 0; i < r->n_reasons; i++)
        if (!strcmp(r->reasons[i], code))
            return 1;
    return 0;
}

static dlq_part *part_of(replay *r, int32_t id)
{
    for (int i = 0; i < r->n_parts; i++)
        if (r->parts[i].id == id)
            return &r->parts[i];
    return NULL;
}

/* Prints a transactional API error and frees it. */
static void txn_failed(const char *what, rd_kafka_error_t *e)
{
    fprintf(stderr, "canon replay: %s: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
}

/* s as a JSON string; a placeholder when it is not UTF-8 (jansson refuses those). */
static json_t *text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    return j ? j : json_string("(not UTF-8)");
}

/* The start of a dead letter's output line (new reference; NULL when out of memory). */
static json_t *dead_letter_json(const rd_kafka_message_t *m, const char *code)
{
    return json_pack("{s:i,s:I,s:o,s:o}", "dlq_partition", (int)m->partition, "dlq_offset",
                     (json_int_t)m->offset, "key", m->key ? text(m->key, m->key_len) : json_null(),
                     "code", text(code, strlen(code)));
}

static void print_line(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s)
        printf("%s\n", s);
    free(s);
}

/* Begins a transaction unless one is open. 0, or -1 after printing why. */
static int begin(replay *r)
{
    if (r->txn_open)
        return 0;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(r->producer);
    if (e) {
        txn_failed("cannot begin a transaction", e);
        return -1;
    }
    r->txn_open = 1;
    return 0;
}

/* Forgets the open transaction's records (after an abort). */
static void drop_open(replay *r)
{
    for (size_t i = 0; i < r->n_open; i++)
        json_decref(r->open[i].line);
    r->n_open = 0;
}

/* Commits the open transaction: the records sent and the group's offsets (every record
 * considered so far, replayed or passed over). Then prints a line per record replayed.
 * 0, or -1 after printing why (the transaction is aborted: nothing of it counts). */
static int commit(replay *r)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(r->n_parts);
    for (int i = 0; i < r->n_parts; i++)
        if (r->parts[i].next >= 0)
            rd_kafka_topic_partition_list_add(offs, r->dlq, r->parts[i].id)->offset =
                r->parts[i].next;
    int rc = 0;
    if (!offs->cnt) {
        rd_kafka_topic_partition_list_destroy(offs);
        return 0;
    }
    if (begin(r)) {
        rd_kafka_topic_partition_list_destroy(offs);
        return -1;
    }
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(r->consumer);
    rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(r->producer, offs, gm, 30000);
    rd_kafka_consumer_group_metadata_destroy(gm);
    rd_kafka_topic_partition_list_destroy(offs);
    if (e) {
        txn_failed("cannot add the group's offsets to the transaction", e);
        rc = -1;
    } else if ((e = rd_kafka_commit_transaction(r->producer, 60000))) {
        txn_failed("cannot commit the transaction", e);
        rc = -1;
    }
    /* (a commit succeeds only when every record of the transaction was delivered) */
    if (rc) {
        rd_kafka_error_t *ae = rd_kafka_abort_transaction(r->producer, 30000);
        if (ae)
            txn_failed("cannot abort the transaction", ae);
        drop_open(r);
        r->txn_open = 0;
        r->broken = 1;
        return -1;
    }
    for (size_t i = 0; i < r->n_open; i++) {
        sent *s = &r->open[i];
        if (s->line) {
            json_object_set_new(s->line, "partition", json_integer(s->part));
            json_object_set_new(s->line, "offset", json_integer(s->off));
        }
        print_line(s->line);
        s->line = NULL;
    }
    fflush(stdout);
    r->replayed += (long long)r->n_open;
    r->n_open = 0;
    r->txn_open = 0;
    r->pending = 0;
    return 0;
}

/* Sends one dead letter back (in the open transaction, begun here when none is). */
static int send_back(replay *r, const rd_kafka_message_t *m, const char *code)
{
    if (begin(r))
        return -1;
    sent *s = &r->open[r->n_open];
    *s = (sent){.line = dead_letter_json(m, code), .part = -1, .off = -1};

    char buf[32];
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "canon.replay.topic", -1, r->dlq, -1);
    snprintf(buf, sizeof(buf), "%d", (int)m->partition);
    rd_kafka_header_add(h, "canon.replay.partition", -1, buf, -1);
    snprintf(buf, sizeof(buf), "%" PRId64, m->offset);
    rd_kafka_header_add(h, "canon.replay.offset", -1, buf, -1);
    rd_kafka_header_add(h, "canon.replay.code", -1, code, -1);
    /* Back to the partition it was read from; without that header (a record not written
     * by the aggregator), where the key's murmur2 puts it, as every producer does. */
    char src[16];
    char *end = NULL;
    long part = strtol(header(m, "canon.source.partition", src, sizeof(src)), &end, 10);
    if (!src[0] || *end || part < 0 || part >= r->n_updates_parts)
        part = RD_KAFKA_PARTITION_UA;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            r->producer, RD_KAFKA_V_RKT(r->updates_rkt), RD_KAFKA_V_PARTITION((int32_t)part),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(s),
            RD_KAFKA_V_END);
        if (!err)
            break;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(r->producer, 100);
            continue;
        }
        rd_kafka_headers_destroy(h);
        json_decref(s->line);
        fprintf(stderr, "canon replay: cannot send dead letter %s/%d/%" PRId64 ": %s\n", r->dlq,
                (int)m->partition, m->offset, rd_kafka_err2str(err));
        return -1;
    }
    r->n_open++;
    return 0;
}

/* Dry run: what would be replayed. */
static void print_would(const rd_kafka_message_t *m, const char *code, const char *why)
{
    json_t *o = dead_letter_json(m, code);
    if (o)
        json_object_set_new(o, "message", text(why, strlen(why)));
    print_line(o);
}

/* One dead letter read: replays it, or passes over it; 0, or -1 on an error. */
static int consider(replay *r, dlq_part *dp, const rd_kafka_message_t *m)
{
    char code[64], why[512];
    header(m, "canon.error.code", code, sizeof(code));
    int rc = 0;
    if (!selected(r, code)) {
        r->passed_over++;
    } else if (r->dry_run) {
        print_would(m, code, header(m, "canon.error.message", why, sizeof(why)));
        r->replayed++;
    } else {
        rc = send_back(r, m, code);
    }
    if (rc)
        return -1;
    r->considered++;
    r->pending++;
    dp->next = m->offset + 1;
    if (dp->next >= dp->end)
        dp->done = 1;
    if (!r->dry_run && r->pending >= r->batch)
        return commit(r);
    return 0;
}

/* Reads each partition's end now, and where reading starts (committed offsets unless
 * --from-beginning); assigns them. 0, or -1 after printing why. */
static int start(replay *r, const struct rd_kafka_metadata_topic *t)
{
    r->parts = calloc((size_t)t->partition_cnt, sizeof(*r->parts));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->partition_cnt);
    int rc = -1;
    if (!r->parts || !l)
        goto out;
    for (int i = 0; i < t->partition_cnt; i++) {
        int32_t id = t->partitions[i].id;
        if (r->only_part >= 0 && id != r->only_part)
            continue;
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(r->consumer, r->dlq, id, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "canon replay: cannot read the end of %s partition %d: %s\n", r->dlq,
                    (int)id, rd_kafka_err2str(e));
            goto out;
        }
        r->parts[r->n_parts++] = (dlq_part){.id = id, .end = hi, .next = -1, .done = hi <= lo};
        rd_kafka_topic_partition_list_add(l, r->dlq, id)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (!r->from_beginning) {
        rd_kafka_resp_err_t e = rd_kafka_committed(r->consumer, l, 10000);
        if (e) {
            fprintf(stderr, "canon replay: cannot read group %s's offsets: %s\n", r->group,
                    rd_kafka_err2str(e));
            goto out;
        }
        for (int i = 0; i < l->cnt; i++) {
            if (l->elems[i].offset < 0)
                l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            else if (l->elems[i].offset >= r->parts[i].end)
                r->parts[i].done = 1;
        }
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(r->consumer, l);
    if (e) {
        fprintf(stderr, "canon replay: cannot assign %s: %s\n", r->dlq, rd_kafka_err2str(e));
        goto out;
    }
    rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static int all_done(const replay *r)
{
    for (int i = 0; i < r->n_parts; i++)
        if (!r->parts[i].done)
            return 0;
    return 1;
}

/* Reads until every partition is at its end as of the start. 0, or -1 after printing why. */
static int run(replay *r)
{
    long long last = cli_mono_ms();
    while (!all_done(r)) {
        if (stop_requested) {
            fprintf(stderr, "canon replay: interrupted\n");
            return -1;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 100);
        if (!m) {
            if (cli_mono_ms() - last > r->timeout_ms) {
                fprintf(stderr, "canon replay: no progress on %s for %lld ms\n", r->dlq,
                        r->timeout_ms);
                return -1;
            }
            continue;
        }
        last = cli_mono_ms();
        dlq_part *dp = part_of(r, m->partition);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* read_committed: the end of what is committed; an open transaction's dead
             * letters are the next run's */
            if (dp)
                dp->done = 1;
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            fprintf(stderr, "canon replay: %s\n", rd_kafka_message_errstr(m));
            int fatal = cli_kafka_fatal(m->err);
            rd_kafka_message_destroy(m);
            if (fatal)
                return -1;
            continue;
        }
        int rc = 0;
        if (dp && !dp->done && m->offset < dp->end)
            rc = consider(r, dp, m);
        else if (dp && m->offset >= dp->end)
            dp->done = 1;
        rd_kafka_message_destroy(m);
        if (rc)
            return -1;
    }
    return 0;
}

/* Makes the consumer from k (which it then owns). 0, or -1 after printing why. */
static int consumer(replay *r, cli_kafka *k)
{
    char errstr[512];
    /* a committed offset the DLQ no longer has (retention): go on from its oldest */
    if (cli_kafka_consumer_conf("replay", k, r->group)) /* prints why */
        return -1;
    if (rd_kafka_conf_set(k->conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr))) {
        fprintf(stderr, "canon replay: %s\n", errstr);
        return -1;
    }
    cli_kafka_new("replay", RD_KAFKA_CONSUMER, k);
    if (!k->rk)
        return -1;
    r->consumer = k->rk;
    return 0;
}

/* Makes the transactional producer from pconf (taken). 0, or -1 after printing why. */
static int producer(replay *r, const cli_kafka *k, rd_kafka_conf_t *pconf)
{
    char errstr[512];
    if (rd_kafka_conf_set(pconf, "bootstrap.servers", k->bootstrap, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(pconf, "transactional.id", r->group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(pconf, "partitioner", "murmur2_random", errstr, sizeof(errstr))) {
        fprintf(stderr, "canon replay: %s\n", errstr);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(pconf, delivered);
    r->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
    pconf = NULL;
    if (!r->producer) {
        fprintf(stderr, "canon replay: %s\n", errstr);
        return -1;
    }
    r->updates_rkt = rd_kafka_topic_new(r->producer, r->updates, NULL);
    rd_kafka_error_t *e = rd_kafka_init_transactions(r->producer, 30000);
    if (e) {
        fprintf(stderr,
                "canon replay: Kafka at %s: cannot start transactions (transactional id %s): %s\n",
                k->bootstrap, r->group, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
    return 0;
fail:
    rd_kafka_conf_destroy(pconf);
    return -1;
}

/* Both topics exist; notes the updates topic's partition count. */
static int check_topics(replay *r, cli_kafka *k)
{
    int wait_ms = (int)r->timeout_ms; /* (no progress for T ms: a broker away included) */
    if (cli_kafka_topic_metadata("replay", k, r->updates, " (is the entity name right?)", wait_ms))
        return -1;
    r->n_updates_parts = k->md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(k->md);
    k->md = NULL;
    if (cli_kafka_topic_metadata("replay", k, r->dlq, " (the aggregator creates it when it starts)",
                                 wait_ms))
        return -1;
    int n = k->md->topics[0].partition_cnt;
    if (r->only_part >= n) {
        fprintf(stderr, "canon replay: %s has %d partitions (0 to %d): no partition %lld\n", r->dlq,
                n, n - 1, r->only_part);
        return -1;
    }
    return 0;
}

int cmd_replay(int argc, char **argv)
{
    cli_kafka k = {.conf = cli_kafka_conf_new()};
    replay r = {.only_part = -1, .batch = 10000, .timeout_ms = 30000};
    rd_kafka_conf_t *pconf = NULL;
    char *dlq = NULL, *updates = NULL, *group = NULL;
    int rc = 1;
    r.reasons = calloc((size_t)argc, sizeof(*r.reasons));
    if (!r.reasons)
        goto done;

    for (int i = 1; i < argc; i++) {
        cli_opt o = cli_kafka_option("replay", argc, argv, &i, value_opts, usage, &k, &rc);
        if (o == CLI_OPT_EXIT)
            goto done;
        if (o == CLI_OPT_TAKEN)
            continue;
        const char *a = argv[i];
        if (!strcmp(a, "--dry-run")) {
            r.dry_run = 1;
        } else if (!strcmp(a, "--from-beginning")) {
            r.from_beginning = 1;
        } else if (!strcmp(a, "--reason")) {
            /* a misspelt code would pass over every dead letter, for good in the group */
            if (!known_reason(argv[++i])) {
                fprintf(stderr, "canon replay: --reason: no rejection code '%s'; the codes are",
                        argv[i]);
                for (int c = CANON_R_FRAMING; c <= CANON_R_LAST; c++)
                    fprintf(stderr, " %s", canon_reason_name((canon_reason)c));
                fputc('\n', stderr);
                rc = 2;
                goto done;
            }
            r.reasons[r.n_reasons++] = argv[i];
        } else if (!strcmp(a, "--group")) {
            r.group = argv[++i];
        } else if (!strcmp(a, "--partition") || !strcmp(a, "--batch") ||
                   !strcmp(a, "--timeout-ms")) {
            /* partitions are int32; a transaction's records are held in an array of
             * --batch entries allocated up front; a timeout fits librdkafka's int ms */
            long long n, min = !strcmp(a, "--partition") ? 0 : 1;
            long long max_n = !strcmp(a, "--partition") ? INT32_MAX
                              : !strcmp(a, "--batch")   ? REPLAY_BATCH_MAX
                                                        : INT_MAX;
            if (cli_parse_number("replay", a, argv[++i], min, max_n, &n)) {
                rc = 2;
                goto done;
            }
            if (!strcmp(a, "--partition"))
                r.only_part = n;
            else if (!strcmp(a, "--batch"))
                r.batch = n;
            else
                r.timeout_ms = n;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("replay", "unknown option '%s' (see --help)", a);
            goto done;
        } else if (!r.entity) {
            r.entity = a;
        } else {
            rc = cli_usage_error("replay", "unexpected argument '%s'", a);
            goto done;
        }
    }
    if (!r.entity || !k.bootstrap) {
        rc = cli_usage_error("replay", "%s is required (see --help)",
                             !r.entity ? "ENTITY" : "--bootstrap-servers");
        goto done;
    }
    if (k.registry_url) {
        rc = cli_usage_error("replay", "--registry is not used: dead letters go back byte for "
                                       "byte, without decoding");
        goto done;
    }
    if (asprintf(&dlq, "canon.%s.dlq", r.entity) < 0 ||
        asprintf(&updates, "canon.%s.updates", r.entity) < 0 ||
        (!r.group && asprintf(&group, "canon-replay.%s", r.entity) < 0)) {
        dlq = updates = group = NULL;
        fprintf(stderr, "canon replay: out of memory\n");
        goto done;
    }
    r.dlq = dlq;
    r.updates = updates;
    if (!r.group)
        r.group = group;
    r.open = calloc((size_t)r.batch, sizeof(*r.open));
    pconf = rd_kafka_conf_dup(k.conf);
    if (!r.open || !pconf) {
        fprintf(stderr, "canon replay: out of memory\n");
        goto done;
    }
    if (consumer(&r, &k) || check_topics(&r, &k))
        goto done;
    if (!r.dry_run) {
        rd_kafka_conf_t *pc = pconf;
        pconf = NULL;
        if (producer(&r, &k, pc))
            goto done;
    }
    if (start(&r, k.md->topics))
        goto done;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int failed = run(&r);
    /* What was read before an interrupt or a failure is committed all the same (a failed
     * commit aborts it: nothing of it counts). */
    if (!r.dry_run && !r.broken && r.pending && commit(&r))
        failed = 1;
    fprintf(stderr,
            "canon replay: %s %lld of %lld dead letters of %s%s to %s; passed over %lld (not "
            "of --reason)%s\n",
            r.dry_run ? "would replay" : "replayed", r.replayed, r.considered, r.dlq,
            failed ? " read so far" : "", r.updates, r.passed_over,
            r.dry_run ? "; dry run: nothing sent or committed" : "");
    rc = failed ? 1 : 0;
done:
    if (pconf)
        rd_kafka_conf_destroy(pconf);
    if (r.updates_rkt)
        rd_kafka_topic_destroy(r.updates_rkt);
    drop_open(&r);
    if (r.producer) {
        if (r.txn_open) {
            rd_kafka_error_t *e = rd_kafka_abort_transaction(r.producer, 30000);
            if (e)
                rd_kafka_error_destroy(e);
        }
        rd_kafka_flush(r.producer, 10000);
        rd_kafka_destroy(r.producer);
    }
    cli_kafka_release(&k);
    free(r.parts);
    free(r.open);
    free(r.reasons);
    free(dlq);
    free(updates);
    free(group);
    return rc;
}
