/* kbench.h - small helpers shared by the aggregator benchmark programs (loader.c,
 * bare_copy.c): configuration that fails loudly, topic creation through the Admin API
 * (the broker of tests/kafka/kafka.sh does not auto-create topics), clocks and memory.
 *
 * Every function that can fail prints why on stderr and exits: these are benchmark
 * tools, where a half-configured client would only produce a misleading figure. */
#ifndef KBENCH_H
#define KBENCH_H

#include <librdkafka/rdkafka.h>

/* Sets k=v on c, or exits with librdkafka's message. */
void kb_conf_set(rd_kafka_conf_t *c, const char *k, const char *v);

/* Creates topic with `partitions` partitions (replication 1) and returns 0; returns 1 if
 * it already existed (with any partition count: compare with kb_partition_count). */
int kb_create_topic(rd_kafka_t *rk, const char *topic, int partitions);

/* The partition count of topic from the broker's metadata, or exits. */
int kb_partition_count(rd_kafka_t *rk, const char *topic);

/* Monotonic seconds. */
double kb_now(void);

/* The process's peak resident set size in MiB (getrusage). */
double kb_maxrss_mb(void);

#endif
