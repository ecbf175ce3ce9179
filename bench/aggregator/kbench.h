/* kbench.h - small helpers shared by the Kafka benchmark programs (bench/aggregator's
 * loader, bare_copy and latency, bench/translators' hr_loader): configuration that fails loudly,
 * topic creation through the Admin API (the broker of tests/kafka/kafka.sh does not auto-create
 * topics), clocks and memory.
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

/* A delivery report callback (rd_kafka_conf_set_dr_msg_cb) counting failures in the
 * long the producer's opaque points to, printing the first. Runs on the thread that polls. */
void kb_count_failed(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* The loaders' producer: idempotent, murmur2-partitioned, lingering 20 ms, with a local
 * queue for a million records; delivery failures are counted in *failed (kb_count_failed).
 * Exits if librdkafka refuses the configuration. */
rd_kafka_t *kb_bulk_producer(const char *bootstrap, long *failed);

/* Produces one record (copied), waiting in rd_kafka_poll while the local queue is full.
 * Returns 0, or 1 after printing why librdkafka refused it. */
int kb_produce(rd_kafka_t *rk, const char *topic, const void *key, size_t key_len,
               const void *value, size_t value_len);

/* Polls until every produced record is delivered or max_s seconds have passed; returns the
 * number still undelivered. */
int kb_drain(rd_kafka_t *rk, double max_s);

/* A stride coprime to keys near keys/phi: record i goes to key (i * stride) % keys, which
 * visits every key once per `keys` records, spread out rather than in order. */
long kb_key_stride(long keys);

/* Monotonic seconds. */
double kb_now(void);

/* The process's peak resident set size in MiB (getrusage). */
double kb_maxrss_mb(void);

/* ---- real person updates (docs/wire.md's derived update schema of schemas/person.avsc) --
 * The aggregator decodes what it consumes, so its benchmark needs valid updates: these
 * helpers write them in Avro binary by hand (the layout of canon.person.updates-value:
 * key, source, event_time, seq, op, provided, values{given_name, family_name, email,
 * phone, birth_date, employment_status, address, tags, support_tier}), framed with the
 * registered schema id. The field order is fixed by the derived schema; a mismatch would
 * show as dead letters (DECODE) in the benchmark, which checks that there are none. */

/* The uuid-shaped key of key number k (the person schema's key is a uuid string), as the
 * Streams reference's loader names them. buf holds at least 40 bytes; returns the length. */
int kb_person_key(char *buf, long k);

/* Encodes the i-th update of a benchmark stream into buf (at least 1024 bytes): key k,
 * Confluent framing with schema_id. The mix follows the Streams reference's loader:
 * sources hr, crm, support in turn, each providing 2 to 4 fields it may write (values
 * vary with i), 3% of them cleared, 1% DELETEs, 10% with an event time older than their
 * place in the stream by up to 3 * keys ms (a key's updates are `keys` apart: stale
 * fields, some no-ops). event_time is base_ms + i unless stale. Returns the length. */
int kb_person_update(unsigned char *buf, int schema_id, long i, long k, long keys,
                     long long base_ms);

/* An update that always publishes: source crm sets email (which any source may write) to a
 * value naming seq, with event_time event_ms (newer than anything kb_person_update wrote
 * when event_ms is the wall clock). Returns the length. */
int kb_person_touch(unsigned char *buf, int schema_id, long k, long long event_ms, long seq);

#endif
