/* run.h - the Kafka side of the declarative translator (`canon translate`): consume a
 * domain topic, apply a bound mapping to each record, produce canonical updates.
 *
 * A tr_run owns one consumer (in a consumer group, so translators scale out like any
 * Kafka app) and one idempotent producer. Each record of the mapping's source topic is
 * decoded (JSON; or Avro in the Confluent wire format, its schema fetched by id from the
 * registry and decoded to JSON with canon/avro_json.h), given to tr_mapping_apply, and
 * the update it yields is produced to canon.<entity>.updates, keyed by the universal
 * identifier, with the murmur2 partitioner. A record that cannot be decoded or mapped, or
 * whose update is larger than the producer's message.max.bytes (TOO_LARGE), is
 * produced to the mapping's DLQ topic byte for byte (key, value, timestamp) with the
 * aggregator's DLQ headers: canon.error.code, canon.error.message, canon.source.topic,
 * canon.source.partition, canon.source.offset (docs/wire.md).
 *
 * Delivery: at least once. Consumer offsets are committed only when every update and
 * dead letter produced for the records before them has been acknowledged by the broker
 * (delivery reports; records are tracked in chunks, so the cost is per chunk, not per
 * record). A crash re-reads at most the records since the last commit, and their updates
 * are produced again with the same key, event_time, source and seq (seq is the source
 * record's offset), which the aggregator's merge treats as a no-op (equal versions do not
 * apply, docs/aggregator.md "Merge rules"). Transactions would add a commit stall per
 * batch to buy nothing the merge does not already give; see docs/translators.md.
 *
 * Threads: everything runs on the thread that calls tr_run_loop(); librdkafka's delivery
 * and rebalance callbacks are served there too. tr_run_stop() may be called from any
 * thread or a signal handler.
 */
#ifndef TR_RUN_H
#define TR_RUN_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "../canon/registry_client.h"
#include "../common/err.h"
#include "mapping.h"

/* Where a partition starts when the run gets it. */
typedef enum {
    TR_RUN_RESUME = 0,     /* the group's committed offset; a new group starts at the beginning */
    TR_RUN_FROM_END,       /* the committed offset; a new group starts at the end */
    TR_RUN_FROM_BEGINNING, /* the beginning, whatever was committed (reprocessing) */
} tr_run_start;

typedef struct tr_run_config {
    const char *bootstrap; /* Kafka brokers, required */
    const char *group_id;  /* consumer group, required */
    tr_run_start start;
    int once;    /* stop when every assigned partition is at its end */
    int verbose; /* progress and per-record reasons on stderr */
    /* librdkafka properties given by the user (-X), applied after the run's own settings
     * to both clients (consumer-only keys are skipped for the producer and the other way
     * round). May be NULL; copied by tr_run_new, which never takes ownership. */
    const rd_kafka_conf_t *user_conf;
    const char *log_prefix; /* "canon translate" when NULL */
} tr_run_config;

typedef struct tr_run_counts {
    uint64_t records_in;   /* records consumed from the source topic */
    uint64_t updates_out;  /* updates produced (UPSERTs and DELETEs) */
    uint64_t deletes;      /* of which DELETEs */
    uint64_t dead_letters; /* records sent to the DLQ */
    uint64_t delivered;    /* acknowledged by the broker (updates and dead letters) */
    double seconds;        /* from the first record consumed to the last delivery seen */
} tr_run_counts;

typedef struct tr_run tr_run;

/* Sets the run's librdkafka defaults on conf (queue sizes, producer batching and linger,
 * read_committed): call it on the configuration the user's -X properties then go into,
 * so they can override any of them. */
void tr_run_conf_defaults(rd_kafka_conf_t *conf);

/* A run of mapping m (bound: tr_mapping_bind succeeded) reading its source topic. m and
 * reg are borrowed and must outlive the run; reg is used only for Avro sources (schema by
 * id). Creates both clients and checks that the updates topic exists, and creates the DLQ
 * topic (with the source topic's partition count) when it does not; nothing is consumed
 * yet. *out is a new handle the caller frees with tr_run_free(). */
cg_err *tr_run_new(const tr_run_config *cfg, const tr_mapping *m, canon_registry *reg,
                   tr_run **out);

/* Consumes until tr_run_stop() or, with cfg->once, the end of every assigned partition;
 * then flushes the producer and commits what was delivered. Returns NULL on a clean stop;
 * an error when Kafka fails for good or an update cannot be delivered (offsets are then
 * committed only up to the records before it, so a restart produces it again). */
cg_err *tr_run_loop(tr_run *r);

/* Asks tr_run_loop() to stop after the records in hand. Async-signal-safe. */
void tr_run_stop(tr_run *r);

/* The counts so far. */
void tr_run_counts_get(const tr_run *r, tr_run_counts *out);

/* Leaves the consumer group and frees r (NULL is fine). */
void tr_run_free(tr_run *r);

#endif
