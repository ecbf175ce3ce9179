/* kafka_check.c - the Kafka helpers of a generated C binding build, link and run.
 *
 * No broker here (tests/kafka/ runs one): the producer queues an update for an
 * unreachable broker and reports the failed flush; the consumer starts and stops. */
#include <stdio.h>

#include "person_kafka.h"

int main(void)
{
    canon_error err = {0};
    person_producer *p = person_producer_new(NULL, "127.0.0.1:1", NULL, 7, &err);
    if (!p) {
        fprintf(stderr, "producer: %s\n", err.msg);
        return 1;
    }
    person_update_builder_t u;
    person_update_begin(&u, "id-1", "crm", 1, 1);
    person_update_set_email(&u, "x@example.com");
    if (person_producer_send(p, &u, &err) != 0) {
        fprintf(stderr, "send: %s\n", err.msg);
        return 1;
    }
    if (person_producer_flush(p, 200, &err) == 0) {
        fprintf(stderr, "flush succeeded without a broker\n");
        return 1;
    }
    rd_kafka_purge(person_producer_handle(p), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    person_producer_free(p);

    canon_error cerr = {0};
    person_consumer *c = person_consumer_new(NULL, "127.0.0.1:1", "kafka-check", NULL, &cerr);
    if (!c) {
        fprintf(stderr, "consumer: %s\n", cerr.msg);
        return 1;
    }
    canon_arena *a = canon_arena_new(0);
    person_envelope_t e;
    int32_t id;
    int rc = person_consumer_poll(c, 100, &e, &id, a, &cerr);
    canon_arena_free(a);
    person_consumer_free(c);
    printf("poll: %d\n", rc);
    return rc == 1;
}
