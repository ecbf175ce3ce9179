/* latency.c - end-to-end latency of the canon aggregator at a fixed offered load.
 *
 * Issue 5: p99 from "update produced" to "canon record readable by a read_committed
 * consumer" under 50 ms at 10,000 updates/s. This program is both ends: it produces real
 * person updates (kb_person_touch: source crm sets email, event time = the wall clock, so
 * every one of them wins and is published, one canon record each) at RATE per second for
 * SECONDS to UPDATES_TOPIC, keys visited like the loader's (i * stride mod KEYS), and reads
 * CANON_TOPIC read_committed from its end offsets (taken before the first send), matching
 * each canon record to the oldest unmatched send of its key (records of one key stay in
 * order: one partition). Latency = the moment the record is returned to us minus the
 * moment its update was handed to the producer (same process, monotonic clock).
 *
 * The latency is also split at the canon record's timestamp (CreateTime: the moment the
 * aggregator handed it to its producer, wall clock of this same machine): "in" is send ->
 * produced (the update's way in, the merge, and any wait behind a commit in flight), "out"
 * is produced -> read (the record's own transaction commit and our fetch). Millisecond
 * resolution.
 *
 * Sending and reading share one thread: between sends it reads whatever is ready, so the
 * time stamps are taken within about a millisecond of arrival. The producer is idempotent
 * with linger.ms LINGER (default 5, librdkafka's default, as a client would have it).
 *
 * --warmup W: first sends at the same rate for W seconds whose latencies are not counted
 * (steady state: a broker that has just started, or just worked through a backlog, takes
 * its first transactions slowly; the figure with no warm-up is the default, 0).
 *
 * Usage: latency [--rate R] [--seconds S] [--warmup W] [--keys K] [--linger MS] [--drain S]
 *                BOOTSTRAP UPDATES_TOPIC CANON_TOPIC SCHEMA_ID
 * Prints key=value lines: latency.warmup_sent (not counted), sent, received, unmatched,
 * offered_per_s, achieved_per_s (sends / sending time), p50_ms, p99_ms, max_ms, and
 * in_p50_ms, in_p99_ms, out_p50_ms, out_p99_ms (the split above). Exit 1 if records
 * are missing after the drain time (default 30 s) or a delivery failed. */
#include "kbench.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 16

typedef struct {
    double t[RING];
    uint32_t head, tail; /* head - tail outstanding sends of the key */
} key_ring;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long rate = 10000, keys = 100000;
    double seconds = 20, drain = 30, warmup = 0;
    const char *linger = "5";
    int i = 1;
    for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (!strcmp(argv[i], "--rate"))
            rate = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup"))
            warmup = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--keys"))
            keys = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--linger"))
            linger = argv[i + 1];
        else if (!strcmp(argv[i], "--drain"))
            drain = atof(argv[i + 1]);
        else
            break;
    }
    if (argc - i != 4 || rate <= 0 || keys <= 0 || seconds <= 0 || warmup < 0) {
        fprintf(stderr,
                "usage: latency [--rate R] [--seconds S] [--warmup W] [--keys K] [--linger MS] "
                "[--drain S] BOOTSTRAP UPDATES_TOPIC CANON_TOPIC SCHEMA_ID\n");
        return 2;
    }
    const char *bootstrap = argv[i], *updates = argv[i + 1], *canon = argv[i + 2];
    int schema_id = atoi(argv[i + 3]);
    /* the first n_warm sends are the warm-up: matched like the others, not counted */
    long n_warm = (long)((double)rate * warmup);
    long n = n_warm + (long)((double)rate * seconds), failed = 0;
    char errstr[256];

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    kb_conf_set(pc, "bootstrap.servers", bootstrap);
    kb_conf_set(pc, "partitioner", "murmur2_random");
    kb_conf_set(pc, "enable.idempotence", "true");
    kb_conf_set(pc, "linger.ms", linger);
    rd_kafka_conf_set_dr_msg_cb(pc, kb_count_failed);
    rd_kafka_conf_set_opaque(pc, &failed);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    kb_conf_set(cc, "bootstrap.servers", bootstrap);
    kb_conf_set(cc, "group.id", "canon-bench-latency"); /* assigned, never committed */
    kb_conf_set(cc, "isolation.level", "read_committed");
    kb_conf_set(cc, "enable.auto.commit", "false");
    kb_conf_set(cc, "fetch.wait.max.ms", "10");
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!prod || !cons) {
        fprintf(stderr, "latency: %s\n", errstr);
        return 1;
    }
    rd_kafka_poll_set_consumer(cons);
    /* Start at the canon topic's end offsets, resolved now: nothing is sent before them. */
    int parts = kb_partition_count(cons, canon);
    rd_kafka_topic_partition_list_t *asg = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e;
        /* a topic created a moment ago may not have its leaders in place yet */
        for (int tries = 0;; tries++) {
            e = rd_kafka_query_watermark_offsets(cons, canon, p, &lo, &hi, 10000);
            if (!e || tries >= 50 ||
                (e != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
                 e != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
                 e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART))
                break;
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        if (e) {
            fprintf(stderr, "latency: watermarks of %s: %s\n", canon, rd_kafka_err2str(e));
            return 1;
        }
        rd_kafka_topic_partition_list_add(asg, canon, p)->offset = hi;
    }
    if (rd_kafka_assign(cons, asg)) {
        fprintf(stderr, "latency: assign failed\n");
        return 1;
    }
    rd_kafka_topic_partition_list_destroy(asg);
    rd_kafka_queue_t *cq = rd_kafka_queue_get_consumer(cons);
    /* warm up the producer's connection and metadata before the clock runs */
    (void)kb_partition_count(prod, updates);

    key_ring *rings = calloc((size_t)keys, sizeof *rings);
    double *lat = malloc((size_t)n * sizeof *lat);
    double *lat_in = malloc((size_t)n * sizeof *lat_in);
    double *lat_out = malloc((size_t)n * sizeof *lat_out);
    rd_kafka_message_t *msgs[1000];
    if (!rings || !lat || !lat_in || !lat_out)
        return 1;
    long stride = kb_key_stride(keys);
    long long wall0 = 0;
    double wall0_ms = 0, mono0 = kb_now(); /* wall clock = wall0_ms + (kb_now() - mono0) s */
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        wall0 = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        wall0_ms = (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
    }
    long sent = 0, received = 0, unmatched = 0, overflow = 0, warm_seen = 0;
    double start = kb_now(), send_end = 0, deadline = 0;
    unsigned char value[1024];
    for (;;) {
        double now = kb_now();
        /* sends due by now */
        while (sent < n && start + (double)sent / (double)rate <= now) {
            long k = (long)(((int64_t)sent * stride) % keys);
            char key[40];
            int klen = kb_person_key(key, k);
            int vlen = kb_person_touch(value, schema_id, k,
                                       wall0 + (long long)((now - start) * 1000), sent);
            key_ring *r = &rings[k];
            if (r->head - r->tail >= RING) {
                overflow++;
                r->tail++;
            }
            double t = kb_now();
            rd_kafka_resp_err_t e = rd_kafka_producev(
                prod, RD_KAFKA_V_TOPIC(updates), RD_KAFKA_V_KEY(key, (size_t)klen),
                RD_KAFKA_V_VALUE(value, (size_t)vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (e) {
                fprintf(stderr, "latency: produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            /* a warm-up send is marked by a negative time (its latency is dropped) */
            r->t[r->head++ % RING] = sent < n_warm ? -t : t;
            sent++;
        }
        rd_kafka_poll(prod, 0);
        if (sent == n && send_end == 0) {
            send_end = kb_now();
            deadline = send_end + drain;
        }
        if (sent == n && (received + warm_seen + unmatched >= n || kb_now() > deadline))
            break;
        /* Read what is ready; wait until the next send is due, and at least 1 ms: at 10,000
         * sends/s the next one is always due within the millisecond, and a zero wait made
         * this loop spin, taking most of a core from the broker and the aggregator on a
         * 2-core machine (measured: 56 to 80% of a core, besides the broker's 100%). Sends
         * due meanwhile go out together on the next turn, each stamped when handed over. */
        double next = sent < n ? start + (double)sent / (double)rate : kb_now() + 0.01;
        int wait = (int)((next - kb_now()) * 1000 + 0.999);
        ssize_t got = rd_kafka_consume_batch_queue(cq, wait > 1 ? wait : 1, msgs, 1000);
        double t = kb_now();
        for (ssize_t j = 0; j < got; j++) {
            rd_kafka_message_t *m = msgs[j];
            if (!m->err && m->key_len >= 12) {
                long k = atol((const char *)m->key + m->key_len - 12);
                key_ring *r = k >= 0 && k < keys ? &rings[k] : NULL;
                if (r && r->head != r->tail) {
                    double t0 = r->t[r->tail++ % RING];
                    if (t0 < 0)
                        warm_seen++;
                    else {
                        rd_kafka_timestamp_type_t tt;
                        int64_t ts = rd_kafka_message_timestamp(m, &tt);
                        double made = (double)ts - wall0_ms; /* ms after mono0 */
                        lat_in[received] = made - (t0 - mono0) * 1000;
                        lat_out[received] = (t - mono0) * 1000 - made;
                        lat[received++] = (t - t0) * 1000;
                    }
                } else
                    unmatched++;
            }
            rd_kafka_message_destroy(m);
        }
    }
    double send_secs = send_end - start;
    sent -= n_warm;
    rd_kafka_flush(prod, 10000);
    qsort(lat, (size_t)received, sizeof *lat, cmp_double);
    printf("latency.warmup_sent=%ld\n", n_warm);
    printf("latency.sent=%ld\n", sent);
    printf("latency.received=%ld\n", received);
    printf("latency.unmatched=%ld\n", unmatched + overflow);
    printf("latency.offered_per_s=%ld\n", rate);
    printf("latency.achieved_per_s=%.0f\n",
           send_secs > 0 ? (double)(sent + n_warm) / send_secs : 0.0);
    if (received > 0) {
        printf("latency.p50_ms=%.1f\n", lat[(size_t)((double)received * 0.50)]);
        printf("latency.p99_ms=%.1f\n", lat[(size_t)((double)received * 0.99)]);
        printf("latency.max_ms=%.1f\n", lat[received - 1]);
        qsort(lat_in, (size_t)received, sizeof *lat_in, cmp_double);
        qsort(lat_out, (size_t)received, sizeof *lat_out, cmp_double);
        printf("latency.in_p50_ms=%.0f\n", lat_in[(size_t)((double)received * 0.50)]);
        printf("latency.in_p99_ms=%.0f\n", lat_in[(size_t)((double)received * 0.99)]);
        printf("latency.out_p50_ms=%.0f\n", lat_out[(size_t)((double)received * 0.50)]);
        printf("latency.out_p99_ms=%.0f\n", lat_out[(size_t)((double)received * 0.99)]);
    }
    rd_kafka_queue_destroy(cq);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    rd_kafka_destroy(prod);
    free(rings);
    free(lat);
    free(lat_in);
    free(lat_out);
    if (received < sent || failed) {
        fprintf(stderr, "latency: %ld of %ld canon records seen, %ld deliveries failed\n", received,
                sent, failed);
        return 1;
    }
    return 0;
}
