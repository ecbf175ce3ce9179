/* hr_loader.c - fills an HR domain topic with JSON records for the translator benchmark.
 *
 * `canon translate` is measured from domain records already in a topic to canonical
 * updates delivered, so the topic is filled first, as fast as the broker takes it. Each
 * record is a JSON object shaped like an HR system's employee record (bench/translators/
 * hr.mapping.json maps it to canon.person): an employee number, the person's universal
 * identifier (a UUID), names with stray spaces and capitals to normalise, a date of birth,
 * a status to map to an enum, a nested address, an ISO-8601 update time, and now and then
 * a termination that the mapping turns into a DELETE (one record in DELETE_EVERY).
 * Keys are the employee numbers, placed with the Java-compatible murmur2 partitioner, and
 * visited in an order that spreads each key's records over the run (i * stride mod K).
 *
 * Usage: hr_loader BOOTSTRAP TOPIC N KEYS [PARTITIONS [DELETE_EVERY]]
 * Creates TOPIC (default 6 partitions) when it does not exist. Prints one line: records,
 * bytes per record, seconds, records/s. Exits non-zero when any record failed.
 * N = 0 only creates the topic (run.sh makes canon.person.updates so). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../aggregator/kbench.h"

static const char *const given[] = {"Ada", "  grace", "Alan ", "KATHERINE", "edsger", "Barbara"};
static const char *const family[] = {"Lovelace", "Hopper ", " turing", "Johnson", "DIJKSTRA"};
static const char *const status[] = {"active", "A", "leave", "active", "on-leave", "active"};
static const char *const city[] = {"London", "Arlington", "Wilmslow", "Hampton", "Nuenen"};

/* One record for key k at step i, into buf; returns its length. */
static int hr_record(char *buf, size_t cap, long k, long i, int is_delete)
{
    /* A stable UUID-shaped identifier per key: what the canon keys persons by. */
    unsigned long h = (unsigned long)k * 2654435761u;
    long t = 1714564800L + i; /* 2024-05-01T12:00:00Z, one second per record */
    long day = t % 86400, sec = day % 60, min = (day / 60) % 60, hour = day / 3600;
    long dom = 1 + (t - 1714564800L) / 86400 % 28;
    return snprintf(
        buf, cap,
        "{\"employee_id\":\"E%08ld\",\"person_uuid\":\"%08lx-%04lx-4%03lx-8%03lx-%012lx\","
        "\"first_name\":\"%s\",\"last_name\":\"%s\",\"email\":\" Person.%ld@Example.COM \","
        "\"birth_date\":\"19%02ld-%02ld-%02ld\",\"status\":\"%s\","
        "\"home\":{\"street\":\"%ld High Street\",\"city\":\"%s\",\"zip\":\"%05ld\","
        "\"country\":\"gb\"},\"updated_at\":\"2024-05-%02ldT%02ld:%02ld:%02ldZ\","
        "\"terminated\":%s}",
        k, h & 0xffffffffUL, (h >> 8) & 0xffff, (h >> 4) & 0xfff, (h >> 12) & 0xfff,
        ((unsigned long)k * 40503UL) & 0xffffffffffffUL, given[k % 6], family[k % 5], k,
        50 + k % 50, 1 + k % 12, 1 + k % 28, status[i % 6], 1 + k % 200, city[k % 5], k % 100000,
        dom, hour, min, sec, is_delete ? "true" : "false");
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC N KEYS [PARTITIONS [DELETE_EVERY]]\n", argv[0]);
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2];
    long n = atol(argv[3]), keys = atol(argv[4]);
    int partitions = argc > 5 ? atoi(argv[5]) : 6;
    long delete_every = argc > 6 ? atol(argv[6]) : 100;
    if (n < 0 || keys <= 0 || partitions <= 0 || delete_every < 0) {
        fprintf(stderr, "hr_loader: bad N, KEYS, PARTITIONS or DELETE_EVERY\n");
        return 2;
    }
    long failed = 0;
    rd_kafka_t *rk = kb_bulk_producer(bootstrap, &failed);
    kb_create_topic(rk, topic, partitions);
    if (n == 0) {
        rd_kafka_destroy(rk);
        return 0;
    }

    long stride = kb_key_stride(keys);

    char value[1024];
    double t0 = kb_now();
    long long bytes = 0;
    for (long i = 0; i < n; i++) {
        char key[32];
        long k = (long)(((int64_t)i * stride) % keys);
        int klen = snprintf(key, sizeof key, "E%08ld", k);
        int is_delete = delete_every > 0 && i % delete_every == delete_every - 1;
        int vlen = hr_record(value, sizeof value, k, i, is_delete);
        if (vlen <= 0 || (size_t)vlen >= sizeof value) {
            fprintf(stderr, "hr_loader: record %ld does not fit\n", i);
            return 1;
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
    if (failed || left) {
        fprintf(stderr, "hr_loader: %ld records failed, %d undelivered\n", failed, left);
        return 1;
    }
    printf("hr_loader: %ld JSON records (%.0f bytes each) over %ld keys into %s (%d partitions) "
           "in %.2f s: %.0f records/s\n",
           n, (double)bytes / (double)n, keys, topic, partitions, secs, (double)n / secs);
    return 0;
}
