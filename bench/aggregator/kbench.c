/* kbench.c - helpers of the aggregator benchmark programs; see kbench.h. */
#include "kbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

void kb_conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "config %s=%s: %s\n", k, v, err);
        exit(1);
    }
}

int kb_create_topic(rd_kafka_t *rk, const char *topic, int partitions)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    if (!nt) {
        fprintf(stderr, "topic %s: %s\n", topic, err);
        exit(1);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        fprintf(stderr, "create topic %s: no answer in 30 s\n", topic);
        exit(1);
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "create topic %s: %s\n", topic, rd_kafka_event_error_string(ev));
        exit(1);
    }
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    int existed = 0;
    rd_kafka_resp_err_t e =
        cnt == 1 ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__BAD_MSG;
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        existed = 1;
    } else if (e) {
        fprintf(stderr, "create topic %s: %s\n", topic,
                cnt == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
        exit(1);
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    /* Ask for the topic's metadata now: librdkafka 2.0.2 stalls about a second on the
     * first produce to a topic it has not seen (DESIGN.md), which would count as time. */
    (void)kb_partition_count(rk, topic);
    return existed;
}

int kb_partition_count(rd_kafka_t *rk, const char *topic)
{
    double deadline = kb_now() + 30;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    for (;;) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
        int n = -1;
        if (!e && md->topic_cnt == 1 && !md->topics[0].err) {
            n = md->topics[0].partition_cnt;
            for (int i = 0; i < n; i++)
                if (md->topics[0].partitions[i].leader < 0)
                    n = -1; /* not ready yet */
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (n > 0) {
            rd_kafka_topic_destroy(t);
            return n;
        }
        if (kb_now() > deadline) {
            fprintf(stderr, "topic %s: no usable metadata in 30 s (%s)\n", topic,
                    rd_kafka_err2str(e));
            exit(1);
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

double kb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double kb_maxrss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}
