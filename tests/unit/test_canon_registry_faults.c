/* test_canon_registry_faults.c - the registry client against a misbehaving registry.
 *
 * A scripted HTTP server on a thread of this process answers each path the way a broken
 * or hostile registry (or a proxy in front of one) might. Proves: a 5xx carrying a
 * Confluent error_code is still CG_EIO, the code the aggregator stops on instead of
 * dead-lettering good updates; a schema that fails to parse does not keep its references
 * each time it is asked for; the timeout bounds the whole answer, not each recv; an answer
 * shorter than its Content-Length is an error even when what came parses; an IPv6
 * literal is bracketed in the Host header. */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "canon/registry_client.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

typedef struct server {
    int fd;
    int family;
    unsigned port;
    pthread_t thread;
    char *dep_body; /* the referenced schema's answer, large on purpose */
    char last_host[128];
    pthread_mutex_t mu;
} server;

static void send_str(int c, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(c, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void answer(int c, int status, const char *body)
{
    char head[256];
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n",
             status, strlen(body));
    send_str(c, head);
    send_str(c, body);
}

static void serve_one(server *s, int c)
{
    char req[8192];
    size_t len = 0;
    while (len < sizeof(req) - 1) {
        ssize_t got = recv(c, req + len, sizeof(req) - 1 - len, 0);
        if (got <= 0)
            return;
        len += (size_t)got;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char *host = strstr(req, "\r\nHost: ");
    if (host) {
        host += 8;
        size_t hl = strcspn(host, "\r");
        pthread_mutex_lock(&s->mu);
        snprintf(s->last_host, sizeof(s->last_host), "%.*s", (int)hl, host);
        pthread_mutex_unlock(&s->mu);
    }
    if (!strncmp(req, "GET /schemas/ids/7 ", 19)) {
        answer(c, 500, "{\"error_code\":50001,\"message\":\"Error in the backend data store\"}");
    } else if (!strncmp(req, "GET /schemas/ids/9 ", 19)) {
        answer(c, 403, "{\"error_code\":40301,\"message\":\"User is denied operation\"}");
    } else if (!strncmp(req, "GET /schemas/ids/8 ", 19)) {
        /* refers to dep, then names a type nobody defines: the parse fails */
        answer(c, 200,
               "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"P\\\","
               "\\\"namespace\\\":\\\"ex\\\",\\\"fields\\\":[{\\\"name\\\":\\\"d\\\","
               "\\\"type\\\":\\\"ex.Dep\\\"},{\\\"name\\\":\\\"n\\\",\\\"type\\\":"
               "\\\"ex.Nowhere\\\"}]}\",\"references\":[{\"name\":\"ex.Dep\","
               "\"subject\":\"dep\",\"version\":1}]}");
    } else if (!strncmp(req, "GET /subjects/dep/versions/1 ", 29)) {
        answer(c, 200, s->dep_body);
    } else if (!strncmp(req, "GET /schemas/ids/12/versions ", 29)) {
        /* promises 40 bytes, sends a list that parses, and closes */
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 40\r\nConnection: close\r\n\r\n"
                    "[{\"subject\":\"a\",\"version\":1}]");
    } else if (!strncmp(req, "GET /schemas/ids/10 ", 20)) {
        /* a byte every 100 ms for 8 s: every recv returns in time, the answer never does */
        const char *drip = "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n";
        for (int i = 0; i < 80; i++) {
            char b[2] = {drip[i % (int)strlen(drip)], '\0'};
            if (send(c, b, 1, MSG_NOSIGNAL) != 1)
                break;
            usleep(100 * 1000);
        }
    } else {
        answer(c, 404, "{\"error_code\":40403,\"message\":\"Schema not found\"}");
    }
}

static void *serve(void *arg)
{
    server *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        serve_one(s, c);
        close(c);
    }
}

/* Starts the server on the loopback of family; 0 on success, -1 when that loopback is not
 * there (no IPv6 on the machine). */
static int server_start(server *s, int family)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->family = family;
    s->fd = socket(family, SOCK_STREAM, 0);
    if (s->fd < 0)
        return -1;
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*a);
    }
    if (bind(s->fd, (struct sockaddr *)&ss, sl) || listen(s->fd, 16) ||
        getsockname(s->fd, (struct sockaddr *)&ss, &sl)) {
        close(s->fd);
        return -1;
    }
    s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    /* about 40 KB of doc, so that keeping a copy per request shows in the heap */
    size_t doc = 40000;
    s->dep_body = malloc(doc + 512);
    int n = snprintf(s->dep_body, 512,
                     "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"Dep\\\","
                     "\\\"namespace\\\":\\\"ex\\\",\\\"fields\\\":[{\\\"name\\\":\\\"a\\\","
                     "\\\"type\\\":\\\"int\\\"}],\\\"doc\\\":\\\"");
    memset(s->dep_body + n, 'd', doc);
    strcpy(s->dep_body + n + doc, "\\\"}\"}");
    return pthread_create(&s->thread, NULL, serve, s) ? -1 : 0;
}

static void server_stop(server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
    free(s->dep_body);
    pthread_mutex_destroy(&s->mu);
}

static canon_registry *client_for(const server *s, int timeout_ms)
{
    char url[64];
    snprintf(url, sizeof(url), s->family == AF_INET6 ? "http://[::1]:%u" : "http://127.0.0.1:%u",
             s->port);
    canon_registry *c = NULL;
    cg_err *err = canon_registry_new(url, timeout_ms, &c);
    assert_null(err);
    return c;
}

static void test_registry_side_errors_are_io_errors(void **state)
{
    (void)state;
    server s;
    assert_int_equal(server_start(&s, AF_INET), 0);
    canon_registry *c = client_for(&s, 5000);
    const reg_schema *sc = NULL;
    cg_err *err = canon_registry_schema(c, 7, &sc);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EIO); /* not 50001 */
    assert_non_null(strstr(cg_err_msg(err), "HTTP 500, 50001"));
    cg_err_free(err);
    err = canon_registry_schema(c, 9, &sc);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EIO);
    cg_err_free(err);
    /* an answer about the request keeps the registry's own code */
    err = canon_registry_schema(c, 11, &sc);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_ESCHEMA_NOT_FOUND);
    cg_err_free(err);
    canon_registry_free(c);
    server_stop(&s);
}

static void test_a_broken_schema_does_not_keep_its_references(void **state)
{
    (void)state;
    if (UNDER_ASAN)
        skip(); /* the sanitizer's allocator does not report through mallinfo2 */
    server s;
    assert_int_equal(server_start(&s, AF_INET), 0);
    canon_registry *c = client_for(&s, 5000);
    const reg_schema *sc = NULL;
    cg_err *err = canon_registry_schema(c, 8, &sc);
    assert_non_null(err);
    assert_non_null(strstr(cg_err_msg(err), "ex.Nowhere"));
    cg_err_free(err);
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 40; i++) {
        err = canon_registry_schema(c, 8, &sc);
        assert_non_null(err);
        cg_err_free(err);
    }
    size_t after = mallinfo2().uordblks;
    /* kept, the 40 parses of the 40 KB reference would hold more than 1.6 MB */
    size_t grew = after > before ? after - before : 0;
    if (grew > 200000)
        fail_msg("40 failed fetches kept %zu bytes", grew);
    canon_registry_free(c);
    server_stop(&s);
}

static void test_the_timeout_bounds_the_whole_answer(void **state)
{
    (void)state;
    server s;
    assert_int_equal(server_start(&s, AF_INET), 0);
    canon_registry *c = client_for(&s, 1000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const reg_schema *sc = NULL;
    cg_err *err = canon_registry_schema(c, 10, &sc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(err);
    assert_int_equal(cg_err_code(err), CG_EIO);
    assert_non_null(strstr(cg_err_msg(err), "timed out"));
    cg_err_free(err);
    double s_taken = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* the drip lasts 8 s; a per-recv timeout waited all of it */
    if (s_taken > 6.0)
        fail_msg("a 1 s timeout took %.1f s", s_taken);
    canon_registry_free(c);
    server_stop(&s);
}

static void test_an_answer_cut_short_is_an_error(void **state)
{
    (void)state;
    server s;
    assert_int_equal(server_start(&s, AF_INET), 0);
    canon_registry *c = client_for(&s, 5000);
    int status = 0;
    json_t *body = NULL;
    cg_err *err =
        canon_registry_request(c, "GET", "/schemas/ids/12/versions", NULL, &status, &body);
    assert_non_null(err);
    assert_null(body);
    assert_int_equal(cg_err_code(err), CG_EIO);
    assert_non_null(strstr(cg_err_msg(err), "answer cut short"));
    cg_err_free(err);
    canon_registry_free(c);
    server_stop(&s);
}

static void test_an_ipv6_host_is_bracketed(void **state)
{
    (void)state;
    server s;
    if (server_start(&s, AF_INET6))
        skip(); /* no IPv6 loopback here */
    canon_registry *c = client_for(&s, 5000);
    const reg_schema *sc = NULL;
    cg_err *err = canon_registry_schema(c, 11, &sc);
    assert_non_null(err);
    cg_err_free(err);
    char want[64];
    snprintf(want, sizeof(want), "[::1]:%u", s.port);
    pthread_mutex_lock(&s.mu);
    assert_string_equal(s.last_host, want);
    pthread_mutex_unlock(&s.mu);
    canon_registry_free(c);
    server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_side_errors_are_io_errors),
        cmocka_unit_test(test_a_broken_schema_does_not_keep_its_references),
        cmocka_unit_test(test_the_timeout_bounds_the_whole_answer),
        cmocka_unit_test(test_an_answer_cut_short_is_an_error),
        cmocka_unit_test(test_an_ipv6_host_is_bracketed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
