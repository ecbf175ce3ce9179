/* metrics.c - Prometheus counters and histograms (see metrics.h).
 *
 * Statuses are mapped to a small fixed set of slots so the table is a flat array of
 * atomics with no allocation on the hot path; a status outside the set counts as
 * "other". Relaxed ordering: the numbers are statistics, not synchronisation. */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int status_slots[] = {200, 204, 400, 401, 403, 404, 405, 406,
                                   409, 413, 415, 422, 500, 503, 0};
#define N_STATUS (sizeof(status_slots) / sizeof(status_slots[0]))

static const double bucket_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
#define N_BUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

struct route_stats {
    _Atomic uint64_t by_status[N_STATUS];
    _Atomic uint64_t buckets[N_BUCKETS + 1]; /* last is +Inf */
    _Atomic uint64_t sum_ns;
};

struct reg_metrics {
    const char *const *names;
    size_t n;
    struct route_stats *routes;
};

reg_metrics *reg_metrics_new(const char *const *route_names, size_t n_routes)
{
    reg_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->routes = calloc(n_routes, sizeof(*m->routes));
    if (!m->routes) {
        free(m);
        return NULL;
    }
    m->names = route_names;
    m->n = n_routes;
    return m;
}

void reg_metrics_free(reg_metrics *m)
{
    if (!m)
        return;
    free(m->routes);
    free(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i + 1 < N_STATUS; i++)
        if (status_slots[i] == status)
            return i;
    return N_STATUS - 1;
}

void reg_metrics_observe(reg_metrics *m, size_t route, int status, double seconds)
{
    if (route >= m->n)
        return;
    struct route_stats *r = &m->routes[route];
    atomic_fetch_add_explicit(&r->by_status[status_slot(status)], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < N_BUCKETS && seconds > bucket_bounds[b])
        b++;
    atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

struct buf {
    char *p;
    size_t len, cap;
    int failed;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

char *reg_metrics_render(reg_metrics *m, size_t n_schemas, size_t n_subjects, size_t *len)
{
    struct buf b = {malloc(4096), 0, 4096, 0};
    if (!b.p)
        return NULL;
    bprintf(&b, "# HELP registry_http_requests_total HTTP requests by route and status.\n"
                "# TYPE registry_http_requests_total counter\n");
    for (size_t r = 0; r < m->n; r++) {
        for (size_t s = 0; s < N_STATUS; s++) {
            uint64_t v = atomic_load_explicit(&m->routes[r].by_status[s], memory_order_relaxed);
            if (!v)
                continue;
            if (status_slots[s])
                bprintf(&b, "registry_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                        m->names[r], status_slots[s], (unsigned long long)v);
            else
                bprintf(&b, "registry_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                        m->names[r], (unsigned long long)v);
        }
    }
    bprintf(&b, "# HELP registry_http_request_duration_seconds Time to answer a request.\n"
                "# TYPE registry_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < m->n; r++) {
        uint64_t cum = 0;
        uint64_t total = 0;
        for (size_t k = 0; k <= N_BUCKETS; k++)
            total += atomic_load_explicit(&m->routes[r].buckets[k], memory_order_relaxed);
        if (!total)
            continue;
        for (size_t k = 0; k <= N_BUCKETS; k++) {
            cum += atomic_load_explicit(&m->routes[r].buckets[k], memory_order_relaxed);
            if (k < N_BUCKETS)
                bprintf(&b,
                        "registry_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                        "%llu\n",
                        m->names[r], bucket_bounds[k], (unsigned long long)cum);
            else
                bprintf(&b,
                        "registry_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                        "%llu\n",
                        m->names[r], (unsigned long long)cum);
        }
        bprintf(&b, "registry_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n", m->names[r],
                (double)atomic_load_explicit(&m->routes[r].sum_ns, memory_order_relaxed) / 1e9);
        bprintf(&b, "registry_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                m->names[r], (unsigned long long)cum);
    }
    bprintf(&b,
            "# HELP registry_schemas Schemas (distinct ids) with at least one version.\n"
            "# TYPE registry_schemas gauge\n"
            "registry_schemas %zu\n"
            "# HELP registry_subjects Subjects with at least one live version.\n"
            "# TYPE registry_subjects gauge\n"
            "registry_subjects %zu\n",
            n_schemas, n_subjects);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
