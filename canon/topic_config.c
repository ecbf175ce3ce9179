/* topic_config.c - topics' settings, in one DescribeConfigs request. */
#include "topic_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void take(canon_topic_config *c, const char *name, const char *v)
{
    if (!v)
        return;
    if (!strcmp(name, "max.message.bytes"))
        c->max_message_bytes = strtoll(v, NULL, 10);
    else if (!strcmp(name, "cleanup.policy"))
        snprintf(c->cleanup_policy, sizeof(c->cleanup_policy), "%s", v);
    else if (!strcmp(name, "retention.ms"))
        c->retention_ms = strtoll(v, NULL, 10);
    else if (!strcmp(name, "retention.bytes"))
        c->retention_bytes = strtoll(v, NULL, 10);
}

void canon_topic_config_read(rd_kafka_t *rk, const char *const *topics, size_t n,
                             canon_topic_config *out, int timeout_ms)
{
    rd_kafka_ConfigResource_t **res = calloc(n ? n : 1, sizeof(*res));
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].retention_ms = out[i].retention_bytes = -1;
        snprintf(out[i].why, sizeof(out[i].why), "no answer in %d s", timeout_ms / 1000);
    }
    if (!n)
        goto done;
    if (!res) {
        for (size_t i = 0; i < n; i++)
            snprintf(out[i].why, sizeof(out[i].why), "out of memory");
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
            snprintf(out[i].why, sizeof(out[i].why), "%s", rd_kafka_event_error_string(ev));
    } else if (ev) {
        rs = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev),
                                                       &nr);
    }
    for (size_t k = 0; k < nr; k++) {
        const char *name = rd_kafka_ConfigResource_name(rs[k]);
        size_t i = 0;
        while (i < n && strcmp(topics[i], name))
            i++;
        if (i == n)
            continue;
        canon_topic_config *c = &out[i];
        if (rd_kafka_ConfigResource_error(rs[k])) {
            snprintf(c->why, sizeof(c->why), "%s", rd_kafka_ConfigResource_error_string(rs[k]));
            continue;
        }
        size_t nc = 0;
        const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(rs[k], &nc);
        for (size_t e = 0; e < nc; e++)
            take(c, rd_kafka_ConfigEntry_name(ce[e]), rd_kafka_ConfigEntry_value(ce[e]));
        if (c->max_message_bytes <= 0) {
            c->max_message_bytes = 0;
            snprintf(c->why, sizeof(c->why), "the broker did not give max.message.bytes");
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
