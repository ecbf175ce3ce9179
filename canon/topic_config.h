/* topic_config.h - what Kafka topics' configurations say, in one DescribeConfigs request.
 *
 * librdkafka fills a record batch up to the producer's batch.size and message.max.bytes,
 * and the broker refuses a batch past its topic's max.message.bytes only after it was
 * sent: every record of the batch undelivered (a transaction that must abort). The
 * aggregator (pipeline.c) and the translator (translators/run.c) read their output
 * topics' limits when they start and keep their producers below them. The aggregator also
 * reads whether its canon topics keep every key (cleanup.policy and retention): it
 * restores its state from them.
 *
 * Threads: any thread that may use rk (librdkafka clients are thread-safe). */
#ifndef CANON_TOPIC_CONFIG_H
#define CANON_TOPIC_CONFIG_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Bytes of a record batch that are not its records' (61 in the v2 format), kept between a
 * topic's max.message.bytes and what a producer may put in one batch, with room. */
#define CANON_BATCH_FRAMING 512

/* One topic's settings, the topic's own or the broker's defaults. */
typedef struct canon_topic_config {
    long long max_message_bytes; /* 0: not known, and why says why */
    char cleanup_policy[64];     /* e.g. "compact" or "compact,delete"; "": not known */
    long long retention_ms;      /* -1: forever; meaningful when cleanup_policy is known */
    long long retention_bytes;   /* -1: no size limit; likewise */
    char why[256];
} canon_topic_config;

/* Reads the settings of topics[0..n) (distinct: librdkafka refuses a resource named twice)
 * into out[0..n), in one DescribeConfigs request through rk (a producer or consumer),
 * waiting at most timeout_ms. Where the broker does not say (no DescribeConfigs permission,
 * an old broker, no answer in time, librdkafka's mock cluster), max_message_bytes is 0
 * and cleanup_policy empty, and why says why. The caller owns both arrays. */
void canon_topic_config_read(rd_kafka_t *rk, const char *const *topics, size_t n,
                             canon_topic_config *out, int timeout_ms);

#endif
