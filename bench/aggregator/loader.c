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
 * With --updates SCHEMA_ID the values are real person updates instead (the aggregator and
 * the Streams reference decode what they read): Avro binary of canon.person.updates-value
 * framed with SCHEMA_ID, written by kb_person_update() (kbench.h: sources hr, crm,
 * support, 2 to 4 fields each, clears, DELETEs, stale event times up to three visits of
 * the key back), keys uuid-shaped
 * "00000000-0000-4000-8000-%012d"; SIZE is then ignored (about 130 bytes each).
 *
 * Usage: loader [--updates SCHEMA_ID] BOOTSTRAP TOPIC N KEYS [SIZE [PARTITIONS]]
 * Creates TOPIC with PARTITIONS (default 6) partitions if it does not exist (N 0: only
 * that). Prints one line: records, seconds, records/s, MB/s. Exits non-zero if any record
 * failed. */
#include "kbench.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int update_id = -1;
    if (argc > 2 && !strcmp(argv[1], "--updates")) {
        update_id = atoi(argv[2]);
        argv += 2;
        argc -= 2;
    }
    if (argc < 5) {
        fprintf(stderr,
                "usage: loader [--updates SCHEMA_ID] BOOTSTRAP TOPIC N KEYS [SIZE [PARTITIONS]]\n");
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2];
    long n = atol(argv[3]), keys = atol(argv[4]);
    int size = argc > 5 ? atoi(argv[5]) : 270;
    int partitions = argc > 6 ? atoi(argv[6]) : 6;
    if (n < 0 || keys <= 0 || size < 64 || size > 100000 || partitions <= 0) {
        fprintf(stderr, "loader: bad N, KEYS, SIZE (64..100000) or PARTITIONS\n");
        return 2;
    }
    long failed = 0;
    rd_kafka_t *rk = kb_bulk_producer(bootstrap, &failed);
    kb_create_topic(rk, topic, partitions);

    long stride = kb_key_stride(keys);

    char *value = malloc((size_t)size < 1024 ? 1024 : (size_t)size);
    if (!value)
        return 1;
    double t0 = kb_now();
    long long bytes = 0;
    for (long i = 0; i < n; i++) {
        char key[40];
        long k = (long)(((int64_t)i * stride) % keys);
        int klen, vlen = size;
        if (update_id >= 0) {
            /* event times from a fixed base in the past: the latency phase's updates, stamped
             * with the wall clock, are newer than all of these */
            klen = kb_person_key(key, k);
            vlen = kb_person_update((unsigned char *)value, update_id, i, k, keys, 1700000000000LL);
        } else {
            klen = snprintf(key, sizeof key, "person-%08ld", k);
            /* Confluent framing: magic 0, schema id 1 (big-endian), then the body. */
            memset(value, 'x', (size_t)size);
            value[0] = 0;
            value[1] = value[2] = value[3] = 0;
            value[4] = 1;
            int body =
                snprintf(value + 5, (size_t)size - 5,
                         "{\"id\":\"%s\",\"source\":\"bench\",\"seq\":%ld,\"pad\":\"", key, i);
            if (body > 0 && body < size - 5)
                value[5 + body] = 'x'; /* snprintf's NUL: back to padding */
        }
        bytes += vlen;
        if (kb_produce(rk, topic, key, (size_t)klen, value, (size_t)vlen))
            return 1;
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    int left = kb_drain(rk, 600);
    double secs = kb_now() - t0;
    rd_kafka_destroy(rk);
    free(value);
    if (failed || left) {
        fprintf(stderr, "loader: %ld records failed, %d undelivered\n", failed, left);
        return 1;
    }
    printf("loader: %ld %s of %.0f bytes on average over %ld keys into %s (%d partitions) in "
           "%.2f s: %.0f records/s, %.1f MB/s\n",
           n, update_id >= 0 ? "person updates" : "records", n ? (double)bytes / (double)n : 0.0,
           keys, topic, partitions, secs, (double)n / secs, (double)bytes / secs / 1e6);
    return 0;
}
