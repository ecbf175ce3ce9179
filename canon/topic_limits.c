/* topic_limits.c - max.message.bytes of topics, in one DescribeConfigs request. */
#include "topic_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void canon_topic_limits(rd_kafka_t *rk, const char *const *topics, size_t n, long long *lim,
                        canon_limit_why *why, int timeout_ms)
{
    rd_kafka_ConfigResource_t **res = calloc(n ? n : 1, sizeof(*res));
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    for (size_t i = 0; i < n; i++) {
        lim[i] = 0;
        snprintf(why[i], sizeof(why[i]), "no answer in %d s", timeout_ms / 1000);
    }
    if (!n)
        goto done;
    if (!res) {
        for (size_t i = 0; i < n; i++)
            snprintf(why[i], sizeof(why[i]), "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topics[i]);
    q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, res, n, NULL, q);
    ev = rd_kafka_queue_poll(q, timeout_ms);
    size_t nr = 0;
    const rd_kafka_ConfigResource_t **rs = NULL;
    if (ev && rd_kafka_event_error(ev)) {
        for (size_t i = 0; i < n; i++)
            snprintf(why[i], sizeof(why[i]), "%s", rd_kafka_event_error_string(ev));
    } else if (ev) {
        rs = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev),
                                                       &nr);
    }
    for (size_t k = 0; k < nr; k++) {
        const char *name = rd_kafka_ConfigResource_name(rs[k]);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(topics[i], name))
                continue;
            if (rd_kafka_ConfigResource_error(rs[k])) {
                snprintf(why[i], sizeof(why[i]), "%s", rd_kafka_ConfigResource_error_string(rs[k]));
                continue;
            }
            size_t nc = 0;
            const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rs[k], &nc);
            for (size_t c = 0; c < nc; c++) {
                const char *v = rd_kafka_ConfigEntry_value(ce[c]);
                if (!strcmp(rd_kafka_ConfigEntry_name(ce[c]), "max.message.bytes") && v)
                    lim[i] = strtoll(v, NULL, 10);
            }
            if (lim[i] <= 0) {
                lim[i] = 0;
                snprintf(why[i], sizeof(why[i]), "the broker did not give it");
            }
        }
    }
done:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    for (size_t i = 0; res && i < n; i++)
        if (res[i])
            rd_kafka_ConfigResource_destroy(res[i]);
    free(res);
}
