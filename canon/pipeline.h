/* pipeline.h - the aggregator's Kafka pipeline: consume updates, merge, produce exactly once.
 *
 * One canon_pipeline is one aggregator instance (one member of a consumer group). It
 * consumes canon.<entity>.updates of every entity it serves with one read_committed
 * consumer, merges each update with the merge engine (merge.h) into the state of its
 * partition (state.h), and produces canon records (canon.<entity>, same partition, same
 * key), dead letters (canon.<entity>.dlq) and the consumed offsets in one Kafka
 * transaction per batch. A partition's state is rebuilt from canon.<entity> itself when
 * the partition is assigned (cooperative-sticky rebalancing), and again after an aborted
 * transaction. Design, settings and trade-offs: docs/aggregator.md ("The Kafka pipeline").
 *
 * Threads: canon_pipeline_run() runs the pipeline on the calling thread (librdkafka's
 * rebalance callback too, since it fires from the consumer poll), except the commit of
 * each transaction, which a commit thread it starts and joins runs while the calling
 * thread merges the next batch (pipeline.c says how the two share the producer). The
 * source_allowed hook is called on the calling thread. canon_pipeline_stop() and
 * canon_pipeline_metrics() may be called from any thread.
 */
#ifndef CANON_PIPELINE_H
#define CANON_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "canon/registry_client.h"
#include "common/err.h"

typedef struct canon_pipeline_config {
    const char *bootstrap;        /* required: librdkafka bootstrap.servers */
    const char *registry_url;     /* required: http://HOST:PORT of the schema registry */
    const char *const *entities;  /* entities to serve; n_entities 0: every entity the */
    size_t n_entities;            /*   registry lists, and new ones as they appear */
    const char *group_id;         /* NULL: "canon-aggregator" */
    const char *transactional_id; /* NULL: "<group>-<hostname>" (must be unique per instance
                                     and stable across its restarts: fences zombies) */
    const char *const *props;     /* extra librdkafka settings "key=value", applied to the */
    size_t n_props;               /*   consumer and producer (unknown keys fail the start) */
    int commit_interval_ms;       /* 0: 100. Longest a batch stays open under load */
    int batch_max;                /* 0: 100000. Most updates in one transaction */
    int create_updates;           /* 1: an entity served from the registry's list whose
                                     updates topic is missing gets one (`canon serve`);
                                     0: it is not served until the topic exists, said once
                                     (`canon aggregate`, which does not guess a count) */
    int create_partitions;        /* 0: 6. Partitions of an updates topic so created */
    int no_transactions;          /* 1: plain idempotent producer, offsets committed after
                                     the batch's deliveries (at-least-once; for clusters
                                     without transactions, e.g. librdkafka's mock) */
    int verbose;                  /* log batches and restores to stderr */
    int no_topic_configs;         /* 1: do not read the canon and DLQ topics' settings
                                     (topic_configs() in pipeline.c: record size limits,
                                     retention): librdkafka's mock cluster has no
                                     controller to answer, and each entity's start would
                                     wait 10 s for nothing */
    const char *checkpoint_path;  /* NULL: none. SQLite file of per-partition state and the
                                     canon offset it reflects; restores load it and read
                                     canon.<entity> only from that offset on */
    int checkpoint_interval_s;    /* 0: 10. Least time between checkpoints (written after a
                                     committed transaction, and at a clean stop) */
    /* Optional (NULL: any source): 0 sends an update of entity from source[0..len) to the
     * DLQ as UNLISTED_SOURCE (the auth file's domain writers; docs/security.md). Called on
     * the pipeline's thread. */
    int (*source_allowed)(void *opaque, const char *entity, const uint8_t *source, size_t len);
    void *source_opaque;
    /* The registry client's token and TLS files (registry_client.h); NULL: the
     * environment's (CANON_REGISTRY_*), as the tools read them. Read by canon_pipeline_new
     * only, so it and its strings need to live only through that call. */
    const canon_registry_opts *registry_opts;
    /* Tests only (0: off; 2 or more, since 1 would let no message through): every Nth
     * consume call that returns messages is treated as if a rebalance had run inside it,
     * so its messages are dropped and their partitions sought back (the rare path of
     * next_message() in pipeline.c, which a test cannot time). `canon aggregate` takes it
     * from CANON_TEST_REPLAY_EVERY. */
    int test_replay_every;
    /* Tests only (0: off): every Nth commit made on the loop thread (before a new canonical
     * version or schema is picked up, a rebalance, a checkpoint, the stop) is aborted as if
     * the broker had refused it, so the abort-and-rewind path runs where a test cannot make
     * a broker fail on time. `canon aggregate` takes it from CANON_TEST_ABORT_EVERY. */
    int test_abort_every;
} canon_pipeline_config;

typedef struct canon_pipeline canon_pipeline;

/* Connects to the registry and the cluster, loads every entity (schemas, merge engine),
 * checks or creates its topics, and creates the consumer and the transactional producer
 * (init_transactions: fences an earlier instance with the same transactional id). The
 * config's strings are copied. Errors: CG_EINVAL (config), CG_EIO / 404xx (registry),
 * CG_EKAFKA (cluster, topics: the message says which and why). */
cg_err *canon_pipeline_new(const canon_pipeline_config *cfg, canon_pipeline **out);
void canon_pipeline_free(canon_pipeline *p); /* NULL is fine; closes the consumer (leaves the
                                                group) and aborts an open transaction */

/* Runs until canon_pipeline_stop() or a fatal error (returned). The open batch is
 * committed on stop. */
cg_err *canon_pipeline_run(canon_pipeline *p);
void canon_pipeline_stop(canon_pipeline *p); /* any thread; async-signal-safe */

/* The aggregator's metrics in the Prometheus text format (a malloc'd string the caller
 * frees, length in *len; NULL when out of memory). Any thread. */
char *canon_pipeline_metrics(canon_pipeline *p, size_t *len);

/* Counters of one entity, for tests and tools. Any thread (relaxed reads). 0 when the
 * entity is unknown. */
typedef struct canon_pipeline_counts {
    uint64_t updates_in, published, noops, rejected, stale_fields, records_out, dlq_out;
    uint64_t transactions, aborts, restores, restored_records;
} canon_pipeline_counts;
void canon_pipeline_counts_get(canon_pipeline *p, const char *entity, canon_pipeline_counts *out);

#endif
