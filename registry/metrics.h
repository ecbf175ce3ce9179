/* metrics.h - request counters and latency histograms for GET /metrics.
 *
 * Counted per route template (e.g. "/subjects/{subject}/versions") and status code, with
 * one latency histogram per route, in lock-free atomics so that the hot path pays a few
 * increments. Rendered in the Prometheus text exposition format.
 *
 * Threads: reg_metrics_observe() from any thread (libmicrohttpd's pool threads);
 * reg_metrics_render() from any thread.
 */
#ifndef REG_METRICS_H
#define REG_METRICS_H

#include <stddef.h>

typedef struct reg_metrics reg_metrics;

/* route_names: n_routes templates; the array must outlive the metrics. NULL if out of
 * memory. */
reg_metrics *reg_metrics_new(const char *const *route_names, size_t n_routes);
void reg_metrics_free(reg_metrics *m); /* NULL is fine */

void reg_metrics_observe(reg_metrics *m, size_t route, int status, double seconds);

/* Renders all metrics plus the gauges. Returns a malloc'd string (caller frees) and its
 * length in *len, or NULL when out of memory. */
char *reg_metrics_render(reg_metrics *m, size_t n_schemas, size_t n_subjects, size_t *len);

#endif
