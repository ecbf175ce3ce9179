/* bare_copy.c - the physical ceiling of the canon aggregator on this machine.
 *
 * Issue 5 asks the aggregator for at least half the throughput of the simplest program
 * that does the same Kafka work with nothing else: consume the updates topic
 * read_committed, produce every record (same key, same value) to an output topic, and put
 * the consumed offsets in the same transaction, committing every 100 ms. No decoding, no
 * merge, no state. What is left is librdkafka and the broker, so this figure bounds what
 * any exactly-once aggregator can reach here.
 *
 * The consumer's prefetch queue decides the figure with librdkafka 2.0.2: once the queue
 * holds queued.min.messages records or queued.max.messages.kbytes, the fetcher backs off
 * for about a second. With the defaults (100,000 records, 64 MB) a loop faster than about
 * 100,000 records/s keeps hitting that; a queue that holds more than a second of input
 * rides over it. --queue-messages and --queue-kbytes set both; "waiting for input" in
 * the result line shows the effect (time with nothing to copy although the whole input
 * is on the broker from the start), next to the time spent committing.
 *
 * Usage: bare_copy [options] BOOTSTRAP IN_TOPIC OUT_TOPIC
 *   --expect N          stop after N records (default: when IN_TOPIC is idle for 5 s)
 *   --commit-ms MS      transaction cadence (default 100)
 *   --queue-messages M  queued.min.messages (default: librdkafka's, 100000)
 *   --queue-kbytes K    queued.max.messages.kbytes (default: librdkafka's, 65536)
 *   --group G           consumer group (default bare-copy-<pid>: from the start)
 *   --timeout S         give up after S seconds (default 300); exit 1
 *   --label TEXT        printed in front of the result line
 *   -X KEY=VALUE        a librdkafka producer property, applied after the defaults
 *                       (repeatable; e.g. -X linger.ms=100, to try canon's settings)
 * Creates OUT_TOPIC with IN_TOPIC's partition count if needed. The partitions are
 * assigned, not subscribed: no group rebalance to wait for. Prints one result line. */
#include "kbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 10000

typedef struct {
    long expect;
    int commit_ms;
    const char *queue_messages, *queue_kbytes, *group, *label;
    const char *props[16]; /* -X KEY=VALUE: producer properties, applied last */
    int n_props;
    int timeout;
    const char *bootstrap, *in, *out;
} options;

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--expect N] [--commit-ms MS] [--queue-messages M] [--queue-kbytes K]\n"
            "       [--group G] [--timeout S] [--label TEXT] [-X KEY=VALUE]...\n"
            "       BOOTSTRAP IN_TOPIC OUT_TOPIC\n",
            argv0);
    exit(2);
}

static options parse(int argc, char **argv)
{
    options o = {.expect = 0, .commit_ms = 100, .timeout = 300, .label = "bare_copy"};
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strncmp(a, "--", 2) == 0 || !strcmp(a, "-X")) && !v)
            usage(argv[0]);
        if (!strcmp(a, "--expect"))
            o.expect = atol(argv[++i]);
        else if (!strcmp(a, "--commit-ms"))
            o.commit_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--queue-messages"))
            o.queue_messages = argv[++i];
        else if (!strcmp(a, "--queue-kbytes"))
            o.queue_kbytes = argv[++i];
        else if (!strcmp(a, "--group"))
            o.group = argv[++i];
        else if (!strcmp(a, "--timeout"))
            o.timeout = atoi(argv[++i]);
        else if (!strcmp(a, "--label"))
            o.label = argv[++i];
        else if (!strcmp(a, "-X")) {
            if (o.n_props == (int)(sizeof o.props / sizeof o.props[0]) || !strchr(v, '='))
                usage(argv[0]);
            o.props[o.n_props++] = argv[++i];
        } else if (strncmp(a, "--", 2) == 0)
            usage(argv[0]);
        else if (pos == 0)
            o.bootstrap = a, pos++;
        else if (pos == 1)
            o.in = a, pos++;
        else if (pos == 2)
            o.out = a, pos++;
        else
            usage(argv[0]);
    }
    if (pos != 3 || o.commit_ms <= 0 || o.timeout <= 0 || o.expect < 0)
        usage(argv[0]);
    return o;
}

static void check(rd_kafka_error_t *e, const char *what)
{
    if (e) {
        fprintf(stderr, "%s: %s\n", what, rd_kafka_error_string(e));
        exit(1);
    }
}

/* Offsets to commit: the consumer's position on every assigned partition it has read. */
static rd_kafka_topic_partition_list_t *positions(rd_kafka_t *consumer,
                                                  const rd_kafka_topic_partition_list_t *asg)
{
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_copy(asg);
    rd_kafka_position(consumer, pos);
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new(pos->cnt);
    for (int i = 0; i < pos->cnt; i++)
        if (pos->elems[i].offset >= 0)
            rd_kafka_topic_partition_list_add(out, pos->elems[i].topic, pos->elems[i].partition)
                ->offset = pos->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(pos);
    return out;
}

int main(int argc, char **argv)
{
    options o = parse(argc, argv);
    char errstr[256], group[64], txnid[96];
    long failed = 0;
    if (!o.group) {
        snprintf(group, sizeof group, "bare-copy-%ld", (long)getpid());
        o.group = group;
    }
    snprintf(txnid, sizeof txnid, "%s-txn", o.group);

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    kb_conf_set(pc, "bootstrap.servers", o.bootstrap);
    kb_conf_set(pc, "transactional.id", txnid);
    kb_conf_set(pc, "partitioner", "murmur2_random");
    if (getenv("BARE_COPY_DEBUG"))
        kb_conf_set(pc, "debug", getenv("BARE_COPY_DEBUG"));
    /* One transaction holds commit-ms of input: at 1,000,000 records/s and 100 ms, 100,000
     * records, the producer queue's default limit; leave room. */
    kb_conf_set(pc, "queue.buffering.max.messages", "1000000");
    for (int i = 0; i < o.n_props; i++) {
        char key[128];
        const char *eq = strchr(o.props[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - o.props[i]), o.props[i]);
        kb_conf_set(pc, key, eq + 1);
    }
    rd_kafka_conf_set_dr_msg_cb(pc, kb_count_failed);
    rd_kafka_conf_set_opaque(pc, &failed);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!prod) {
        fprintf(stderr, "producer: %s\n", errstr);
        return 1;
    }

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    kb_conf_set(cc, "bootstrap.servers", o.bootstrap);
    kb_conf_set(cc, "group.id", o.group);
    kb_conf_set(cc, "isolation.level", "read_committed");
    kb_conf_set(cc, "auto.offset.reset", "earliest");
    kb_conf_set(cc, "enable.auto.commit", "false");
    kb_conf_set(cc, "enable.auto.offset.store", "false");
    if (o.queue_messages)
        kb_conf_set(cc, "queued.min.messages", o.queue_messages);
    if (o.queue_kbytes)
        kb_conf_set(cc, "queued.max.messages.kbytes", o.queue_kbytes);
    char qm[32] = "", qk[32] = "";
    size_t qlen = sizeof qm;
    rd_kafka_conf_get(cc, "queued.min.messages", qm, &qlen);
    qlen = sizeof qk;
    rd_kafka_conf_get(cc, "queued.max.messages.kbytes", qk, &qlen);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!cons) {
        fprintf(stderr, "consumer: %s\n", errstr);
        return 1;
    }
    rd_kafka_poll_set_consumer(cons);

    int parts = kb_partition_count(cons, o.in);
    kb_create_topic(prod, o.out, parts);
    rd_kafka_topic_partition_list_t *asg = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(asg, o.in, p)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_resp_err_t err = rd_kafka_assign(cons, asg);
    if (err) {
        fprintf(stderr, "assign: %s\n", rd_kafka_err2str(err));
        return 1;
    }
    check(rd_kafka_init_transactions(prod, 30000), "init_transactions");
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(cons);
    rd_kafka_queue_t *cq = rd_kafka_queue_get_consumer(cons);
    rd_kafka_message_t **msgs = calloc(BATCH, sizeof *msgs);
    if (!msgs)
        return 1;

    double start = kb_now(), deadline = start + o.timeout, first = 0, last_rec = start;
    double idle_secs = 0, commit_secs = 0, commit_max = 0;
    long copied = 0, txns = 0;
    int done = 0, timed_out = 0;
    while (!done) {
        check(rd_kafka_begin_transaction(prod), "begin_transaction");
        long in_txn = 0;
        double txn_end = kb_now() + o.commit_ms / 1000.0;
        for (;;) {
            double now = kb_now();
            if (now >= txn_end)
                break;
            int wait = (int)((txn_end - now) * 1000) + 1;
            ssize_t got = rd_kafka_consume_batch_queue(cq, wait, msgs, BATCH);
            double after = kb_now();
            /* Time spent waiting with nothing to copy, once copying began: the input is
             * all there from the start, so this is the fetcher stalling. */
            if (got <= 0 && first > 0)
                idle_secs += after - now;
            now = after;
            for (ssize_t i = 0; i < got; i++) {
                rd_kafka_message_t *m = msgs[i];
                if (m->err) {
                    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
                    rd_kafka_message_destroy(m);
                    continue;
                }
                if (kb_produce(prod, o.out, m->key, m->key_len, m->payload, m->len))
                    return 1;
                rd_kafka_message_destroy(m);
                if (first == 0)
                    first = now;
                last_rec = now;
                copied++;
                in_txn++;
            }
            rd_kafka_poll(prod, 0);
            if (o.expect && copied >= o.expect)
                break;
        }
        if (in_txn > 0) {
            double c0 = kb_now();
            rd_kafka_topic_partition_list_t *offs = positions(cons, asg);
            check(rd_kafka_send_offsets_to_transaction(prod, offs, cgmd, 30000),
                  "send_offsets_to_transaction");
            rd_kafka_topic_partition_list_destroy(offs);
            check(rd_kafka_commit_transaction(prod, 30000), "commit_transaction");
            txns++;
            double c = kb_now() - c0;
            commit_secs += c;
            if (c > commit_max)
                commit_max = c;
        } else {
            check(rd_kafka_abort_transaction(prod, 30000), "abort_transaction");
        }
        double now = kb_now();
        if (o.expect && copied >= o.expect)
            done = 1;
        else if (!o.expect && copied > 0 && now - last_rec > 5)
            done = 1;
        else if (now > deadline)
            done = timed_out = 1;
    }
    double end = o.expect ? kb_now() : last_rec;
    double secs = first > 0 ? end - first : 0;
    printf("%s: queued.min.messages=%s queued.max.messages.kbytes=%s: %ld records in %.2f s = "
           "%.0f records/s; %ld transactions (commit avg %.0f ms, max %.0f ms, %.1f s in all); "
           "waiting for input %.1f s; peak RSS %.0f MB\n",
           o.label, qm, qk, copied, secs, secs > 0 ? (double)copied / secs : 0.0, txns,
           txns ? commit_secs * 1000 / (double)txns : 0.0, commit_max * 1000, commit_secs,
           idle_secs, kb_maxrss_mb());
    fflush(stdout);

    rd_kafka_queue_destroy(cq);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(asg);
    free(msgs);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_destroy(prod);
    if (timed_out) {
        fprintf(stderr, "bare_copy: gave up after %d s with %ld of %ld records\n", o.timeout,
                copied, o.expect);
        return 1;
    }
    if (failed) {
        fprintf(stderr, "bare_copy: %ld deliveries failed\n", failed);
        return 1;
    }
    return 0;
}
