/* fuzz_http.c - libFuzzer target: the registry's request routing and route handlers
 * (registry/routes.c, registry.c, store.c on an in-memory SQLite database), without
 * sockets. The input is
 *     METHOD SP PATH LF CONTENT-TYPE LF BODY
 * (seeds in corpus/http/). The path is split and %XX-decoded by reg_route_split_path, as in http.c;
 * then reg_route_match and reg_route_run run exactly as http.c's handler calls them.
 * Not covered here (they sit in http.c's libmicrohttpd callback): query-string options,
 * Accept negotiation, the 405/413/415 checks. */
#include <stdint.h>

#include "fuzz_common.h"
#include "registry/http_internal.h"

#define MAX_SEG 16

static void one(reg_registry *reg, reg_metrics *met, const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return;
    memcpy(in, data, size);
    in[size] = '\0';
    char *sp = memchr(in, ' ', size);
    char *nl1 = sp ? memchr(sp, '\n', size - (size_t)(sp - in)) : NULL;
    char *nl2 = nl1 ? memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - in)) : NULL;
    if (!nl2) {
        free(in);
        return;
    }
    *sp = *nl1 = *nl2 = '\0';
    const char *method = in, *path = sp + 1, *ctype = nl1 + 1;
    char *qm = strchr(sp + 1, '?');
    if (qm)
        *qm = '\0';

    char *buf = malloc(strlen(path) + 1);
    char *seg[MAX_SEG];
    size_t nseg = 0;
    if (!buf || reg_route_split_path(path, buf, seg, MAX_SEG, &nseg))
        goto done;
    reg_http_req q = {0};
    q.method = method;
    q.seg = seg;
    q.nseg = nseg;
    q.body = nl2 + 1;
    q.body_len = size - (size_t)(nl2 + 1 - in);
    q.content_type = *ctype ? ctype : NULL;
    int route = RT_UNKNOWN;
    unsigned allowed = 0;
    if (!reg_route_match(&q, &route, &allowed))
        goto done;
    reg_route_ctx ctx = {reg, met, NULL, NULL, NULL};
    reg_http_resp resp = {0};
    reg_route_run(&ctx, route, &q, &resp);
    if (resp.status < 100 || resp.status > 599)
        abort();
    if (!resp.borrowed)
        free(resp.body.data);
    free(resp.disposition);
done:
    free(buf);
    free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reg_registry *reg = NULL;
    reg_metrics *met = reg_metrics_new(reg_route_names, RT_COUNT);
    cg_err *e = reg_registry_open(":memory:", &reg);
    if (e || !met) {
        fprintf(stderr, "fuzz: registry: %s\n", e ? cg_err_msg(e) : "out of memory");
        abort();
    }
    for (int n = 0; n < 8 && size > 0; n++) {
        const uint8_t *end = memchr(data, 0, size);
        size_t len = end ? (size_t)(end - data) : size;
        one(reg, met, data, len);
        data += len + (end ? 1 : 0);
        size -= len + (end ? 1 : 0);
    }
    reg_registry_free(reg);
    reg_metrics_free(met);
    return 0;
}
