/* txn_check.c - proves that the machine's librdkafka runs Kafka transactions end to end
 * against the broker of tests/kafka/kafka.sh.
 *
 * The aggregator's exactly-once promise rests on three things this program checks with
 * the same library it links: a transactional producer can commit, an aborted transaction
 * stays invisible to a read_committed consumer (while a read_uncommitted one sees it, so
 * the check can fail), and the murmur2 partitioner places keys (printed for the caller to
 * compare with Java's partitioner). It runs three transactions on a fresh topic:
 *   1. commit  N records  "c1-<i>"
 *   2. abort   M records  "ab-<i>"
 *   3. commit  N records  "c2-<i>"
 * then reads the topic from the start twice. Exit 0 when every check holds; each failure
 * is printed as "FAIL: ...".
 *
 * Usage: txn_check BOOTSTRAP TOPIC [N [PARTITIONS]]
 * Prints "partition KEY P" for each key of transaction 1, then "ok ...".
 * Built by tests/kafka/test_broker.py with `cc txn_check.c -lrdkafka`. */
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ABORTED 50

/* What the delivery callback learns, per key of transaction 1. Owned by main; the
 * callback runs on main's thread inside rd_kafka_flush / rd_kafka_poll. */
typedef struct {
    int n;
    int *partition; /* by record index; -1 until delivered */
    int failed;
} deliveries;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    deliveries *d = opaque;
    if (m->err) {
        fprintf(stderr, "FAIL: delivery: %s\n", rd_kafka_err2str(m->err));
        d->failed++;
        return;
    }
    /* Keys of transaction 1 are "key-<i>"; only those are recorded. */
    if (m->key_len > 4 && memcmp(m->key, "key-", 4) == 0) {
        char buf[32];
        size_t len = m->key_len < sizeof buf - 1 ? m->key_len : sizeof buf - 1;
        memcpy(buf, m->key, len);
        buf[len] = '\0';
        int i = atoi(buf + 4);
        if (i >= 0 && i < d->n && m->payload && m->len > 3 && memcmp(m->payload, "c1-", 3) == 0)
            d->partition[i] = (int)m->partition;
    }
}

static int fail_error(const char *what, rd_kafka_error_t *e)
{
    fprintf(stderr, "FAIL: %s: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return 1;
}

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "FAIL: config %s=%s: %s\n", k, v, err);
        return 1;
    }
    return 0;
}

/* Creates the topic; an existing one is fine (a rerun on the same broker). */
static int create_topic(rd_kafka_t *rk, const char *topic, int partitions)
{
    char err[256];
    int rc = 1;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev = NULL;
    if (!nt) {
        fprintf(stderr, "FAIL: NewTopic: %s\n", err);
        goto done;
    }
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        fprintf(stderr, "FAIL: CreateTopics: no answer in 30 s\n");
        goto done;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr =
        res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "FAIL: CreateTopics: %s\n", rd_kafka_event_error_string(ev));
        goto done;
    }
    if (cnt == 1 && rd_kafka_topic_result_error(tr[0]) &&
        rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        fprintf(stderr, "FAIL: CreateTopics %s: %s\n", topic,
                rd_kafka_topic_result_error_string(tr[0]));
        goto done;
    }
    rc = 0;
done:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static int produce_txn(rd_kafka_t *rk, const char *topic, const char *prefix, int n, int commit)
{
    rd_kafka_error_t *e = rd_kafka_begin_transaction(rk);
    if (e)
        return fail_error("begin_transaction", e);
    for (int i = 0; i < n; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "%s%d", prefix, i);
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE(val, strlen(val)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err) {
            fprintf(stderr, "FAIL: produce: %s\n", rd_kafka_err2str(err));
            return 1;
        }
    }
    if (commit) {
        e = rd_kafka_commit_transaction(rk, 30000);
        if (e)
            return fail_error("commit_transaction", e);
    } else {
        /* Flush first: the aborted records must really reach the log, or the
         * read_uncommitted check below would prove nothing. */
        rd_kafka_flush(rk, 30000);
        e = rd_kafka_abort_transaction(rk, 30000);
        if (e)
            return fail_error("abort_transaction", e);
    }
    return 0;
}

/* Reads the whole topic from the start with the given isolation level until `want`
 * records arrived or 20 s passed; counts records by value prefix. */
static int consume_all(const char *bootstrap, const char *topic, const char *isolation, int want,
                       int *c1, int *c2, int *ab)
{
    char errstr[256], group[64];
    int rc = 1, got = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    snprintf(group, sizeof group, "txn-check-%s-%ld", isolation, (long)time(NULL));
    if (conf_set(conf, "bootstrap.servers", bootstrap) || conf_set(conf, "group.id", group) ||
        conf_set(conf, "isolation.level", isolation) ||
        conf_set(conf, "auto.offset.reset", "earliest") ||
        conf_set(conf, "enable.auto.commit", "false")) {
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "FAIL: consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, subs);
    if (err) {
        fprintf(stderr, "FAIL: subscribe: %s\n", rd_kafka_err2str(err));
        goto done;
    }
    *c1 = *c2 = *ab = 0;
    time_t deadline = time(NULL) + 20;
    while (got < want && time(NULL) < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "consumer: %s\n", rd_kafka_message_errstr(m));
        } else if (m->len >= 3) {
            got++;
            if (memcmp(m->payload, "c1-", 3) == 0)
                (*c1)++;
            else if (memcmp(m->payload, "c2-", 3) == 0)
                (*c2)++;
            else if (memcmp(m->payload, "ab-", 3) == 0)
                (*ab)++;
        }
        rd_kafka_message_destroy(m);
    }
    /* A little longer: a record beyond `want` (a duplicate, an aborted one) must show. */
    for (int i = 0; i < 5; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err && m->len >= 3) {
            if (memcmp(m->payload, "c1-", 3) == 0)
                (*c1)++;
            else if (memcmp(m->payload, "c2-", 3) == 0)
                (*c2)++;
            else if (memcmp(m->payload, "ab-", 3) == 0)
                (*ab)++;
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;
done:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC [N [PARTITIONS]]\n", argv[0]);
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2];
    int n = argc > 3 ? atoi(argv[3]) : 200;
    int partitions = argc > 4 ? atoi(argv[4]) : 6;
    int rc = 1, c1 = 0, c2 = 0, ab = 0;
    char errstr[256], txnid[96];
    deliveries d = {.n = n, .partition = calloc((size_t)n, sizeof(int)), .failed = 0};
    rd_kafka_t *rk = NULL;
    rd_kafka_error_t *e;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (n <= 0 || partitions <= 0 || !d.partition) {
        fprintf(stderr, "FAIL: bad N or PARTITIONS\n");
        rd_kafka_conf_destroy(conf);
        goto done;
    }
    for (int i = 0; i < n; i++)
        d.partition[i] = -1;
    snprintf(txnid, sizeof txnid, "txn-check-%s", topic);
    if (conf_set(conf, "bootstrap.servers", bootstrap) ||
        conf_set(conf, "transactional.id", txnid) ||
        conf_set(conf, "partitioner", "murmur2_random")) {
        rd_kafka_conf_destroy(conf);
        goto done;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &d);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "FAIL: producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto done;
    }
    if (create_topic(rk, topic, partitions))
        goto done;
    e = rd_kafka_init_transactions(rk, 30000);
    if (e) {
        fail_error("init_transactions", e);
        goto done;
    }
    if (produce_txn(rk, topic, "c1-", n, 1) || produce_txn(rk, topic, "ab-", ABORTED, 0) ||
        produce_txn(rk, topic, "c2-", n, 1))
        goto done;
    rd_kafka_flush(rk, 10000);
    if (d.failed)
        goto done;
    for (int i = 0; i < n; i++) {
        if (d.partition[i] < 0) {
            fprintf(stderr, "FAIL: key-%d: no delivery report\n", i);
            goto done;
        }
        printf("partition key-%d %d\n", i, d.partition[i]);
    }

    rc = 0;
    if (consume_all(bootstrap, topic, "read_committed", 2 * n, &c1, &c2, &ab))
        rc = 1;
    else if (c1 != n || c2 != n || ab != 0) {
        fprintf(stderr, "FAIL: read_committed saw c1=%d c2=%d aborted=%d (want %d %d 0)\n", c1, c2,
                ab, n, n);
        rc = 1;
    }
    if (rc == 0) {
        int u1, u2, uab;
        if (consume_all(bootstrap, topic, "read_uncommitted", 2 * n + ABORTED, &u1, &u2, &uab))
            rc = 1;
        else if (uab != ABORTED) {
            fprintf(stderr, "FAIL: read_uncommitted saw %d aborted records, want %d\n", uab,
                    ABORTED);
            rc = 1;
        }
    }
    if (rc == 0)
        printf("ok committed=%d aborted_hidden=%d librdkafka=%s\n", c1 + c2, ABORTED,
               rd_kafka_version_str());
done:
    if (rk)
        rd_kafka_destroy(rk);
    free(d.partition);
    return rc;
}
