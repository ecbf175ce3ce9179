/* kwait.c - waits until a consumer group has committed the whole of a topic, and times it.
 *
 * The side-by-side benchmark (side_by_side.sh) runs `canon aggregate` as a black box: it
 * is done when its group's committed offsets (which, with exactly once, are committed in
 * the transaction that carries the canon records made from them) reach the input's end
 * offsets, so everything is processed and readable by a read_committed consumer. That is
 * also how the Streams reference is timed (bench/aggregator/streams/run.sh), and it needs
 * no cooperation from the process measured.
 *
 * The clock starts at the first update the aggregator consumed: with --metrics URL (the
 * aggregator's --metrics-listen), when canon_updates_in_total first reads above 0, and
 * the records counted are those consumed after that look (total - that reading);
 * without, when the group's first commit is seen (which misses up to one transaction).
 * Both are polled every 20 ms (an OffsetFetch and a local HTTP GET: cheap).
 *
 * Usage: kwait [--metrics HOST:PORT] [--timeout S] BOOTSTRAP TOPIC GROUP
 * The end offsets are read once at start: the input must be complete by then. Prints one
 * line of key=value pairs: records, seconds, records_per_s. Exit 1 on timeout. */
#include "kbench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Sum of canon_updates_in_total samples of GET http://host:port/metrics; -1 on failure. */
static long long metrics_updates_in(const char *hostport)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host)
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    long long total = -1;
    static char buf[1 << 20];
    size_t n = 0;
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        ssize_t r;
        while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
            n += (size_t)r;
        buf[n] = 0;
        total = 0;
        for (char *p = strstr(buf, "\ncanon_updates_in_total"); p;
             p = strstr(p + 1, "\ncanon_updates_in_total")) {
            char *sp = strchr(p + 1, ' ');
            char *nl = strchr(p + 1, '\n');
            if (sp && (!nl || sp < nl))
                total += atoll(sp + 1);
        }
    }
    close(fd);
    return total;
}

int main(int argc, char **argv)
{
    const char *metrics = NULL;
    int timeout = 600;
    int i = 1;
    for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (!strcmp(argv[i], "--metrics"))
            metrics = argv[i + 1];
        else if (!strcmp(argv[i], "--timeout"))
            timeout = atoi(argv[i + 1]);
        else
            break;
    }
    if (argc - i != 3) {
        fprintf(stderr, "usage: kwait [--metrics HOST:PORT] [--timeout S] BOOTSTRAP TOPIC GROUP\n");
        return 2;
    }
    const char *bootstrap = argv[i], *topic = argv[i + 1], *group = argv[i + 2];
    char errstr[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    kb_conf_set(c, "bootstrap.servers", bootstrap);
    kb_conf_set(c, "group.id", group); /* only for OffsetFetch: never subscribes */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "kwait: %s\n", errstr);
        return 1;
    }
    int parts = kb_partition_count(rk, topic);
    long long *end = calloc((size_t)parts, sizeof *end), total = 0;
    if (!end)
        return 1;
    for (int p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "kwait: watermarks of %s [%d]: %s\n", topic, p, rd_kafka_err2str(e));
            return 1;
        }
        end[p] = hi;
        total += hi - lo;
    }
    double start = kb_now(), t0 = 0, t_first_commit = 0, done = 0;
    long long at_t0 = 0;
    while (!done && kb_now() - start < timeout) {
        double now = kb_now();
        if (metrics && t0 == 0) {
            long long in = metrics_updates_in(metrics);
            if (in > 0) {
                /* counted from here: what was consumed before the first look is not in
                 * the rate (a poll's worth, unless the whole input was faster than that) */
                t0 = now;
                at_t0 = in;
            }
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
        for (int p = 0; p < parts; p++)
            rd_kafka_topic_partition_list_add(l, topic, p);
        if (rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int all = 1;
            long long sum = 0;
            for (int p = 0; p < l->cnt; p++) {
                int64_t off = l->elems[p].offset;
                int32_t k = l->elems[p].partition;
                if (off < end[k])
                    all = 0;
                if (off > 0)
                    sum += off;
            }
            if (sum > 0 && t_first_commit == 0) {
                t_first_commit = kb_now();
                if (!metrics) {
                    t0 = t_first_commit;
                    at_t0 = sum;
                }
            }
            if (all && t0 > 0)
                done = kb_now();
        }
        rd_kafka_topic_partition_list_destroy(l);
        if (!done) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_destroy(rk);
    free(end);
    if (!done) {
        fprintf(stderr, "kwait: group %s did not commit the end of %s within %d s\n", group, topic,
                timeout);
        return 1;
    }
    double secs = done - t0;
    long long counted = total - at_t0;
    printf("records=%lld seconds=%.2f records_per_s=%.0f clock_from=%s\n", counted, secs,
           secs > 0 ? (double)counted / secs : 0.0, metrics ? "first_update" : "first_commit");
    if (counted < total / 2) {
        fprintf(stderr, "kwait: most of the input was consumed before the clock started: "
                        "no rate (use a larger input)\n");
        return 1;
    }
    return 0;
}
