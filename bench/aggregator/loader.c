/* loader.c - fills an updates topic for the aggregator benchmark, fast.
 *
 * The benchmark measures how fast records leave the updates topic, so the topic is filled
 * first, as fast as the broker takes it: N records over K keys, each about SIZE bytes
 * (default 270, the size of an example person update in the Confluent wire format). The
 * value is shaped like one: byte 0x00, a 4-byte schema id, then a body that names the key
 * and a sequence number, padded to SIZE. Keys are "person-%08d", visited in an order that
 * spreads every key's updates over the whole run (i * stride mod K, stride coprime to K),
 * placed with the Java-compatible murmur2 partitioner.
 *
 * Usage: loader BOOTSTRAP TOPIC N KEYS [SIZE [PARTITIONS]]
 * Creates TOPIC with PARTITIONS (default 6) partitions if it does not exist. Prints one
 * line: records, seconds, records/s, MB/s. Exits non-zero if any record failed. */
#include "kbench.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counts failed deliveries; the callback runs on main's thread inside rd_kafka_poll. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    long *failed = opaque;
    if (m->err) {
        if (*failed == 0)
            fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        (*failed)++;
    }
}

static long gcd(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC N KEYS [SIZE [PARTITIONS]]\n", argv[0]);
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2];
    long n = atol(argv[3]), keys = atol(argv[4]);
    int size = argc > 5 ? atoi(argv[5]) : 270;
    int partitions = argc > 6 ? atoi(argv[6]) : 6;
    if (n <= 0 || keys <= 0 || size < 64 || size > 100000 || partitions <= 0) {
        fprintf(stderr, "loader: bad N, KEYS, SIZE (64..100000) or PARTITIONS\n");
        return 2;
    }
    long failed = 0;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kb_conf_set(conf, "bootstrap.servers", bootstrap);
    kb_conf_set(conf, "partitioner", "murmur2_random");
    kb_conf_set(conf, "enable.idempotence", "true");
    kb_conf_set(conf, "linger.ms", "20");
    kb_conf_set(conf, "queue.buffering.max.messages", "1000000");
    kb_conf_set(conf, "queue.buffering.max.kbytes", "1048576");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &failed);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "producer: %s\n", errstr);
        return 1;
    }
    kb_create_topic(rk, topic, partitions);

    /* A stride coprime to K near K/phi visits every key once per K records, spread out. */
    long stride = (long)((double)keys * 0.618) | 1;
    while (stride > 1 && gcd(stride, keys) != 1)
        stride--;
    if (stride < 1)
        stride = 1;

    char *value = malloc((size_t)size);
    if (!value)
        return 1;
    double t0 = kb_now();
    for (long i = 0; i < n; i++) {
        char key[32];
        long k = (long)(((int64_t)i * stride) % keys);
        int klen = snprintf(key, sizeof key, "person-%08ld", k);
        /* Confluent framing: magic 0, schema id 1 (big-endian), then the body. */
        memset(value, 'x', (size_t)size);
        value[0] = 0;
        value[1] = value[2] = value[3] = 0;
        value[4] = 1;
        int body = snprintf(value + 5, (size_t)size - 5,
                            "{\"id\":\"%s\",\"source\":\"bench\",\"seq\":%ld,\"pad\":\"", key, i);
        if (body > 0 && body < size - 5)
            value[5 + body] = 'x'; /* snprintf's NUL: back to padding */
        for (;;) {
            rd_kafka_resp_err_t e =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, (size_t)klen),
                                  RD_KAFKA_V_VALUE(value, (size_t)size),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (!e)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 10);
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0 && kb_now() - t0 < 600)
        rd_kafka_poll(rk, 100);
    double secs = kb_now() - t0;
    int left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    free(value);
    if (failed || left) {
        fprintf(stderr, "loader: %ld records failed, %d undelivered\n", failed, left);
        return 1;
    }
    printf("loader: %ld records of %d bytes over %ld keys into %s (%d partitions) in %.2f s: "
           "%.0f records/s, %.1f MB/s\n",
           n, size, keys, topic, partitions, secs, (double)n / secs, (double)n * size / secs / 1e6);
    return 0;
}
