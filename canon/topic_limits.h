/* topic_limits.h - the largest record batch each Kafka topic takes (max.message.bytes).
 *
 * librdkafka fills a record batch up to the producer's batch.size and message.max.bytes,
 * and the broker refuses a batch past its topic's max.message.bytes only after it was
 * sent: every record of the batch undelivered (a transaction that must abort). The
 * aggregator (pipeline.c) and the translator (translators/run.c) read their output
 * topics' limits when they start and keep their producers below them.
 *
 * Threads: any thread that may use rk (librdkafka clients are thread-safe). */
#ifndef CANON_TOPIC_LIMITS_H
#define CANON_TOPIC_LIMITS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Bytes of a record batch that are not its records' (61 in the v2 format), kept between a
 * topic's max.message.bytes and what a producer may put in one batch, with room. */
#define CANON_BATCH_FRAMING 512

/* A reason why a topic's limit is not known. */
typedef char canon_limit_why[256];

/* The max.message.bytes (the topic's own, or the broker's default) of topics[0..n) in
 * lim[i] (topics distinct: librdkafka refuses a resource named twice), asked in one
 * DescribeConfigs request through rk (a producer or consumer), waiting
 * at most timeout_ms. lim[i] is 0 where the broker did not say (no DescribeConfigs
 * permission, an old broker, no answer in time, librdkafka's mock cluster), and why[i]
 * then says why. The caller owns all three arrays. */
void canon_topic_limits(rd_kafka_t *rk, const char *const *topics, size_t n, long long *lim,
                        canon_limit_why *why, int timeout_ms);

#endif
